"""Money is an ``int`` number of centavos (1/100 of a real). Floats never touch it.

Amounts cross the edge as decimal numbers with at most two places ("50.00", 50.00);
they are parsed here exactly and formatted back exactly.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

__all__ = ["Centavos", "format_brl", "parse_amount", "parse_amount_or_zero", "to_decimal"]

Centavos = int
_CENT = Decimal("0.01")
# Far above any real Pix amount, and well inside a signed 64-bit column.
MAX_CENTAVOS: Centavos = 10**15
# The largest power of ten an amount in reais may have (MAX_CENTAVOS is 10**13 reais).
_MAX_ADJUSTED = 13
# A string amount, as the API documents it: no sign, no leading zeros, 0-2 places.
_DECIMAL_TEXT = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]{1,2})?", re.ASCII)
_TOO_PRECISE_TEXT = re.compile(r"(0|[1-9][0-9]*)\.[0-9]{3,}", re.ASCII)


def parse_amount(value: object) -> Centavos:
    """Parse a positive amount in reais into centavos, exactly.

    Accepts an ``int``, a ``Decimal`` (what the JSON decoder gives for numbers) or a
    decimal string such as ``"50.00"``. Rejects floats, booleans, more than two decimal
    places, and anything not greater than zero. A number's trailing zeros are exact and
    allowed (``50.500``); a string must be written as documented (``"50.50"``).
    Raises ``ValueError`` with a user-facing message.
    """
    if isinstance(value, (bool, float)):
        raise ValueError("must be a decimal number with at most 2 decimal places")
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        if _DECIMAL_TEXT.fullmatch(value) is None:
            if _TOO_PRECISE_TEXT.fullmatch(value):
                raise ValueError("must have at most 2 decimal places")
            raise ValueError("must be a decimal number such as 50.00")
        try:
            number = Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
            raise ValueError("must be a decimal number such as 50.00") from None
    else:
        raise ValueError("must be a decimal number such as 50.00")
    if not number.is_finite():
        raise ValueError("must be a finite number")
    try:
        return _centavos(number)
    except ArithmeticError:  # pragma: no cover - _centavos bounds its arithmetic first
        raise ValueError("must be a decimal number such as 50.00") from None


def parse_amount_or_zero(text: str) -> Centavos:
    """An amount in reais typed by an operator, 0 allowed (a fee, a limit), exactly:
    ``0.07`` is 7 centavos, ``50.005`` is refused, never rounded. ``ValueError`` says what
    is wrong. The CLI's options and the console's forms read amounts with it."""
    text = text.strip()
    if text in ("0", "0.0", "0.00"):
        return 0
    return parse_amount(text)


def _centavos(number: Decimal) -> Centavos:
    """A finite ``Decimal`` as centavos. The size is checked before any arithmetic, so
    ``quantize`` and ``* 100`` stay far inside the context's precision and exponent range
    (``1e999999`` would overflow it, a 30-digit amount would exceed its precision)."""
    if number <= 0:
        raise ValueError("must be greater than 0")
    if number.adjusted() > _MAX_ADJUSTED:
        raise ValueError("is too large")
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # finite numbers have an int exponent
    exact = number.quantize(_CENT)
    if exponent < -2 and number != exact:
        raise ValueError("must have at most 2 decimal places")
    centavos = int(exact * 100)
    if centavos > MAX_CENTAVOS:
        raise ValueError("is too large")
    return centavos


def to_decimal(centavos: Centavos) -> Decimal:
    """Centavos as a ``Decimal`` with exactly two places (5000 -> Decimal('50.00')): the
    same digits with the exponent -2, exact, in a third of a division and quantize's time."""
    return Decimal(centavos).scaleb(-2)


def format_brl(centavos: Centavos) -> str:
    """Human formatting for operators and CLIs, as Brazil writes reais (dots group the
    thousands, a comma marks the centavos): 1000000 -> 'R$ 10.000,00'. Never the
    locale's, so the output is the same on every machine."""
    sign = "-" if centavos < 0 else ""
    reais, cents = divmod(abs(centavos), 100)
    return f"{sign}R$ {reais:,}".replace(",", ".") + f",{cents:02d}"
