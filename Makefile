# ConnectPSP developer commands. `make run` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint audit reliability bench bench-choices clean image test-deploy

install: $(STAMP)

# Reinstall only when the dependency list changes; otherwise this is a no-op.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[server,dev]'
	touch $(STAMP)

# `make run PORT=8001` serves on another port; the BR Codes' locations (on
# CONNECTPSP_PUBLIC_URL) follow it unless that variable is set.
HOST ?= 127.0.0.1
PORT ?= 8000
run: export CONNECTPSP_PUBLIC_URL ?= http://$(HOST):$(PORT)
run: install
	$(BIN)/connectpsp demo --host $(HOST) --port $(PORT)
	$(BIN)/connectpsp serve --host $(HOST) --port $(PORT)

# Chromium renders the API reference offline (tests/e2e/test_docs_offline.py); the script
# installs Debian's package only when it is missing.
# The suite starts hundreds of processes (the CLI, servers); where PYTHONDONTWRITEBYTECODE
# is set, as on this project's CI machines, each compiled our sources again first.
test: install
	bash scripts/ensure-chromium.sh
	$(BIN)/python -m compileall -q -j 0 src bench tests
	$(BIN)/python -m pytest -n 2 --dist loadfile

# The long reliability suite; writes docs/reliability.md with its figures.
reliability: install
	$(BIN)/python -m tests.reliability.report

# The benchmark (not a timed test): prints ratios against same-run baselines and
# appends its rows to BENCHMARKS.md.
bench: install
	BENCH_COMMAND='make bench' $(BIN)/python -m bench

# The measurements behind the server, JSON and driver choices (docs/architecture.md);
# installs the alternatives it compares (the `bench` extra).
bench-choices: install
	$(BIN)/python -m pip install --quiet -e '.[server,dev,bench]'
	$(BIN)/python -m bench.choices

# The server's image (Dockerfile), as connectpsp:latest. Starts a Docker engine when none
# answers; when python:3.11-slim-bookworm cannot be pulled, builds on a base bootstrapped
# from Debian's packages (docs/deploy.md).
image: install
	bash deploy/engine.sh >/dev/null
	bash deploy/build-image.sh

# The image and compose.yaml for real: the README tour against the stack, a worker
# killed, nothing lost (docs/deploy.md shows a run). Not part of `make test`: it takes
# minutes and needs root.
test-deploy: install
	$(BIN)/python -m tests.deploy.run

lint: install
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts
	$(BIN)/mypy
	$(BIN)/bandit -q -r src --severity-level high
	$(BIN)/python scripts/audit.py --if-reachable

# Known vulnerabilities in the installed dependencies (pip-audit); fails when no
# vulnerability service can be reached, where `make lint` only says so.
audit: install
	$(BIN)/python scripts/audit.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
