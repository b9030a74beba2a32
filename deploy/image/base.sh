#!/usr/bin/env bash
# Build the Containerfile's base image locally, from Debian packages, when no registry is
# reachable (CI): a debootstrap of Debian bookworm (the release the default base,
# python:3.11-slim-bookworm, is built on) with Python 3.11, imported into buildah's storage.
# The rootfs tarball is cached under .cache/image/, so re-runs take seconds.
#   deploy/image/base.sh [IMAGE]        default IMAGE: localhost/qbsync-base:bookworm
# Environment: BUILDAH (default "buildah --storage-driver vfs"), DEBIAN_MIRROR.
set -euo pipefail
cd "$(dirname "$0")/../.."
image=${1:-localhost/qbsync-base:bookworm}
buildah=${BUILDAH:-buildah --storage-driver vfs}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=.cache/image
tarball=$cache/rootfs-bookworm.tar
packages=python3,python3-venv,ca-certificates,tzdata

if $buildah inspect --type image "$image" >/dev/null 2>&1; then
  echo "base image $image: present"
  exit 0
fi
mkdir -p "$cache"
if [ ! -s "$tarball" ]; then
  rootfs=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap 'rm -rf "$rootfs"' EXIT
  echo "base image: debootstrap bookworm ($packages) from $mirror"
  debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 \
    || { tail -20 "$cache/debootstrap.log"; exit 1; }
  # What an image needs no more of: package lists and caches, docs.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
  tar --numeric-owner -C "$rootfs" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
fi
echo "base image: importing $tarball as $image"
# buildah has no `import`: a scratch container with the rootfs copied in, committed.
ctr=$($buildah from scratch)
mnt=$($buildah mount "$ctr")
tar --numeric-owner -C "$mnt" -xf "$tarball"
$buildah umount "$ctr" >/dev/null
$buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env LANG=C.UTF-8 --cmd /bin/bash "$ctr"
$buildah commit --quiet "$ctr" "$image" >/dev/null
$buildah rm "$ctr" >/dev/null
echo "base image $image: built"
