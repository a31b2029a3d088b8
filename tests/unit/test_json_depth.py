"""The nesting limit of request bodies, checked before parsing: a body is refused exactly
when its objects and arrays nest deeper than ``MAX_DEPTH``, whatever brackets, quotes
and backslashes its strings hold."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectpsp.api.jsonio import MAX_DEPTH, InvalidJson, decode

TRICKY = st.text(alphabet='[]{}"\\ab', max_size=12)
LEAVES = st.one_of(TRICKY, st.integers(-5, 5), st.booleans(), st.none())


def depth_of(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    return 0


@st.composite
def nested(draw: st.DrawFn) -> Any:
    """A value ``MAX_DEPTH`` - 3 to ``MAX_DEPTH`` + 3 levels deep, strings on the way."""
    value: Any = draw(LEAVES)
    for _ in range(draw(st.integers(MAX_DEPTH - 3, MAX_DEPTH + 3))):
        beside = draw(st.lists(LEAVES, max_size=2))
        if draw(st.booleans()):
            value = [*beside, value]
        else:
            value = {draw(TRICKY): value, **{f"k{n}": v for n, v in enumerate(beside)}}
    return value


@given(nested())
def test_a_body_is_refused_exactly_when_it_nests_too_deep(value: Any) -> None:
    body = json.dumps(value).encode()
    if depth_of(value) > MAX_DEPTH:
        with pytest.raises(InvalidJson, match="nests deeper"):
            decode(body)
    else:
        assert decode(body) == value
