#!/usr/bin/env bash
# Installs what `scripts/test.sh` needs on a Debian machine, and only what is missing: the real
# peers the end-to-end tests drive (SIPp, Debian's `sip-tester`; curl, wrk and nginx for the
# HTTP balancer; Python's `websockets` for the HTTP test nodes and `smpplib` for the SMPP
# customer in tests/peers/; Node.js and npm's `smpp` for the SMPP message centre in
# tests/peers/), and the toolchain's formatter and linter. Uses sudo only when not root and only when a package is
# missing.
# Run from anywhere; `scripts/test.sh` and `.ci/run` call it first.
set -euo pipefail

sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages the end-to-end tests drive as real peers.
apt_packages=()
[ -x /usr/bin/sipp ] || apt_packages+=(sip-tester)
[ -x /usr/bin/curl ] || apt_packages+=(curl)
[ -x /usr/bin/wrk ] || apt_packages+=(wrk)
# The tests start nginx themselves on a free loopback port; the package's own service, if it
# starts, is not used.
[ -x /usr/sbin/nginx ] || apt_packages+=(nginx-light)
# Node.js runs the SMPP message centre (tests/peers/smsc.js).
command -v node >/dev/null 2>&1 || apt_packages+=(nodejs)
command -v npm >/dev/null 2>&1 || apt_packages+=(npm)
if [ "${#apt_packages[@]}" -gt 0 ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "missing ${apt_packages[*]} and no apt-get to install it: install them by hand" >&2
        exit 1
    fi
    echo "== installing ${apt_packages[*]}"
    sudo_if_needed apt-get update -qq
    # policy-rc.d exit 101: no service of these packages is started on install (nginx would
    # take port 80); removed again afterwards unless it was there before.
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | sudo_if_needed tee "$policy" >/dev/null
        sudo_if_needed chmod +x "$policy"
        trap 'sudo_if_needed rm -f "$policy"' EXIT
    fi
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_packages[@]}"
fi

# Python packages of the test peers (tests/peers/*.py), for the `python3` the tests run: each
# is installed when its import check fails.
pip_install() {
    echo "== installing the Python package $1"
    pip=(python3 -m pip install --quiet --disable-pip-version-check)
    # Debian's own python3 may lack pip and refuses a plain install (PEP 668): pip from Debian
    # then, into the user's site-packages.
    if ! "${pip[@]}" "$1"; then
        python3 -m pip --version >/dev/null 2>&1 ||
            sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip
        "${pip[@]}" --user --break-system-packages "$1"
    fi
}
python3 -c 'import websockets.asyncio.server, websockets.sync.client' >/dev/null 2>&1 ||
    pip_install 'websockets>=13'
python3 -c 'import smpplib.client, smpplib.gsm' >/dev/null 2>&1 || pip_install 'smpplib>=2.2.4'

# npm's `smpp` (node-smpp) for the SMPP message centre, installed globally: the peer loads it
# from `npm root -g` when it is not beside it.
if ! NODE_PATH="$(npm root -g)" node -e 'require("smpp")' >/dev/null 2>&1; then
    echo "== installing the npm package smpp"
    sudo_if_needed npm install --global --silent --no-audit --no-fund smpp@0.5.1
fi

# The toolchain's formatter and linter.
rust_components=()
cargo fmt --version >/dev/null 2>&1 || rust_components+=(rustfmt)
cargo clippy --version >/dev/null 2>&1 || rust_components+=(clippy)
if [ "${#rust_components[@]}" -gt 0 ]; then
    echo "== installing ${rust_components[*]}"
    rustup component add "${rust_components[@]}"
fi
