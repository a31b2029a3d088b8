from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectpsp.bootstrap import Container, build
from connectpsp.settings import Settings
from tests.support import FakeClock


@pytest.fixture(scope="module")
def container(db_settings: Settings) -> Iterator[Container]:
    built = build(db_settings, clock=FakeClock())
    yield built
    built.close()
