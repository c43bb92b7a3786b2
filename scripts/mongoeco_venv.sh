#!/usr/bin/env bash
# Creates .venv-mongoeco: mongoeco's MongoDB-wire-compatible test server needs
# Python >= 3.13, which Tracer's own venv may not have. Idempotent; prints the python path.
#   scripts/mongoeco_venv.sh
set -euo pipefail
cd "$(dirname "$0")/.."

venv=".venv-mongoeco"
# Bump together with the tests when a new mongoeco changes behaviour.
requirement="mongoeco[wire]>=4.11,<5"
stamp="$venv/.installed"

find_python313() {
    local candidate
    for candidate in "${TRACER_PYTHON313:-}" python3.14 python3.13 \
        "$HOME"/.pyenv/versions/3.14*/bin/python3.14 "$HOME"/.pyenv/versions/3.13*/bin/python3.13; do
        [[ -n "$candidate" ]] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 13))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

if [[ ! -x "$venv/bin/python" ]]; then
    python="$(find_python313)" || {
        echo "error: mongoeco needs Python >= 3.13 (set TRACER_PYTHON313 to its path)" >&2
        exit 1
    }
    echo "==> creating $venv with $python" >&2
    "$python" -m venv "$venv"
fi
if ! grep -qxF "$requirement" "$stamp" 2>/dev/null; then
    echo "==> installing $requirement into $venv" >&2
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "$requirement" >&2
    echo "$requirement" >"$stamp"
fi
echo "$PWD/$venv/bin/python"
