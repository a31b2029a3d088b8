#!/usr/bin/env bash
# A Docker engine for `make image` and `make test-deploy`: installs Debian's docker.io,
# docker-compose and debootstrap when missing, and starts dockerd in the background when
# none answers (a machine without systemd, as in a CI sandbox). Prints "started PID" when
# it started one, so that its caller may stop it; nothing when one was already running.
set -euo pipefail
engine="${DOCKER:-docker}"

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if ! "$engine" compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
    missing+=(docker-compose)
fi
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "engine: install ${missing[*]} (as root), or run as root" >&2
        exit 1
    fi
    echo "engine: installing Debian's ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if "$engine" info >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "engine: no Docker engine answers; start one (systemctl start docker)" >&2
    exit 1
fi
log="${ENGINE_LOG:-/var/log/connectpsp-dockerd.log}"
# setsid: the daemon outlives this script and is not in the caller's process group.
setsid dockerd >"$log" 2>&1 < /dev/null &
pid=$!
for _ in $(seq 1 60); do
    if "$engine" info >/dev/null 2>&1; then
        echo "engine: started dockerd (pid $pid, log $log)" >&2
        echo "started $pid"
        exit 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
done
echo "engine: dockerd did not start; see $log" >&2
tail -20 "$log" >&2
exit 1
