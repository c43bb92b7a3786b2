#!/usr/bin/env bash
# Creates .venv-mongoeco: mongoeco's MongoDB-wire-compatible test server needs
# Python >= 3.13, which Tracer's own venv may not have. It installs exactly what
# requirements/mongoeco.txt locks (hashes checked). Idempotent; prints the python path.
#   scripts/mongoeco_venv.sh
set -euo pipefail
cd "$(dirname "$0")/.."

venv=".venv-mongoeco"
lock="requirements/mongoeco.txt"
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
key="$(sha256sum "$lock" | cut -c1-16)"
if ! grep -qxF "$key" "$stamp" 2>/dev/null; then
    echo "==> installing $lock into $venv" >&2
    uv="$(scripts/uv.sh)"
    "$uv" pip sync --quiet --require-hashes --python "$venv/bin/python" "$lock" >&2
    echo "$key" >"$stamp"
fi
echo "$PWD/$venv/bin/python"
