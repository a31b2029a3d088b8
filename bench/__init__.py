"""The ConnectPSP benchmark harness (``make bench`` / ``python -m bench``).

It runs the real server as a subprocess, drives it from load-generator processes on
loopback, measures baselines (an HTTP ceiling and a raw-SQL ceiling) in the same run, and
appends its figures to ``BENCHMARKS.md``. See ``bench/run.py`` for the order of phases.
"""
