#!/usr/bin/env bash
# Build the govsim image here, where there is no Docker daemon and no registry: make or reuse the
# debootstrap base image, then build the real Dockerfile on it with buildah (chroot isolation),
# all in a private container store. Called once per session by the container tests.
#
#   scripts/image-test.sh
#
# Idempotent; a second run is fast (base image kept, wheels reused, buildah layer cache).
# Concurrent runs wait for each other (flock on the cache directory).
#
# Environment (defaults in brackets):
#   IMAGE         [localhost/govsim:dev]
#   BASE          [localhost/pybase:bookworm]
#   ENGINE        [buildah]
#   CACHE_DIR     [${XDG_CACHE_HOME:-~/.cache}/govsim-image]
#   STORAGE_ROOT  [$CACHE_DIR/store]
#   STORE_MAX_MB  [15000] above this, dangling images are pruned (the next build is a full one)
set -euo pipefail
cd "$(dirname "$0")/.."

export CACHE_DIR=${CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/govsim-image}
export STORAGE_ROOT=${STORAGE_ROOT:-$CACHE_DIR/store}
export BASE=${BASE:-localhost/pybase:bookworm}
export BASE_IMAGE=$BASE
export ENGINE=${ENGINE:-buildah}
export IMAGE=${IMAGE:-localhost/govsim:dev}
mkdir -p "$CACHE_DIR"

exec 9>"$CACHE_DIR/lock"
if command -v flock >/dev/null; then
  flock 9
fi

start=$SECONDS
scripts/image-base.sh
scripts/image-build.sh "$IMAGE"

# Every rebuild leaves untagged layers behind; prune them when the store grows too big.
used_mb=$(du -sm "$STORAGE_ROOT" | cut -f1)
if [ "$used_mb" -gt "${STORE_MAX_MB:-15000}" ]; then
  printf 'image-test: store uses %s MB; pruning dangling images\n' "$used_mb"
  podman --root "$STORAGE_ROOT/storage" --runroot "$STORAGE_ROOT/run" image prune --force >/dev/null
fi
printf 'image-test: %s built in %s s (store %s)\n' "$IMAGE" "$((SECONDS - start))" "$STORAGE_ROOT"
