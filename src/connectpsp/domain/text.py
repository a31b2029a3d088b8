"""What text ConnectPSP accepts from a client: one rule for every string of a request.

A string may not hold
- control characters: C0 (U+0000-U+001F, tab and newlines included), DEL and C1
  (U+0080-U+009F). PostgreSQL cannot store NUL, and the others break logs, CSV and the
  single-line fields a payer is shown;
- bidirectional controls (U+200E, U+200F, U+061C, U+202A-U+202E, U+2066-U+2069): they
  reorder what a reader sees, so a payee name could show one name and be another;
- line and paragraph separators (U+2028, U+2029), which split lines for some readers;
- lone surrogates (U+D800-U+DFFF), which are not characters and cannot be stored as UTF-8.

Accepted text is normalised to NFC, so two spellings of one name ("e" + combining acute,
and "é") are one name, stored and compared alike.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["TEXT_RULE", "clean_text"]

TEXT_RULE = (
    "must not contain control characters, bidirectional controls, line separators or "
    "lone surrogates"
)
_FORBIDDEN = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def clean_text(value: str) -> str:
    """``value`` in NFC; ``ValueError`` (with ``TEXT_RULE``) if it holds a forbidden
    character."""
    if value.isascii() and value.isprintable():  # the common case, decided in C
        return value
    if _FORBIDDEN.search(value):
        raise ValueError(TEXT_RULE)
    return unicodedata.normalize("NFC", value)
