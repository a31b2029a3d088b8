#!/usr/bin/env bash
# Install Debian's Chromium when it is missing: tests/e2e/test_docs_offline.py renders the
# API reference in it, and tests/e2e/test_console_browser.py drives the operator console
# in it through Playwright (the Python package, from the dev extra; Playwright's own
# browser download is never used). A no-op once it is installed, so `make test` runs it
# every time.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: no apt-get here; install Chromium so that \`chromium\` is on PATH" >&2
  exit 1
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "ensure-chromium: run as root (or with sudo) to apt-get install chromium" >&2
    exit 1
  fi
  as_root=(sudo)
fi
echo "ensure-chromium: installing Debian's chromium (the docs and console browser tests need it)"
export DEBIAN_FRONTEND=noninteractive
# The package lists may be missing or stale on a fresh machine: refresh them once first.
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null
