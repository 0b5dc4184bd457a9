#!/usr/bin/env bash
# deps.sh - installs (idempotently, quietly) every Debian package slowtap's build and tests
# need. Safe to source or run; apt-get update runs once, and only when something is missing.
# clang -fsanitize=fuzzer on Debian 12 needs the libFuzzer runtime from libclang-rt-14-dev.

slowtap_deps_main() {
    local pkgs=(meson ninja-build pkg-config gcc clang libclang-rt-14-dev
        libevent-dev libmariadb-dev libpcre2-dev libinih-dev libjansson-dev libssl-dev
        mariadb-server mariadb-client percona-toolkit
        python3 python3-pymysql python3-mysqldb python3-sqlalchemy python3-prometheus-client
        haproxy sysbench php-cli php-mysql libdbd-mariadb-perl openssl chromium clang-format)
    local missing=() p
    for p in "${pkgs[@]}"; do
        if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            echo "deps.sh: missing packages (${missing[*]}) and not root" >&2
            return 1
        fi
    fi
    echo "deps.sh: installing ${missing[*]}" >&2
    local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq
        -o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0)
    local log
    log=$(mktemp)
    if ! "${apt[@]}" update >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        return 1
    fi
    # Install only the packages Debian knows (apt-cache policy shows a candidate); report others.
    local avail=() cand
    for p in "${missing[@]}"; do
        cand=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')
        if [ -n "$cand" ] && [ "$cand" != "(none)" ]; then
            avail+=("$p")
        else
            echo "deps.sh: package $p is not available from apt; skipping it" >&2
        fi
    done
    if [ ${#avail[@]} -gt 0 ]; then
        if ! "${apt[@]}" install -y --no-install-recommends "${avail[@]}" >"$log" 2>&1; then
            cat "$log" >&2
            rm -f "$log"
            return 1
        fi
    fi
    rm -f "$log"
    return 0
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    slowtap_deps_main
else
    slowtap_deps_main || return 1
fi
# Node.js and npm for the client-matrix tests (sourcing it installs what is missing).
# shellcheck source=tests/deps-clients.sh
source "$(dirname "${BASH_SOURCE[0]}")/deps-clients.sh" || { return 1 2>/dev/null || exit 1; }
