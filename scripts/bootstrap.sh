#!/usr/bin/env bash
# Prepares what the justfile recipes need, installing only what is missing:
#   scripts/bootstrap.sh EXTRAS [DEBIAN_PACKAGE:COMMAND ...]
# EXTRAS is a comma-separated list of pyproject extras ("" for none). Python packages come
# from uv.lock only (exact versions, hashes checked): `uv sync --frozen` never resolves
# anew, so a release published upstream cannot change what gets installed. Each
# PACKAGE:COMMAND pair installs the Debian package when COMMAND is not on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

extras="${1:-}"
shift || true

venv=".venv"
stamp="$venv/.installed"

find_python() {
    for candidate in "${TRACER_PYTHON:-}" python3 python3.11 python3.12 python3.13; do
        [[ -n "$candidate" ]] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

install_debian_packages() {
    local missing=()
    for pair in "$@"; do
        local package="${pair%%:*}" command="${pair#*:}"
        command -v "$command" >/dev/null 2>&1 || [[ -x "/usr/sbin/$command" ]] || missing+=("$package")
    done
    ((${#missing[@]})) || return 0
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        echo "error: missing system packages: ${missing[*]}" >&2
        echo "       install them (e.g. sudo apt-get install ${missing[*]}) and run again" >&2
        exit 1
    fi
    echo "==> installing ${missing[*]} from apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; }
}

install_debian_packages "$@"

# Install again only when the lock changes or new extras are asked for.
key="$(sha256sum uv.lock | cut -c1-16) [$extras]"
if [[ -x "$venv/bin/python" ]] && grep -qxF "$key" "$stamp" 2>/dev/null; then
    exit 0
fi
python="$(find_python)" || {
    echo "error: Tracer needs Python >= 3.11 (set TRACER_PYTHON to its path)" >&2
    exit 1
}
uv="$(scripts/uv.sh)"
args=(sync --frozen --inexact --python "$python")
IFS=',' read -ra wanted <<<"$extras"
for extra in "${wanted[@]}"; do
    [[ -n "$extra" ]] && args+=(--extra "$extra")
done
echo "==> installing tracer${extras:+[$extras]} into $venv from uv.lock"
UV_PROJECT_ENVIRONMENT="$venv" UV_PYTHON_DOWNLOADS=never "$uv" "${args[@]}" --quiet
echo "$key" >>"$stamp"
