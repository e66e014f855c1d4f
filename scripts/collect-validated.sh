#!/usr/bin/env bash
# Stage sample outputs for upload, keeping only what validated.
#
#   scripts/collect-validated.sh SRC DEST
#
# Every *.jsonl file under SRC is checked with `python -m simulator.validate --file F`; a file
# that passes is copied to DEST at the same relative path, a file that fails is not. The other
# files under SRC (plots, tables, manifests) are derived from the run records, so they are copied
# only when every JSONL file passed. Exit status: 0 when at least one JSONL file was found and all
# of them passed; 1 otherwise (DEST then holds only what passed); 2 on a usage error.
# Environment: PYTHON, the interpreter with the project installed (default .venv/bin/python,
# else python3).
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 SRC DEST" >&2
  exit 2
fi
src=$1
dest=$2
if [ ! -d "$src" ]; then
  echo "collect-validated: SRC: '$src' is not a directory" >&2
  exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$root/.venv/bin/python}
[ -x "$python" ] || python=python3

mkdir -p "$dest"
total=0
failed=0
while IFS= read -r -d '' file; do
  rel=${file#"$src"/}
  total=$((total + 1))
  if "$python" -m simulator.validate --file "$file"; then
    mkdir -p "$dest/$(dirname "$rel")"
    cp "$file" "$dest/$rel"
  else
    failed=$((failed + 1))
    echo "collect-validated: $file failed validation; not staged" >&2
  fi
done < <(find "$src" -type f -name '*.jsonl' -print0 | sort -z)

if [ "$total" -eq 0 ]; then
  echo "collect-validated: no *.jsonl file under $src" >&2
  exit 1
fi
if [ "$failed" -ne 0 ]; then
  echo "collect-validated: $failed of $total files failed validation; derived files not staged" >&2
  exit 1
fi

while IFS= read -r -d '' file; do
  rel=${file#"$src"/}
  mkdir -p "$dest/$(dirname "$rel")"
  cp "$file" "$dest/$rel"
done < <(find "$src" -type f ! -name '*.jsonl' -print0)
echo "collect-validated: $total JSONL files validated; staged under $dest"
