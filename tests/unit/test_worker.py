import threading
import time
from datetime import timedelta

from connectpsp.worker.runner import Worker, every


def test_every_runs_a_step_at_most_once_per_interval() -> None:
    calls: list[int] = []

    def step() -> int:
        calls.append(1)
        return 5

    hourly = every(timedelta(hours=1), step)
    assert hourly() == 5  # the first call runs it
    assert hourly() == 0  # and the next hour's do not
    assert calls == [1]


def test_a_step_that_found_nothing_waits_a_poll_while_another_is_busy() -> None:
    """Each ask of an idle step is a claim (a write transaction): while settlement has
    work, the others are asked once per poll, not at every turn; after a sleep, woken,
    every step is asked again."""
    left = 50
    drained = threading.Event()
    idle_asked: list[int] = []

    def busy() -> int:
        nonlocal left
        if not left:
            drained.set()
            return 0
        left -= 1
        return 1

    def idle() -> int:
        idle_asked.append(1)
        return 0

    worker = Worker([busy, idle], poll=timedelta(hours=1))
    worker.start()
    try:
        assert drained.wait(10)
        assert (left, len(idle_asked)) == (0, 1)
        drained.clear()
        worker.wake()
        assert drained.wait(10)
        deadline = time.monotonic() + 10
        while len(idle_asked) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(idle_asked) == 2
    finally:
        worker.stop()
