#!/usr/bin/env bash
# Build the qbsync image from the Containerfile with buildah, as CI does (`make image`).
#   deploy/image/build.sh [TAG]          default TAG: localhost/qbsync:ci
# Environment:
#   BASE      the base image; empty (default): build localhost/qbsync-base:bookworm from
#             Debian packages (deploy/image/base.sh), since no registry is reachable in CI.
#             With a registry: BASE=docker.io/library/python:3.11-slim-bookworm.
#   BUILDAH   default "buildah --storage-driver vfs".
# The wheels qbsync needs (and hatchling, to build qbsync itself) are downloaded on this
# machine into .cache/image/wheels, then the Containerfile installs from them with
# --no-index: the build needs no network and no registry, and its own steps are what runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=${1:-localhost/qbsync:ci}
buildah=${BUILDAH:-buildah --storage-driver vfs}
python=${PYTHON:-.venv/bin/python}
started=$(date +%s)
step() { printf '== image: %s (%ss)\n' "$*" "$(( $(date +%s) - started ))"; }

base=${BASE:-}
if [ -z "$base" ]; then
  base=localhost/qbsync-base:bookworm
  step "base $base"
  BUILDAH="$buildah" deploy/image/base.sh "$base"
fi

step "wheels"
wheels=.cache/image/wheels
mkdir -p "$wheels"
"$python" -m pip wheel --quiet --disable-pip-version-check --find-links "$wheels" \
  --wheel-dir "$wheels" . hatchling
rm -f "$wheels"/qbsync-*.whl  # qbsync itself is built inside, from the source

step "buildah bud $tag (base $base)"
revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
$buildah bud --quiet --isolation chroot --layers=false \
  --build-arg BASE="$base" \
  --build-arg PIP_ARGS="--no-index --find-links /src/$wheels" \
  --build-arg REVISION="$revision" \
  -f Containerfile -t "$tag" . >/dev/null
$buildah inspect --type image --format '{{.FromImageID}}' "$tag" | cut -c1-12 | sed 's/^/image id: /'
step "built $tag"
