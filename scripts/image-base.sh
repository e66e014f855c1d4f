#!/usr/bin/env bash
# Make (or reuse) a local Python base image for machines that reach a Debian package mirror but no
# container registry: a Debian bookworm root filesystem made by debootstrap (minbase plus python3,
# python3-venv and ca-certificates), imported with podman as localhost/pybase:bookworm.
# Its CPython 3.11 shares the ABI with the official python:3.11 images, so the same Dockerfile and
# wheelhouse build on both.
#
#   scripts/image-base.sh
#
# Idempotent and cached: nothing happens when the image is already in the store; otherwise the
# rootfs tarball kept in CACHE_DIR is imported, and only without one does debootstrap run.
#
# Environment:
#   BASE_IMAGE    tag to create (default localhost/pybase:bookworm)
#   STORAGE_ROOT  private container store (--root DIR/storage --runroot DIR/run); default: podman's
#   CACHE_DIR     where the rootfs tarball is kept (default ${XDG_CACHE_HOME:-~/.cache}/govsim-image)
#   MIRROR        Debian mirror (default: the bookworm one in /etc/apt/sources.list.d/ or
#                 /etc/apt/sources.list, else http://deb.debian.org/debian)
#   SUITE         Debian suite (default bookworm)
set -euo pipefail

base_image=${BASE_IMAGE:-localhost/pybase:bookworm}
suite=${SUITE:-bookworm}
cache_dir=${CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/govsim-image}
tarball=$cache_dir/rootfs-$suite.tar
log() { printf '[image-base] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

store_args=()
if [ -n "${STORAGE_ROOT:-}" ]; then
  mkdir -p "$STORAGE_ROOT"
  store_args=(--root "$STORAGE_ROOT/storage" --runroot "$STORAGE_ROOT/run")
fi

# The first mirror apt uses for the suite itself (not -security or -updates).
find_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$suite" '
      function flush() {
        if (uri != "" && index(" " suites " ", " " suite " ")) { print uri; found = 1; exit }
        uri = ""; suites = ""
      }
      /^[[:space:]]*$/ { flush(); next }
      /^URIs:/ { uri = $2 }
      /^Suites:/ { $1 = ""; suites = $0 }
      END { if (!found) flush() }
    ' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v suite="$suite" '$1 == "deb" && $0 !~ /\[/ && $3 == suite { print $2 }' "$f"
  done
}

if podman "${store_args[@]}" image exists "$base_image"; then
  log "$base_image already in the store"
  exit 0
fi

for tool in podman tar; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
mkdir -p "$cache_dir"

if [ ! -s "$tarball" ]; then
  command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
  [ "$(id -u)" = 0 ] || die "debootstrap needs root"
  mirror=${MIRROR:-$(find_mirror | head -n 1)}
  mirror=${mirror:-http://deb.debian.org/debian}
  rootfs=$(mktemp -d "$cache_dir/rootfs.XXXXXX")
  trap 'rm -rf "$rootfs" "$tarball.part"' EXIT
  log "debootstrap $suite from $mirror (about a minute)"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$suite" "$rootfs" "$mirror" >"$cache_dir/debootstrap.log" 2>&1 \
    || die "debootstrap failed; see $cache_dir/debootstrap.log"
  tar -C "$rootfs" --exclude='./var/cache/apt/*' --exclude='./var/lib/apt/lists/*' \
    -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
  rm -rf "$rootfs"
fi

log "importing $tarball as $base_image"
podman "${store_args[@]}" import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  "$tarball" "$base_image" >/dev/null
podman "${store_args[@]}" image exists "$base_image" || die "import did not create $base_image"
log "$base_image ready"
