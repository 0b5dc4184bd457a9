#!/usr/bin/env bash
# deps.sh - installs (idempotently, quietly) the Debian packages slowtap needs, in three sets:
#   build  what compiling slowtap needs (meson, gcc, the -dev libraries)
#   demo   build + what tests/demo needs (a MariaDB server and client, Python with PyMySQL)
#   test   demo + everything the test suite uses (clang, sanitizer and fuzzer runtimes, client
#          libraries, haproxy, sysbench, percona-toolkit, Chromium, Node.js and npm ...)
# Usage: tests/deps.sh [build|demo|test]   or   source tests/deps.sh [build|demo|test]
# The default is test (everything); tests/run sources it that way, tests/demo asks for demo.
# Safe to source or run; apt-get update runs once, and only when something is missing. When it
# installs, it prints one line with the number of packages (dependencies included) and the
# time it took; apt's own output goes to a log that is shown only when apt fails.
# New packages go into the set that first needs them (a later set includes the earlier ones).
# clang -fsanitize=fuzzer on Debian 12 needs the libFuzzer runtime from libclang-rt-14-dev.
# A minimal Debian 12 (debootstrap --variant=minbase) also lacks what the suite calls beyond
# the libraries: git (test_package copies the tree with git ls-files), iproute2 (`ip`, for
# tests/connectors/run), ca-certificates (npm ci reaches the registry over HTTPS), and Node.js
# and npm (Debian's: 18; tests/integration/node pins connectors that run on it).

SLOWTAP_DEPS_BUILD=(meson ninja-build pkg-config gcc libc6-dev
    libevent-dev libmariadb-dev libpcre2-dev libinih-dev libjansson-dev libssl-dev zlib1g-dev
    libzstd-dev libjs-dygraphs libcurl4-openssl-dev)
SLOWTAP_DEPS_DEMO=(mariadb-server mariadb-client python3 python3-pymysql)
SLOWTAP_DEPS_TEST=(clang libclang-rt-14-dev valgrind percona-toolkit
    python3-mysqldb python3-sqlalchemy python3-prometheus-client python3-cryptography
    python3-flask python3-flask-sqlalchemy python3-django
    haproxy sysbench php-cli php-mysql libdbd-mariadb-perl openssl chromium clang-format
    debhelper dpkg-dev build-essential systemd logrotate man-db prometheus
    clickhouse-server clickhouse-client git iproute2 ca-certificates nodejs npm zstd)

# slowtap_deps build|demo|test: installs what that set needs and is missing.
slowtap_deps() {
    local set=${1:-test} pkgs=()
    case "$set" in
    build) pkgs=("${SLOWTAP_DEPS_BUILD[@]}") ;;
    demo) pkgs=("${SLOWTAP_DEPS_BUILD[@]}" "${SLOWTAP_DEPS_DEMO[@]}") ;;
    test) pkgs=("${SLOWTAP_DEPS_BUILD[@]}" "${SLOWTAP_DEPS_DEMO[@]}" "${SLOWTAP_DEPS_TEST[@]}") ;;
    *)
        echo "deps.sh: unknown package set '$set' (expected build, demo or test)" >&2
        return 2
        ;;
    esac
    local missing=() p
    for p in "${pkgs[@]}"; do
        # Debian's npm comes with Debian's nodejs; a machine whose Node.js package brings its
        # own npm (NodeSource's nodejs) cannot take Debian's npm beside it: a working `npm`
        # on PATH is what the suite needs
        if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then
            continue
        fi
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
    local t0=$SECONDS
    printf -- '-- updating the package lists (missing: %d of the %s packages)...' \
        "${#missing[@]}" "$set" >&2
    local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq
        -o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0)
    local log
    log=$(mktemp)
    if ! "${apt[@]}" update >"$log" 2>&1; then
        echo " failed:" >&2
        cat "$log" >&2
        rm -f "$log"
        return 1
    fi
    echo " $((SECONDS - t0)) s" >&2
    # Install only the packages Debian knows (apt-cache policy shows a candidate); report others.
    local avail=() skipped=() cand
    for p in "${missing[@]}"; do
        cand=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')
        if [ -n "$cand" ] && [ "$cand" != "(none)" ]; then
            avail+=("$p")
        else
            skipped+=("$p")
        fi
    done
    if [ ${#avail[@]} -gt 0 ]; then
        local n
        n=$("${apt[@]}" -s install -y --no-install-recommends "${avail[@]}" 2>/dev/null |
            grep -c '^Inst ' || true)
        t0=$SECONDS
        if [ "$n" -gt "${#avail[@]}" ]; then
            printf -- '-- installing %s packages (%d named, the rest their dependencies)...' \
                "$n" "${#avail[@]}" >&2
        else
            printf -- '-- installing %d packages...' "${#avail[@]}" >&2
        fi
        if ! "${apt[@]}" install -y --no-install-recommends "${avail[@]}" >"$log" 2>&1; then
            echo " failed:" >&2
            cat "$log" >&2
            rm -f "$log"
            return 1
        fi
        echo " $((SECONDS - t0)) s" >&2
    fi
    rm -f "$log"
    for p in "${skipped[@]}"; do
        echo "deps.sh: package $p is not available from apt; skipping it" >&2
    done
    return 0
}

# Compatibility: the whole test set.
slowtap_deps_main() {
    slowtap_deps test
}

# What needs network access: apt-get (Debian's mirror) here, and for the test set the npm
# registry (tests/deps-clients.sh installs Node.js and npm; test_matrix_node.py runs npm ci).
slowtap_deps_run() {
    local set=test
    case "${1:-}" in
    build | demo | test) set=$1 ;;
    esac
    slowtap_deps "$set" || return 1
    if [ "$set" = test ]; then
        # shellcheck source=tests/deps-clients.sh
        source "$(dirname "${BASH_SOURCE[0]}")/deps-clients.sh" || return 1
    fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    case "${1:-test}" in
    build | demo | test) ;;
    *)
        echo "usage: tests/deps.sh [build|demo|test]" >&2
        exit 2
        ;;
    esac
    slowtap_deps_run "${1:-test}"
else
    # Sourced: "source tests/deps.sh demo"; without an argument (the caller's own arguments,
    # such as tests/run --quick, are ignored) the test set.
    slowtap_deps_run "${1:-}" || return 1
fi
