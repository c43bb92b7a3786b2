#!/usr/bin/env bash
# Drift check: installs the newest releases pyproject.toml allows into a scratch venv
# (ignoring uv.lock), runs the suite with them and prints what broke, next to every
# package whose version differs from the lock. Not part of CI's gate: it answers "would
# `just deps-update` be safe today?".
#   scripts/deps_check.sh [PYTEST ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."

uv="$(scripts/uv.sh)"
scratch="$(mktemp -d "${TMPDIR:-/tmp}/tracer-deps-check.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
python="${TRACER_PYTHON:-python3}"

echo "==> newest allowed releases into $scratch/venv"
"$uv" venv --quiet --python "$python" "$scratch/venv"
UV_PYTHON_DOWNLOADS=never "$uv" pip install --quiet --python "$scratch/venv/bin/python" \
    --resolution highest --upgrade --no-cache -e ".[dev,bench]"

echo "==> versions that differ from uv.lock"
"$uv" export --quiet --frozen --all-extras --no-hashes --no-emit-project --format requirements-txt \
    | grep -E '^[A-Za-z0-9_.-]+==' | sed -E 's/ ;.*//' | sort -f >"$scratch/locked.txt"
"$uv" pip freeze --quiet --python "$scratch/venv/bin/python" --exclude-editable \
    | sort -f >"$scratch/newest.txt"
drift="$(python3 - "$scratch/locked.txt" "$scratch/newest.txt" <<'PY'
import re, sys
def read(path):
    pins = {}
    for line in open(path):
        name, _, version = line.strip().partition("==")
        if version:
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins
locked, newest = read(sys.argv[1]), read(sys.argv[2])
for name in sorted(newest):
    if locked.get(name) != newest[name]:
        print(f"  {name:32} {locked.get(name, '(not locked)'):>14} -> {newest[name]}")
PY
)"
if [[ -n "$drift" ]]; then echo "$drift"; else echo "  none: the lock holds the newest releases"; fi

echo "==> the suite against the newest releases"
set +e
TRACER_REQUIRE_ALL_TESTS=1 "$scratch/venv/bin/python" -m pytest -q -p no:cacheprovider \
    -o addopts="" -rfE "$@" >"$scratch/pytest.log" 2>&1
status=$?
set -e
tail -n 3 "$scratch/pytest.log"
if ((status != 0)); then
    echo "==> what broke with the newest releases:"
    grep -E '^(FAILED|ERROR) ' "$scratch/pytest.log" || tail -n 40 "$scratch/pytest.log"
    # The first line of each distinct error, to tell a release's change from a flaky test.
    grep -E '^E +' "$scratch/pytest.log" | sort | uniq -c | sort -rn | head -n 15
    echo "deps-check: the newest allowed releases break the suite (the lock is unaffected)"
    exit 1
fi
echo "deps-check: the newest allowed releases pass the suite"
