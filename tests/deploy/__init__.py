"""``make test-deploy``: the image and compose.yaml, run for real (tests/deploy/run.py).
Nothing here is collected by pytest: no module is named ``test_*``."""
