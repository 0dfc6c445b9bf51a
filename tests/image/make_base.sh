#!/usr/bin/env bash
# Makes the local base image for the image test: Debian bookworm from debootstrap
# (--variant=minbase), imported into podman as localhost/schemaflow-base:bookworm.
# The rootfs tarball is cached in $SCHEMAFLOW_IMAGE_CACHE (default
# /var/tmp/schemaflow-image-cache), so only the first run pays for debootstrap.
set -euo pipefail
CACHE="${SCHEMAFLOW_IMAGE_CACHE:-/var/tmp/schemaflow-image-cache}"
TAG="${SCHEMAFLOW_BASE_TAG:-localhost/schemaflow-base:bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
mkdir -p "$CACHE"
# a storage of its own (vfs: works without overlayfs), kept between runs
PODMAN=(podman --root "$CACHE/storage" --runroot "$CACHE/run" --storage-driver vfs)
tarball="$CACHE/bookworm-minbase-v2.tar"
if [ ! -s "$tarball" ]; then
  root="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
    || { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
  # the same apt sources a debian:bookworm image has (updates and security too)
  cat >"$root/etc/apt/sources.list" <<SRC
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SRC
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/*
  chmod 0755 "$root"  # mktemp made it 0700: "/" of the image must be traversable by non-root
  tar -C "$root" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
fi
# re-import when the tarball changed since the last import
stamp="$(stat -c '%n %s %Y' "$tarball")"
if ! "${PODMAN[@]}" image exists "$TAG" || [ "$(cat "$CACHE/base.imported" 2>/dev/null)" != "$stamp" ]; then
  "${PODMAN[@]}" rmi -f "$TAG" >/dev/null 2>&1 || true
  "${PODMAN[@]}" import --change 'CMD ["/bin/bash"]' "$tarball" "$TAG" >/dev/null 2>&1
  echo "$stamp" >"$CACHE/base.imported"
fi
echo "$TAG"
