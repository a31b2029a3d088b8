"""A BR Code drawn as a QR code, as PNG or SVG, for a payer's phone to scan.

The text goes in byte mode as UTF-8 with no ECI header (many readers do not support ECI,
as segno's documentation warns), so a payer's app reads back the very bytes of
``brCode``, accents in a description included. Error correction is at least level M
(15% of the symbol may be lost): BCB's manuals, as far as we found, name no level, and M
is the usual one for payment codes (the Swiss QR-bill requires it); segno raises it to Q
or H when that costs no extra module. Four light modules of quiet zone surround the
symbol, as ISO/IEC 18004 asks. Both renderings are deterministic, the same text giving the
same bytes, so a response can carry an ETag."""

from __future__ import annotations

import io

import segno

SCALE = 8  # pixels a module: a BR Code of 130 to 240 bytes is 456 to 552 px wide
BORDER = 4  # modules of quiet zone
TITLE = "Pix QR code"  # the SVG's accessible name


def png(text: str) -> bytes:
    """``text`` as a black-on-white PNG, ``SCALE`` pixels per module."""
    out = io.BytesIO()
    _symbol(text).save(out, kind="png", scale=SCALE, border=BORDER, dark="#000", light="#fff")
    return out.getvalue()


def svg(text: str) -> bytes:
    """``text`` as a UTF-8 SVG document with a ``<title>``, a white background (readable
    on a dark page) and a ``viewBox``, so that it scales when a page resizes it."""
    out = io.BytesIO()
    _symbol(text).save(
        out,
        kind="svg",
        scale=SCALE,
        border=BORDER,
        dark="#000",
        light="#fff",
        unit="px",  # width, height and a viewBox
        title=TITLE,
    )
    return out.getvalue()


def _symbol(text: str) -> segno.QRCode:
    return segno.make_qr(
        text, error="m", mode="byte", encoding="utf-8", eci=False, boost_error=True
    )
