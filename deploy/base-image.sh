#!/usr/bin/env bash
# Builds a Debian bookworm base image with Python from Debian's packages alone (debootstrap,
# then `docker import`), for machines that reach Debian's mirror but no image registry.
# Usage: deploy/base-image.sh [IMAGE_TAG]   (default connectpsp-base:bookworm)
# Needs root, debootstrap and a Docker engine. The root filesystem is built in a
# temporary directory outside the checkout and removed afterwards.
set -euo pipefail

tag="${1:-connectpsp-base:bookworm}"
suite="${DEBIAN_SUITE:-bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
engine="${DOCKER:-docker}"
# What the Dockerfile needs from a base: python3 with venv (and so pip), CA certificates
# for pip, passwd for useradd. Nothing else; no compiler.
packages="python3,python3-venv,ca-certificates,passwd"

if "$engine" image inspect "$tag" >/dev/null 2>&1 && [ -z "${REBUILD:-}" ]; then
    echo "base image: $tag exists (REBUILD=1 to make it again)"
    exit 0
fi
if ! command -v debootstrap >/dev/null; then
    echo "debootstrap is missing: apt-get install -y debootstrap" >&2
    exit 1
fi

work="$(mktemp -d "${TMPDIR:-/var/tmp}/connectpsp-rootfs.XXXXXX")"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

echo "base image: debootstrap --variant=minbase $suite from $mirror"
debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror"

# Shrink it as Debian's own slim images do: no apt lists, caches, docs or man pages.
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
    "$rootfs"/var/log/*.log "$rootfs"/var/cache/debconf/*-old
# The host's resolver and hostname are the engine's to provide at run time.
: > "$rootfs/etc/resolv.conf"
: > "$rootfs/etc/hostname"
cat > "$rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main
SOURCES

echo "base image: docker import as $tag ($(du -sh "$rootfs" | cut -f1))"
tar --numeric-owner --xattrs -C "$rootfs" -c . | "$engine" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    --message "debootstrap $suite minbase + $packages" \
    - "$tag"
"$engine" image ls "$tag"
