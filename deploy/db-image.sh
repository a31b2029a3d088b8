#!/usr/bin/env bash
# The image compose.yaml's db service runs, for `make test-deploy`: postgres:16-bookworm
# when it can be pulled (or is here), else deploy/postgres/ built on the base that
# deploy/base-image.sh bootstraps from Debian's packages. Prints the image's name last.
set -euo pipefail
cd "$(dirname "$0")/.."
engine="${DOCKER:-docker}"
official="${POSTGRES_IMAGE:-postgres:16-bookworm}"
standin="connectpsp-postgres:15"
if "$engine" image inspect "$official" >/dev/null 2>&1 \
    || timeout 120 "$engine" pull "$official" >/dev/null 2>&1; then
    echo "$official"
    exit 0
fi
echo "db image: $official cannot be pulled; building $standin from Debian's postgresql" >&2
if ! "$engine" image inspect "$standin" >/dev/null 2>&1 || [ -n "${REBUILD:-}" ]; then
    deploy/base-image.sh connectpsp-base:bookworm >&2
    "$engine" build --tag "$standin" --build-arg BASE_IMAGE=connectpsp-base:bookworm \
        deploy/postgres >&2
fi
echo "$standin"
