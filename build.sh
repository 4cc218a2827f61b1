#!/bin/sh
# build.sh -- one entry point for a fresh Debian 12 machine (run as root, or
# with sudo available): installs what is missing, builds, then
#   sh build.sh run [emberd options]   starts emberd in the foreground
#                                      (default: 127.0.0.1:11211)
#   sh build.sh check [configure args] builds and runs the whole test suite
#   sh build.sh deps                   only installs the Debian packages
#   sh build.sh fuzz                   also installs clang and its fuzzer
#                                      runtime, builds, and runs every
#                                      libFuzzer target for FUZZ_SECONDS
#                                      (default 60) each: `make fuzz`
# BUILD_DIR (default: build) is where it configures, out of tree.
set -eu
cd "$(dirname "$0")"
top=$(pwd)

# Build tools and libraries, then what the tests drive emberd with.
PKGS="gcc libc6-dev make autoconf automake pkgconf
 libevent-dev liblmdb-dev libzstd-dev libxxhash-dev check
 python3 python3-pymemcache python3-pylibmc libmemcached-tools memcached
 nutcracker lmdb-utils procps iproute2 groff-base systemd git
 wamerican redis-server redis-tools"
# Only for `fuzz`: clang, and the runtime -fsanitize=fuzzer links
# (libclang-rt-14-dev, which clang only recommends).
FUZZ_PKGS="clang libclang-rt-14-dev"

install_deps() {
    missing=
    for p in $PKGS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q 'install ok installed' || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    echo "build.sh: installing:$missing"
    SUDO=
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

build() {
    [ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi
    dir=${BUILD_DIR:-build}
    mkdir -p "$dir"
    cd "$dir"
    if [ ! -f Makefile ] || [ $# -gt 0 ]; then
        "$top/configure" -q "$@"
    fi
    make -s -j"$(nproc)"
}

cmd=${1:-run}
[ $# -gt 0 ] && shift
case $cmd in
deps) install_deps ;;
run)
    install_deps
    build
    exec ./daemon/emberd -l 127.0.0.1 -p 11211 "$@"
    ;;
check)
    install_deps
    build "$@"
    make -s -j"$(nproc)" check
    ;;
fuzz)
    PKGS="$PKGS $FUZZ_PKGS"
    install_deps
    build "$@"
    make -s -j"$(nproc)" fuzz-build
    make -s fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
    ;;
*)
    echo "usage: sh build.sh run|check|fuzz|deps [args]" >&2
    exit 64
    ;;
esac
