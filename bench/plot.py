"""A small line plot as a PNG, with the standard library only (``zlib`` and ``struct``):
the bench draws its growth curve (``bench.growth``) without a plotting dependency.

One image holds panels side by side; each panel has its y axis (from 0: a ratio reads
true), the shared x axis's ticks and label, and a line with square markers per series.
Text is a 5x7 bitmap font drawn at twice its size.
"""

from __future__ import annotations

import itertools
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Panel", "Series", "encode_png", "fmt_tick", "nice_ticks", "render"]

Color = tuple[int, int, int]

WHITE: Color = (255, 255, 255)
BLACK: Color = (0, 0, 0)
GRID: Color = (225, 225, 225)


@dataclass(frozen=True)
class Series:
    label: str
    points: tuple[tuple[float, float], ...]  # (x, y), drawn in x order
    color: Color


@dataclass(frozen=True)
class Panel:
    y_label: str
    series: tuple[Series, ...]


# Each glyph: seven rows of five pixels, "1" drawn; a descender has two rows more, below.
_FONT_ROWS = {
    " ": "00000 00000 00000 00000 00000 00000 00000",
    "0": "01110 10001 10011 10101 11001 10001 01110",
    "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111",
    "3": "11111 00010 00100 00010 00001 10001 01110",
    "4": "00010 00110 01010 10010 11111 00010 00010",
    "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110",
    "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110",
    "9": "01110 10001 10001 01111 00001 00010 01100",
    "A": "01110 10001 10001 11111 10001 10001 10001",
    "B": "11110 10001 10001 11110 10001 10001 11110",
    "C": "01110 10001 10000 10000 10000 10001 01110",
    "D": "11100 10010 10001 10001 10001 10010 11100",
    "E": "11111 10000 10000 11110 10000 10000 11111",
    "F": "11111 10000 10000 11110 10000 10000 10000",
    "G": "01110 10001 10000 10111 10001 10001 01111",
    "H": "10001 10001 10001 11111 10001 10001 10001",
    "I": "01110 00100 00100 00100 00100 00100 01110",
    "J": "00111 00010 00010 00010 00010 10010 01100",
    "K": "10001 10010 10100 11000 10100 10010 10001",
    "L": "10000 10000 10000 10000 10000 10000 11111",
    "M": "10001 11011 10101 10101 10001 10001 10001",
    "N": "10001 10001 11001 10101 10011 10001 10001",
    "O": "01110 10001 10001 10001 10001 10001 01110",
    "P": "11110 10001 10001 11110 10000 10000 10000",
    "Q": "01110 10001 10001 10001 10101 10010 01101",
    "R": "11110 10001 10001 11110 10100 10010 10001",
    "S": "01111 10000 10000 01110 00001 00001 11110",
    "T": "11111 00100 00100 00100 00100 00100 00100",
    "U": "10001 10001 10001 10001 10001 10001 01110",
    "V": "10001 10001 10001 10001 10001 01010 00100",
    "W": "10001 10001 10001 10101 10101 10101 01010",
    "X": "10001 10001 01010 00100 01010 10001 10001",
    "Y": "10001 10001 10001 01010 00100 00100 00100",
    "Z": "11111 00001 00010 00100 01000 10000 11111",
    "a": "00000 00000 01110 00001 01111 10001 01111",
    "b": "10000 10000 10110 11001 10001 10001 11110",
    "c": "00000 00000 01110 10000 10000 10001 01110",
    "d": "00001 00001 01101 10011 10001 10001 01111",
    "e": "00000 00000 01110 10001 11111 10000 01110",
    "f": "00110 01001 01000 11100 01000 01000 01000",
    "g": "00000 00000 01111 10001 10001 10001 01111 00001 01110",
    "h": "10000 10000 10110 11001 10001 10001 10001",
    "i": "00100 00000 01100 00100 00100 00100 01110",
    "j": "00010 00000 00110 00010 00010 00010 00010 10010 01100",
    "k": "10000 10000 10010 10100 11000 10100 10010",
    "l": "01100 00100 00100 00100 00100 00100 01110",
    "m": "00000 00000 11010 10101 10101 10001 10001",
    "n": "00000 00000 10110 11001 10001 10001 10001",
    "o": "00000 00000 01110 10001 10001 10001 01110",
    "p": "00000 00000 11110 10001 10001 10001 11110 10000 10000",
    "q": "00000 00000 01111 10001 10001 10001 01111 00001 00001",
    "r": "00000 00000 10110 11001 10000 10000 10000",
    "s": "00000 00000 01110 10000 01110 00001 11110",
    "t": "01000 01000 11100 01000 01000 01001 00110",
    "u": "00000 00000 10001 10001 10001 10011 01101",
    "v": "00000 00000 10001 10001 10001 01010 00100",
    "w": "00000 00000 10001 10001 10101 10101 01010",
    "x": "00000 00000 10001 01010 00100 01010 10001",
    "y": "00000 00000 10001 10001 10001 10001 01111 00001 01110",
    "z": "00000 00000 11111 00010 00100 01000 11111",
    ".": "00000 00000 00000 00000 00000 01100 01100",
    ",": "00000 00000 00000 00000 01100 00100 01000",
    ":": "00000 01100 01100 00000 01100 01100 00000",
    "/": "00000 00001 00010 00100 01000 10000 00000",
    "%": "11000 11001 00010 00100 01000 10011 00011",
    "(": "00010 00100 01000 01000 01000 00100 00010",
    ")": "01000 00100 00010 00010 00010 00100 01000",
    "-": "00000 00000 00000 11111 00000 00000 00000",
    "+": "00000 00100 00100 11111 00100 00100 00000",
    "=": "00000 00000 11111 00000 11111 00000 00000",
    "_": "00000 00000 00000 00000 00000 00000 11111",
    "?": "01110 10001 00001 00010 00100 00000 00100",
}
FONT: dict[str, tuple[str, ...]] = {c: tuple(rows.split()) for c, rows in _FONT_ROWS.items()}
_SCALE = 2  # font pixels per glyph pixel
CHAR_W = 6 * _SCALE  # a glyph and a column of space
CHAR_H = 7 * _SCALE


class _Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(WHITE) * (width * height))

    def dot(self, x: int, y: int, color: Color) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            at = (y * self.width + x) * 3
            self.pixels[at : at + 3] = bytes(color)

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        """Fills the box from (x0, y0) to (x1, y1), both included."""
        for y in range(max(0, min(y0, y1)), min(self.height, max(y0, y1) + 1)):
            for x in range(max(0, min(x0, x1)), min(self.width, max(x0, x1) + 1)):
                self.dot(x, y, color)

    def line(self, x0: int, y0: int, x1: int, y1: int, color: Color, width: int = 1) -> None:
        """Bresenham's line, drawn with a square brush ``width`` pixels wide."""
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        lo, hi = -((width - 1) // 2), width // 2
        while True:
            self.rect(x0 + lo, y0 + lo, x0 + hi, y0 + hi, color)
            if x0 == x1 and y0 == y1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err, x0 = err + dy, x0 + sx
            if e2 <= dx:
                err, y0 = err + dx, y0 + sy

    def text(self, x: int, y: int, words: str, color: Color = BLACK) -> None:
        """``words`` with their top left at (x, y); an unknown character draws as "?"."""
        for n, char in enumerate(words):
            rows = FONT.get(char, FONT["?"])
            left = x + n * CHAR_W
            for row, bits in enumerate(rows):
                for col, bit in enumerate(bits):
                    if bit == "1":
                        px, py = left + col * _SCALE, y + row * _SCALE
                        self.rect(px, py, px + _SCALE - 1, py + _SCALE - 1, color)


def text_width(words: str) -> int:
    return len(words) * CHAR_W - _SCALE


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Ticks from 0 to at least ``top``, about ``count`` of them, on a 1-2-5 step."""
    if top <= 0 or not math.isfinite(top):
        return [0.0, 1.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [n * step for n in range(math.ceil(top / step - 1e-9) + 1)]


def fmt_tick(value: float) -> str:
    """0, 250, 1.5k, 2M: short enough for an axis."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def encode_png(width: int, height: int, rgb: bytes) -> bytes:
    """An 8-bit RGB PNG of ``rgb`` (rows top to bottom, three bytes a pixel)."""
    if len(rgb) != width * height * 3:
        raise ValueError("rgb must hold width x height pixels")
    stride = width * 3
    # Each row starts with its filter type: 0, none.
    raw = b"".join(b"\x00" + rgb[y * stride : (y + 1) * stride] for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


_PANEL_W, _HEIGHT = 480, 400
_LEFT, _RIGHT, _TOP, _BOTTOM = 92, 24, 64, 78  # margins around each panel's plot area


def render(panels: Sequence[Panel], *, title: str, x_label: str) -> bytes:
    """The panels side by side, as a PNG: a title above, the x label under each."""
    canvas = _Canvas(_PANEL_W * len(panels), _HEIGHT)
    canvas.text(12, 10, title)
    xs = [x for p in panels for s in p.series for x, _ in s.points]
    x_ticks = nice_ticks(max(xs, default=0.0), 5)
    for n, panel in enumerate(panels):
        _draw_panel(canvas, n * _PANEL_W, panel, x_ticks, x_label)
    # One legend, on the title's line at the right: the panels share their series.
    right = canvas.width - 12
    for series in reversed(panels[0].series if panels else ()):
        right -= text_width(series.label)
        canvas.text(right, 10, series.label)
        right -= 30
        canvas.line(right, 10 + CHAR_H // 2, right + 22, 10 + CHAR_H // 2, series.color, 3)
        right -= 24
    return encode_png(canvas.width, canvas.height, bytes(canvas.pixels))


def _draw_panel(
    canvas: _Canvas, left: int, panel: Panel, x_ticks: list[float], x_label: str
) -> None:
    x0, x1 = left + _LEFT, left + _PANEL_W - _RIGHT
    y0, y1 = _HEIGHT - _BOTTOM, _TOP  # y grows downwards: y0 is the axis
    ys = [y for s in panel.series for _, y in s.points if math.isfinite(y)]
    y_ticks = nice_ticks(max(ys, default=0.0) * 1.1, 5)
    x_top, y_top = x_ticks[-1], y_ticks[-1]

    def at(x: float, y: float) -> tuple[int, int]:
        return (
            round(x0 + (x1 - x0) * x / x_top),
            round(y0 - (y0 - y1) * min(y, y_top) / y_top),
        )

    canvas.text(left + 12, y1 - CHAR_H - 10, panel.y_label)
    for tick in y_ticks:
        _, y = at(0, tick)
        canvas.line(x0, y, x1, y, GRID)
        words = fmt_tick(tick)
        canvas.text(x0 - 8 - text_width(words), y - CHAR_H // 2, words)
    for tick in x_ticks:
        x, _ = at(tick, 0)
        canvas.line(x, y0, x, y0 + 5, BLACK)
        words = fmt_tick(tick)
        canvas.text(x - text_width(words) // 2, y0 + 10, words)
    canvas.line(x0, y0, x1, y0, BLACK)
    canvas.line(x0, y0, x0, y1, BLACK)
    canvas.text((x0 + x1 - text_width(x_label)) // 2, y0 + 14 + CHAR_H, x_label)
    for series in panel.series:
        points = [at(x, y) for x, y in sorted(series.points) if math.isfinite(y)]
        for (ax, ay), (bx, by) in itertools.pairwise(points):
            canvas.line(ax, ay, bx, by, series.color, width=3)
        for px, py in points:
            canvas.rect(px - 4, py - 4, px + 4, py + 4, series.color)
