#!/usr/bin/env bash
# Run checkov from its own virtualenv and pass every argument through.
#
# checkov pins boto3, botocore and networkx to versions older than the project's, so it lives in
# .venv-checkov at the repository root (created on first use, reused after, rebuilt when the
# pinned version changes). The version is pinned because each checkov release adds checks: an
# upgrade is a deliberate change, not something CI picks up overnight. --skip-download keeps it
# offline: without it checkov fetches policy metadata on every run and prints a traceback when
# there is no network. Paths are taken relative to the caller's directory. Examples:
#   scripts/checkov.sh -d infra/terraform --framework terraform
#   scripts/checkov.sh -d rendered/ --framework kubernetes -o json
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${CHECKOV_VENV:-$root/.venv-checkov}
spec=${CHECKOV_SPEC:-checkov==3.3.30}

# One installer at a time (tests may call this concurrently on a fresh checkout).
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [ ! -x "$venv/bin/checkov" ] || [ "$(cat "$venv/.spec" 2>/dev/null)" != "$spec" ]; then
  echo "checkov.sh: installing $spec into $venv (one-off, about a minute)" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "$spec" >&2
  printf '%s\n' "$spec" >"$venv/.spec"
fi
flock -u 9

export BC_SKIP_MAPPING=TRUE
exec "$venv/bin/checkov" --skip-download --quiet --compact "$@"
