"""``python -m bench [--smoke] [--output PATH]``."""

from .cli import main

# Guarded: the load generators are spawned processes, which import the main module.
if __name__ == "__main__":
    raise SystemExit(main())
