from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectpsp.logs import redact


def test_redaction_masks_documents_tokens_secrets_and_signatures() -> None:
    text = redact(
        "payee 12345678909 cnpj 12ABC34501DE35 token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln "
        "secret cs_abcdefghijklmnopqrstuvwx sig " + "a" * 64
    )
    assert "12345678909" not in text
    assert "12ABC34501DE35" not in text
    assert "eyJ" not in text
    assert "cs_abcdefghijklmnop" not in text
    assert "a" * 64 not in text
    assert "[document]" in text and "[token]" in text and "[signature]" in text


def test_redaction_keeps_what_operators_need() -> None:
    kept = "request_id=2a917d79cf5f4f529dce428d23dac3be code=IVKPRMOCDY e2e=E00416968202611230740AbCdEfGhIjK"
    assert redact(kept) == kept


def test_a_log_line_is_one_line_whatever_a_path_holds() -> None:
    import json

    from connectpsp.logs import _render

    event = {"event": "request", "path": "/webhooks/a\u2028b\x85c\u00e9", "ms": 1.5}
    line = _render(None, "info", dict(event)).decode()
    [only] = line.splitlines()  # U+2028 and NEL are line breaks to str.splitlines()
    assert json.loads(only) == event


# Pieces that make each masked shape, or come close to one, joined at random.
_PIECES = st.sampled_from(
    [
        "1234567890",
        "9",
        "12ABC34501DE",
        "35",
        "eyJ",
        "abc",
        ".",
        "-",
        "_",
        "cs_",
        "whsec_",
        "at",
        "f" * 32,
        "0",
        " ",
        "/",
        "A",
        "Z",
        "x",
    ]
)


@given(st.lists(_PIECES, max_size=12).map("".join))
def test_redaction_with_its_quick_look_masks_as_the_four_masks_do(text: str) -> None:
    """``redact`` looks for any of the four shapes first and returns a text with none
    as it is: it must mask exactly as the four substitutions in turn."""
    from connectpsp import logs

    expected = logs._JWT.sub("[token]", text)
    expected = logs._SECRET.sub(r"\1_[secret]", expected)
    expected = logs._HEX_SIGNATURE.sub("[signature]", expected)
    assert redact(text) == logs._DOCUMENT.sub("[document]", expected)


def test_the_timestamp_is_utc_iso_8601_to_the_microsecond(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each second's text is made once (``_timestamp``); a line in the next second gets
    the next one, and the microseconds always have six digits."""
    import time

    from connectpsp import logs

    moments = iter([1_796_565_599_999_999_000, 1_796_565_600_000_042_000])
    monkeypatch.setattr(time, "time_ns", lambda: next(moments))
    stamps = [logs._timestamp(None, "info", {})["timestamp"] for _ in range(2)]
    assert stamps == ["2026-12-06T13:59:59.999999Z", "2026-12-06T14:00:00.000042Z"]
    assert [datetime.fromisoformat(s) for s in stamps] == [
        datetime(2026, 12, 6, 13, 59, 59, 999999, UTC),
        datetime(2026, 12, 6, 14, 0, 0, 42, UTC),
    ]
