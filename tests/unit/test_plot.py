"""The bench's PNG line plot (``bench/plot.py``, the growth curve's): a real decoder
(Pillow) reads what it writes, and the points land where their values say."""

from __future__ import annotations

import io

import pytest
from bench.plot import (
    CHAR_H,
    FONT,
    Panel,
    Series,
    encode_png,
    fmt_tick,
    nice_ticks,
    render,
)
from PIL import Image

BLUE, RED = (31, 119, 180), (214, 39, 40)


def decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()  # checks every chunk's CRC and the compressed data
    return image.convert("RGB")


def test_encode_png_writes_what_a_decoder_reads_back() -> None:
    width, height = 7, 3
    pixels = bytes(
        channel for y in range(height) for x in range(width) for channel in (x * 30, y * 80, 200)
    )
    image = decode(encode_png(width, height, pixels))
    assert image.size == (width, height)
    assert image.getpixel((0, 0)) == (0, 0, 200)
    assert image.getpixel((6, 2)) == (180, 160, 200)
    assert image.getpixel((3, 1)) == (90, 80, 200)


def test_encode_png_refuses_pixels_that_do_not_fill_the_image() -> None:
    with pytest.raises(ValueError, match="width x height"):
        encode_png(2, 2, bytes(11))


@pytest.mark.parametrize(
    ("top", "ticks"),
    [
        (5_000_000, [0, 1_000_000, 2_000_000, 3_000_000, 4_000_000, 5_000_000]),
        (870, [0, 200, 400, 600, 800, 1000]),
        (11, [0, 2.5, 5, 7.5, 10, 12.5]),
        (0, [0, 1]),
        (float("nan"), [0, 1]),
    ],
)
def test_ticks_start_at_zero_and_reach_the_top_on_a_round_step(
    top: float, ticks: list[float]
) -> None:
    assert nice_ticks(top) == pytest.approx(ticks)


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0"), (250, "250"), (1500, "1.5k"), (1_000_000, "1M"), (2_500_000, "2.5M"), (0.5, "0.5")],
)
def test_ticks_read_short(value: float, text: str) -> None:
    assert fmt_tick(value) == text


def test_every_glyph_is_five_pixels_wide_and_seven_tall_with_descenders_below() -> None:
    descenders = set("gjpqy")
    for char, rows in FONT.items():
        assert all(len(row) == 5 and set(row) <= {"0", "1"} for row in rows), char
        assert len(rows) == (9 if char in descenders else 7), char
    # Enough to label an axis: every letter and digit.
    assert set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789%/().") <= set(FONT)


def _pixels_of(image: Image.Image, color: tuple[int, int, int], x0: int, x1: int) -> list[int]:
    """The rows at which ``color`` appears between columns x0 and x1, below the title."""
    return [
        y for x in range(x0, x1) for y in range(60, image.height) if image.getpixel((x, y)) == color
    ]


def test_a_curve_rises_and_falls_with_its_values_in_each_panel() -> None:
    rising = Series("SQLite", ((0, 100.0), (5_000_000, 800.0)), BLUE)
    falling = Series("PostgreSQL", ((0, 30.0), (5_000_000, 5.0)), RED)
    image = decode(
        render(
            [Panel("rate", (rising,)), Panel("p99 ms", (falling,))],
            title="growth",
            x_label="cash-outs preloaded",
        )
    )
    assert image.size == (960, 400)
    # Each series only in its own panel (the legend sits on the title's line, above).
    assert _pixels_of(image, BLUE, 0, 480) and not _pixels_of(image, BLUE, 480, 960)
    assert _pixels_of(image, RED, 480, 960) and not _pixels_of(image, RED, 0, 480)
    # The panel's plot area spans x 92..456: its start and its end.
    left, right = _pixels_of(image, BLUE, 88, 100), _pixels_of(image, BLUE, 448, 460)
    assert min(left) > max(right)  # rising: higher on the right (y grows downwards)
    left, right = _pixels_of(image, RED, 568, 580), _pixels_of(image, RED, 928, 940)
    assert max(left) < min(right)


def test_the_legend_names_each_series_in_its_color_on_the_title_line() -> None:
    image = decode(
        render(
            [Panel("rate", (Series("A", ((0, 1.0),), BLUE), Series("B", ((0, 2.0),), RED)))],
            title="t",
            x_label="x",
        )
    )
    title_line = [
        image.getpixel((x, y)) for x in range(image.width) for y in range(10, 10 + CHAR_H)
    ]
    assert BLUE in title_line and RED in title_line
