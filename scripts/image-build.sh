#!/usr/bin/env bash
# Build the govsim container image: the one build path, used by the container tests
# (through scripts/image-test.sh), the kind end-to-end script and the release workflow.
#
#   scripts/image-build.sh [IMAGE]
#
# Step 1 builds the wheelhouse wheels/ on the host: the project and its runtime dependencies with
# every optional extra (govsim[all]: the worker needs s3 and metrics, the controller k8s too, and
# both plan adaptive rounds with optuna), nothing for tests,
# from a clean copy of the source tree (so stale files under build/ never reach the wheel), with a
# fixed SOURCE_DATE_EPOCH (so unchanged sources give a byte-identical wheel and the image layer
# cache holds). Existing dependency wheels and pip's cache are reused. On a host that is not
# Linux with CPython 3.11 (a laptop on macOS, say), dependency wheels are downloaded for the
# image's platform instead of built for the host's.
# Step 2 builds the Dockerfile with whichever engine there is; nothing is downloaded inside.
#
# Environment:
#   IMAGE         tag (default localhost/govsim:dev; the first argument wins)
#   BASE          base image build arg (default: the Dockerfile's pinned python slim tag)
#   ENGINE        docker | buildah | podman (default: docker if its daemon answers, else buildah,
#                 else podman)
#   STORAGE_ROOT  private container store for buildah/podman (--root DIR/storage --runroot DIR/run)
#   PYTHON        interpreter that builds the wheelhouse (default python3)
#   WHEEL_MODE    build | download (default: build on Linux with CPython 3.11, else download)
#   TARGET_ARCH   image architecture for WHEEL_MODE=download (default: the host's, e.g. x86_64)
#   VERSION, REVISION  image labels (default: the project version, the git commit)
set -euo pipefail
cd "$(dirname "$0")/.."

image=${1:-${IMAGE:-localhost/govsim:dev}}
python=${PYTHON:-python3}
wheels=wheels
work=
project_wheel=
log() { printf '[image-build] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

store_args=()
if [ -n "${STORAGE_ROOT:-}" ]; then
  mkdir -p "$STORAGE_ROOT"
  store_args=(--root "$STORAGE_ROOT/storage" --runroot "$STORAGE_ROOT/run")
fi

pick_engine() {
  if [ -n "${ENGINE:-}" ]; then
    printf '%s\n' "$ENGINE"
  elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    echo docker
  elif command -v buildah >/dev/null; then
    echo buildah
  elif command -v podman >/dev/null; then
    echo podman
  else
    die "no container engine: install docker, or buildah and podman"
  fi
}

# Copy the source tree without build products (git's view of it when there is one); in Python, so
# it behaves the same with GNU and BSD tools.
stage_sources() {
  "$python" - "$1" <<'PY'
import os, shutil, subprocess, sys

dest = sys.argv[1]
try:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True, capture_output=True,
    ).stdout.decode()
except (OSError, subprocess.CalledProcessError):
    skip = shutil.ignore_patterns(
        ".git", ".venv*", "wheels", "build", "dist", "*.egg-info", "__pycache__", "results"
    )
    shutil.copytree(".", dest, ignore=skip, dirs_exist_ok=True)
else:
    for rel in filter(None, listed.split("\0")):
        if os.path.isfile(rel):  # tracked files deleted in the work tree are skipped
            os.makedirs(os.path.join(dest, os.path.dirname(rel)), exist_ok=True)
            shutil.copy2(rel, os.path.join(dest, rel))
PY
}

# Make $2 hold exactly the wheels in $1, leaving identical files untouched (the layer cache keys
# on content).
sync_wheels() {
  local from=$1 to=$2 f
  mkdir -p "$to"
  for f in "$to"/*.whl; do
    if [ -e "$f" ] && [ ! -e "$from/${f##*/}" ]; then rm -f "$f"; fi
  done
  for f in "$from"/*.whl; do
    if ! cmp -s "$f" "$to/${f##*/}"; then cp "$f" "$to/"; fi
  done
}

# The wheelhouse: wheels/project/ the project's wheel, wheels/*.whl exactly its resolved runtime
# dependencies with every extra (built or downloaded into a scratch directory, reusing wheels/
# and pip's cache).
build_wheelhouse() {
  local mode=${WHEEL_MODE:-}
  if [ -z "$mode" ]; then
    if "$python" -c 'import sys; sys.exit(not (sys.platform == "linux" and sys.version_info[:2] == (3, 11)))'; then
      mode=build
    else
      mode=download
    fi
  fi
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/src" "$work/project" "$work/deps" "$wheels"
  stage_sources "$work/src"
  export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-315532800}
  log "wheelhouse ($mode) in $wheels/"
  local pip=("$python" -m pip --disable-pip-version-check)
  "${pip[@]}" wheel --quiet --no-deps -w "$work/project" "$work/src" >"$work/pip.log" 2>&1 \
    || { cat "$work/pip.log" >&2; die "building the project wheel failed"; }
  local project
  project=$(compgen -G "$work/project/govsim-*.whl") || die "no govsim wheel was built"
  case $mode in
    build)
      "${pip[@]}" wheel --quiet --find-links "$wheels" -w "$work/deps" "${project}[all]"
      ;;
    download)
      local arch=${TARGET_ARCH:-$(uname -m)} platforms=() glibc
      [ "$arch" = arm64 ] && arch=aarch64
      # Debian bookworm has glibc 2.36: every manylinux tag up to that runs there.
      for glibc in $(seq 36 -1 17); do platforms+=(--platform "manylinux_2_${glibc}_${arch}"); done
      platforms+=(--platform "manylinux2014_${arch}")
      "${pip[@]}" download --quiet --only-binary=:all: --python-version 3.11 --implementation cp \
        --abi cp311 "${platforms[@]}" --find-links "$wheels" -d "$work/deps" "${project}[all]"
      ;;
    *) die "WHEEL_MODE must be build or download, not '$mode'" ;;
  esac
  rm -f "$work/deps"/govsim-*.whl
  sync_wheels "$work/deps" "$wheels"
  sync_wheels "$work/project" "$wheels/project"
  project_wheel=${project##*/}
}

image_size() {
  case $1 in
    docker) docker image inspect --format '{{.Size}}' "$image" ;;
    podman | buildah)
      if command -v podman >/dev/null; then
        podman "${store_args[@]}" image inspect --format '{{.Size}}' "$image"
      else
        buildah "${store_args[@]}" images --json "$image" | "$python" -c \
          'import json, sys; print(json.load(sys.stdin)[0]["size"])'
      fi
      ;;
  esac
}

engine=$(pick_engine)
# Concurrent builds from this tree share wheels/: one at a time.
mkdir -p "$wheels"
exec 8>"$wheels/.lock"
if command -v flock >/dev/null; then
  flock 8
fi
build_wheelhouse
log "wheelhouse ready after ${SECONDS}s"

version=${VERSION:-$(printf '%s\n' "$project_wheel" | cut -d- -f2)}
revision=${REVISION:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
build_args=(--build-arg "VERSION=$version" --build-arg "REVISION=$revision")
[ -n "${BASE:-}" ] && build_args+=(--build-arg "BASE=$BASE")

log "building $image with $engine${BASE:+ on $BASE}"
case $engine in
  docker) docker build "${build_args[@]}" -t "$image" . ;;
  buildah)
    buildah "${store_args[@]}" bud --isolation chroot --layers "${build_args[@]}" -t "$image" .
    ;;
  podman)
    podman "${store_args[@]}" build --isolation chroot --layers "${build_args[@]}" -t "$image" .
    ;;
  *) die "ENGINE must be docker, buildah or podman, not '$engine'" ;;
esac

log "image built after ${SECONDS}s"
size=$(image_size "$engine")
printf 'image %s: %s MB (%s bytes)\n' "$image" "$((size / 1000000))" "$size"
