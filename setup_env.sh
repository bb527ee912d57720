#!/usr/bin/env bash
# Set up mm_bot on this machine, or load its environment.
#
#   bash setup_env.sh            venv (.venv) + runtime requirements + database (hypertrade.db)
#   bash setup_env.sh --dev      the same plus test and development requirements
#   source setup_env.sh          also export the variables of .env and the rate-limit defaults
#                                into the current shell (venue keys live only there, never in configs)
#
# Environment: PYTHON (interpreter to build the venv with, default python3), MM_DB (database path).
_mm_sourced=0
(return 0 2>/dev/null) && _mm_sourced=1

_mm_setup() {
    local here dev=0 py="${PYTHON:-python3}"
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    for arg in "$@"; do
        case "$arg" in
            --dev) dev=1 ;;
            -h|--help) sed -n '2,10p' "${BASH_SOURCE[0]}"; return 0 ;;
            *) echo "setup_env.sh: unknown option $arg" >&2; return 2 ;;
        esac
    done
    if [ ! -x "$here/.venv/bin/python" ]; then
        "$py" -m venv "$here/.venv" || { echo "setup_env.sh: could not create .venv with $py" >&2; return 1; }
    fi
    "$here/.venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
    if [ "$dev" = 1 ]; then
        "$here/.venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/requirements-dev.txt" || return 1
    else
        "$here/.venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/requirements.txt" || return 1
    fi
    (cd "$here" && .venv/bin/python init_db.py --db "${MM_DB:-hypertrade.db}") || return 1
}

_mm_env() {
    local here
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    if [ -f "$here/.env" ]; then
        set -a
        # shellcheck disable=SC1091
        . "$here/.env"
        set +a
    fi
    # Shared rate-limit budgets per minute (Hyperliquid documents 1200 REST weight per IP).
    export HL_REST_CAPACITY_PER_MIN="${HL_REST_CAPACITY_PER_MIN:-1200}"
    export HL_WS_CAPACITY_PER_MIN="${HL_WS_CAPACITY_PER_MIN:-2000}"
}

if [ "$_mm_sourced" = 1 ]; then
    _mm_setup "$@" && _mm_env
else
    set -e
    _mm_setup "$@"
fi
