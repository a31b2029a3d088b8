"""The QR images of a BR Code, read back by a real decoder (zxing-cpp): each gives the
BR Code's UTF-8 bytes exactly. The PNG is read with Pillow; the SVG is first rasterised
by resvg, a renderer that needs no system library. Then the shape of each file: a PNG of
at least 8 pixels a module with a 4-module quiet zone, a well-formed SVG with a title;
and the same text gives the same bytes in another process."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
import resvg_py
import zxingcpp
from PIL import Image

from connectpsp.api import qrcode
from connectpsp.brcode import encode
from tests.unit.test_brcode import (
    BCB_COMPOSITE,
    BCB_DYNAMIC,
    BCB_STATIC,
    STARK_DYNAMIC,
    STONE_DESCRIPTION,
)

WITH_ACCENTS = encode(
    merchant_name="Padaria São João",
    merchant_city="São Paulo",
    pix_key="padaria@example.com",
    amount=12_50,
    description="Pão de açúcar, 2 pães",
    txid="PEDIDO42",
)
# The most our encoder writes into a static code: every field at its limit, and a
# description whose accents make it two bytes a letter (field 26 holds 99 bytes).
LARGEST = encode(
    merchant_name="N" * 30,
    merchant_city="C" * 20,
    pix_key="+5511999999999",
    amount=9_999_999_999_99,  # "9999999999.99", 13 characters
    description="ç" * 29 + "!",  # 59 bytes: field 26 is then 99
    txid="T" * 25,
)
CODES = [
    pytest.param(BCB_STATIC, id="bcb-static"),
    pytest.param(BCB_DYNAMIC, id="bcb-dynamic"),
    pytest.param(STARK_DYNAMIC, id="stark-dynamic"),
    pytest.param(STONE_DESCRIPTION, id="stone-description"),
    pytest.param(BCB_COMPOSITE, id="bcb-composite-longest-published"),
    pytest.param(WITH_ACCENTS, id="utf8-description"),
    pytest.param(LARGEST, id="largest-we-encode"),
]
SVG = "{http://www.w3.org/2000/svg}"


def read_qr(image_png: bytes) -> zxingcpp.Barcode:
    """The one QR code in the image; its ``text`` is the symbology identifier, any ECI
    designators and the bytes, in hex."""
    found = zxingcpp.read_barcodes(
        Image.open(io.BytesIO(image_png)),
        formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode),
        text_mode=zxingcpp.TextMode.HexECI,
    )
    assert len(found) == 1
    assert found[0].valid
    return found[0]


def rasterise(svg: bytes) -> bytes:
    return bytes(resvg_py.svg_to_bytes(svg_string=svg.decode("utf-8")))


def test_the_vectors_are_what_they_claim() -> None:
    assert len(BCB_COMPOSITE) == 225
    assert len(WITH_ACCENTS.encode()) > len(WITH_ACCENTS)  # not ASCII
    assert len(LARGEST.encode()) > len(BCB_COMPOSITE.encode())


@pytest.mark.parametrize("text", CODES)
def test_the_png_decodes_to_the_same_bytes(text: str) -> None:
    barcode = read_qr(qrcode.png(text))
    assert barcode.bytes == text.encode("utf-8")
    # "]Q1": the bytes follow with no ECI designator ("]Q2\\000026" would be one).
    assert bytes.fromhex(barcode.text) == b"]Q1" + text.encode("utf-8")
    assert barcode.ec_level in {"M", "Q", "H"}


@pytest.mark.parametrize("text", CODES)
def test_the_svg_decodes_to_the_same_bytes(text: str) -> None:
    barcode = read_qr(rasterise(qrcode.svg(text)))
    assert barcode.bytes == text.encode("utf-8")
    assert barcode.ec_level in {"M", "Q", "H"}


@pytest.mark.parametrize("text", [BCB_STATIC, LARGEST])
def test_the_png_has_8_pixels_a_module_and_a_4_module_quiet_zone(text: str) -> None:
    image_png = qrcode.png(text)
    opened = Image.open(io.BytesIO(image_png))
    assert opened.format == "PNG"
    opened.verify()
    image = Image.open(io.BytesIO(image_png)).convert("L")
    width, height = image.size
    extra = read_qr(image_png).extra
    assert isinstance(extra, dict)
    modules = 17 + 4 * int(extra["Version"])
    assert width == height == (modules + 2 * 4) * 8
    # Across the top-left finder pattern: 4 light modules, then 7 dark ones.
    row = [image.getpixel((x, 4 * 8 + 3)) for x in range(width)]
    assert row[: 4 * 8] == [255] * 32
    assert row[4 * 8 : 11 * 8] == [0] * 56
    assert row[11 * 8] == 255


def test_the_svg_is_well_formed_titled_and_scalable() -> None:
    document = qrcode.svg(WITH_ACCENTS)
    root = ET.fromstring(document)
    assert root.tag == f"{SVG}svg"
    assert root.findtext(f"{SVG}title") == "Pix QR code"
    size = int(root.attrib["width"].removesuffix("px"))
    assert root.attrib["height"] == f"{size}px"
    assert root.attrib["viewBox"] == f"0 0 {size} {size}"
    assert Image.open(io.BytesIO(rasterise(document))).size == (size, size)
    assert Image.open(io.BytesIO(qrcode.png(WITH_ACCENTS))).size == (size, size)


def test_the_svg_has_a_white_background_for_dark_pages() -> None:
    rendered = Image.open(io.BytesIO(rasterise(qrcode.svg(BCB_STATIC)))).convert("RGBA")
    assert rendered.getpixel((0, 0)) == (255, 255, 255, 255)


def test_the_same_text_gives_the_same_bytes_in_another_process() -> None:
    """Nothing hangs on time or on the per-process hash seed, so an ETag may be the
    image's digest."""
    program = (
        "import hashlib, sys\n"
        "from connectpsp.api import qrcode\n"
        "text = sys.argv[1]\n"
        "print(hashlib.sha256(qrcode.png(text)).hexdigest(),"
        " hashlib.sha256(qrcode.svg(text)).hexdigest())\n"
    )
    ours = (
        f"{hashlib.sha256(qrcode.png(WITH_ACCENTS)).hexdigest()} "
        f"{hashlib.sha256(qrcode.svg(WITH_ACCENTS)).hexdigest()}"
    )
    for seed in ("1", "2"):
        theirs = subprocess.run(
            [sys.executable, "-c", program, WITH_ACCENTS],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert theirs == ours
