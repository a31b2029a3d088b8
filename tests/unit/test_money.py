from decimal import Decimal

import pytest

from connectpsp.domain.money import MAX_CENTAVOS, format_brl, parse_amount, to_decimal


@pytest.mark.parametrize(
    ("given", "centavos"),
    [
        (Decimal("50.00"), 5000),
        (Decimal("50"), 5000),
        (Decimal("0.01"), 1),
        (Decimal("50.10"), 5010),
        (Decimal("50.500"), 5050),  # trailing zero beyond two places is still exact
        (7, 700),
        ("50.00", 5000),
        ("0.3", 30),
        ("1234567.89", 123456789),
        (Decimal("10000000000000.00"), 10**15),  # the largest amount
        (Decimal("1." + "0" * 40), 100),  # more digits than the context's precision
    ],
)
def test_parses_exactly(given, centavos):
    assert parse_amount(given) == centavos


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (Decimal("50.005"), "at most 2 decimal places"),
        ("50.005", "at most 2 decimal places"),
        (50.0, "decimal number"),  # floats never touch money
        (True, "decimal number"),
        (Decimal("0"), "greater than 0"),
        (Decimal("-1.00"), "greater than 0"),
        ("", "decimal number"),
        (" 5.00", "decimal number"),
        ("1e3", "decimal number"),
        ("NaN", "decimal number"),
        (Decimal("Infinity"), "finite"),
        (None, "decimal number"),
        ("10000000000000.01", "too large"),
        # Beyond the decimal context: quantize would raise InvalidOperation, * 100 Overflow.
        (Decimal("123456789012345678901234567890.123"), "too large"),
        (Decimal("1e999999"), "too large"),
        (Decimal("-1e999999"), "greater than 0"),
        (Decimal("1e-999999"), "at most 2 decimal places"),
        (Decimal("1" + "0" * 40 + ".00"), "too large"),
        ("+5", "decimal number"),
        (".5", "decimal number"),
        ("5.", "decimal number"),
        ("050.00", "decimal number"),
        ("-1.00", "decimal number"),
        ("50.500", "at most 2 decimal places"),  # a string is written as documented
        ("5,00", "decimal number"),
        ("\u0665\u0660", "decimal number"),  # Arabic-Indic 50: str.isdigit() says yes
    ],
)
def test_rejects(given, message):
    with pytest.raises(ValueError, match=message):
        parse_amount(given)


def test_formats_exactly():
    assert str(to_decimal(5000)) == "50.00"
    assert str(to_decimal(1)) == "0.01"


@pytest.mark.parametrize("centavos", [0, 1, 10, 99, 100, 5000, -5, -100_000, MAX_CENTAVOS])
def test_to_decimal_always_has_two_places_and_reads_back(centavos):
    written = to_decimal(centavos)
    assert written.as_tuple().exponent == -2
    assert written * 100 == centavos
    if centavos > 0:  # an amount a client may send
        assert parse_amount(str(written)) == centavos


@pytest.mark.parametrize(
    ("centavos", "written"),
    [
        (0, "R$ 0,00"),
        (1, "R$ 0,01"),
        (99_999, "R$ 999,99"),
        (100_000, "R$ 1.000,00"),
        (123_456, "R$ 1.234,56"),
        (100_000_000, "R$ 1.000.000,00"),
        (MAX_CENTAVOS, "R$ 10.000.000.000.000,00"),
        (-5, "-R$ 0,05"),
        (-100_000, "-R$ 1.000,00"),
    ],
)
def test_format_brl_writes_reais_as_brazil_does(centavos, written):
    # Dots group the thousands and a comma marks the centavos, whatever the locale.
    assert format_brl(centavos) == written
