from datetime import timedelta

from connectpsp.worker.runner import every


def test_every_runs_a_step_at_most_once_per_interval() -> None:
    calls: list[int] = []

    def step() -> int:
        calls.append(1)
        return 5

    hourly = every(timedelta(hours=1), step)
    assert hourly() == 5  # the first call runs it
    assert hourly() == 0  # and the next hour's do not
    assert calls == [1]
