#!/usr/bin/env bash
# `make image`: builds the Dockerfile as $IMAGE (default connectpsp:latest).
# - The base is python:3.11-slim-bookworm when it can be pulled (or is already here);
#   otherwise one bootstrapped from Debian's packages (deploy/base-image.sh). BASE_IMAGE
#   names another.
# - When a container on that base cannot reach PyPI (no route, or a proxy whose TLS it
#   does not trust), this host's pip fills deploy/wheelhouse/ and the build installs from
#   there alone (PIP_NO_INDEX=1). The host's Python must then be the base's (3.11).
set -euo pipefail
cd "$(dirname "$0")/.."

engine="${DOCKER:-docker}"
image="${IMAGE:-connectpsp:latest}"
official="python:3.11-slim-bookworm"
bootstrapped="connectpsp-base:bookworm"
python="${PYTHON:-.venv/bin/python}"

base="${BASE_IMAGE:-}"
if [ -z "$base" ]; then
    if "$engine" image inspect "$official" >/dev/null 2>&1 \
        || timeout 120 "$engine" pull "$official" >/dev/null 2>&1; then
        base="$official"
    else
        echo "make image: $official cannot be pulled; bootstrapping a base from Debian's packages"
        deploy/base-image.sh "$bootstrapped"
        base="$bootstrapped"
    fi
fi
echo "make image: base $base"

reach_pypi='import urllib.request; urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=15)'
no_index=""
if [ -n "${OFFLINE:-}" ] || ! "$engine" run --rm "$base" python3 -c "$reach_pypi" >/dev/null 2>&1; then
    echo "make image: the build cannot reach PyPI; filling deploy/wheelhouse/ from this host"
    wanted="$("$engine" run --rm "$base" python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    have="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    if [ "$wanted" != "$have" ]; then
        echo "make image: the base has Python $wanted, $python is $have: their wheels differ" >&2
        exit 1
    fi
    "$python" -m pip wheel --quiet --wheel-dir deploy/wheelhouse '.[server]' 'hatchling>=1.25'
    rm -f deploy/wheelhouse/connectpsp-*.whl  # the image's build makes its own
    no_index=1
fi

args=(--tag "$image" --build-arg "BASE_IMAGE=$base")
[ -n "$no_index" ] && args+=(--build-arg PIP_NO_INDEX=1)
"$engine" build "${args[@]}" .
"$engine" image prune --force --filter label=connectpsp.stage=builder >/dev/null
"$engine" image ls "$image"
