"""The bench's turns (``bench/turns.py``): an arm's ratios, with its worker and without."""

from __future__ import annotations

from typing import Any, cast

from bench.turns import Arm


def _arm(**fields: Any) -> Arm:
    return Arm(server=cast(Any, None), callers=(), **fields)


def test_an_arm_without_a_receiver_has_no_whole_path() -> None:
    """``bench.versus`` without ``--worker`` formats every arm's whole path: there is none
    to give, and it must not fail for it."""
    assert _arm(rates=[500.0, 520.0]).whole_path == "-"


def test_an_arm_with_a_receiver_gives_the_median_of_its_turns_ratios() -> None:
    arm = _arm(rates=[500.0, 400.0, 100.0], whole_rates=[450.0, 400.0, 50.0])
    assert arm.whole_path == "0.90x"
