"""Percentiles and the formatting of figures."""

from __future__ import annotations

import math

__all__ = ["fmt_ms", "fmt_rate", "percentile", "percentiles_ms"]


def percentile(values: list[int], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; NaN if there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])


def percentiles_ms(latencies_us: list[int]) -> str:
    """``p50 / p99 / p99.9`` in milliseconds."""
    ordered = sorted(latencies_us)
    parts = [fmt_ms(percentile(ordered, q) / 1000) for q in (50, 99, 99.9)]
    return f"{parts[0]} / {parts[1]} / {parts[2]} ms"


def fmt_ms(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}"
