#!/usr/bin/env bash
# deps-clients.sh - what the client-matrix tests (tests/integration/test_matrix_*.py) need beyond
# tests/deps.sh: Node.js and npm (the mariadb and mysql2 connectors come from the npm registry,
# installed by test_matrix_node.py with `npm ci` into tests/integration/node). Safe to source
# (tests/deps.sh may) or run; installs only what is missing.

slowtap_deps_clients_main() {
    if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
        return 0
    fi
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            echo "deps-clients.sh: node/npm missing and not root" >&2
            return 1
        fi
    fi
    echo "deps-clients.sh: installing nodejs npm" >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=600 \
        update >/dev/null &&
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=600 \
            install -y --no-install-recommends nodejs npm >/dev/null
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    slowtap_deps_clients_main
else
    slowtap_deps_clients_main || return 1
fi
