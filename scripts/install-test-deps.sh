#!/usr/bin/env bash
# Installs what `scripts/test.sh` needs on a Debian machine, and only what is missing: SIPp
# (Debian's `sip-tester`), which the end-to-end tests drive as real peers, and the toolchain's
# formatter and linter. Uses sudo only when not root and only when a package is missing.
# Run from anywhere; `scripts/test.sh` and `.ci/run` call it first.
set -euo pipefail

sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages the end-to-end tests drive as real peers.
apt_packages=()
[ -x /usr/bin/sipp ] || apt_packages+=(sip-tester)
if [ "${#apt_packages[@]}" -gt 0 ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "missing ${apt_packages[*]} and no apt-get to install it: install SIPp (/usr/bin/sipp) by hand" >&2
        exit 1
    fi
    echo "== installing ${apt_packages[*]}"
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_packages[@]}"
fi

# The toolchain's formatter and linter.
rust_components=()
cargo fmt --version >/dev/null 2>&1 || rust_components+=(rustfmt)
cargo clippy --version >/dev/null 2>&1 || rust_components+=(clippy)
if [ "${#rust_components[@]}" -gt 0 ]; then
    echo "== installing ${rust_components[*]}"
    rustup component add "${rust_components[@]}"
fi
