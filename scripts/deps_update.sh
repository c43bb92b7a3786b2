#!/usr/bin/env bash
# Refreshes the locks to the newest releases pyproject.toml (and requirements/*.in)
# allow, then reinstalls .venv from them. Run `just test` (and commit) afterwards;
# `just deps-check` tells beforehand whether the suite passes with them.
#   scripts/deps_update.sh [PACKAGE ...]   (names: upgrade only these)
set -euo pipefail
cd "$(dirname "$0")/.."

uv="$(scripts/uv.sh)"
cp uv.lock "${TMPDIR:-/tmp}/uv.lock.before"
if (($#)); then
    upgrade=()
    for package in "$@"; do upgrade+=(--upgrade-package "$package"); done
    "$uv" lock "${upgrade[@]}"
else
    "$uv" lock --upgrade
fi
"$uv" pip compile --quiet --upgrade --universal --generate-hashes --no-header \
    --python-version 3.13 requirements/mongoeco.in -o requirements/mongoeco.txt
python3 - "${TMPDIR:-/tmp}/uv.lock.before" uv.lock <<'PY'
import sys, tomllib
def versions(path):
    with open(path, "rb") as f:
        return {p["name"]: p.get("version", "") for p in tomllib.load(f).get("package", [])}
before, after = versions(sys.argv[1]), versions(sys.argv[2])
changed = [n for n in sorted(before.keys() | after.keys()) if before.get(n) != after.get(n)]
for name in changed:
    print(f"  {name:32} {before.get(name, '-'):>14} -> {after.get(name, '-')}")
print(f"{len(changed)} package(s) changed in uv.lock" if changed else "uv.lock unchanged")
PY
scripts/bootstrap.sh dev,bench
