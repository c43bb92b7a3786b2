#!/usr/bin/env bash
# Prints the path of the uv that installs Tracer's locked dependencies, installing that
# exact release into .venv-uv first when it is not there. Every install path goes
# through it, so one uv version reads uv.lock everywhere.
#   scripts/uv.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Bump with `just deps-update` in mind: a newer uv may rewrite uv.lock's format.
UV_VERSION="0.13.9"
venv=".venv-uv"

has_version() { [[ -x "$1" ]] && [[ "$("$1" --version 2>/dev/null)" == "uv $UV_VERSION"* ]]; }

if ! has_version "$venv/bin/uv"; then
    python="${TRACER_PYTHON:-python3}"
    command -v "$python" >/dev/null 2>&1 || {
        echo "error: no $python to install uv with (set TRACER_PYTHON)" >&2
        exit 1
    }
    echo "==> installing uv $UV_VERSION into $venv" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    # (Machines with a local package mirror make pip warn about every name it lacks.)
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "uv==$UV_VERSION" 2>&1 |
        { grep -v "is ignored: it is neither a file nor a directory" || true; } >&2
fi
echo "$PWD/$venv/bin/uv"
