#!/usr/bin/env bash
# Everything CI checks, in the order a failure is cheapest to find. Run from anywhere.
# Installs what the tests need first (scripts/install-test-deps.sh: SIPp, rustfmt, clippy).
set -euo pipefail
cd "$(dirname "$0")/.."

# The runtimes whose binaries the end-to-end suite (package switchboard-tests) drives. The
# first runs with the whole workspace; each other runs the suite again once its package builds
# its binary.
RUNTIMES="tokio smol"

# A runtime's package and binary (the same table as tests/src/lib.rs).
runtime_package() {
    case "$1" in
        tokio) echo switchboard-tokio ;;
        smol) echo switchboard-smol ;;
        *) echo "unknown runtime $1" >&2; exit 1 ;;
    esac
}
runtime_binary() {
    case "$1" in
        tokio) echo switchboard ;;
        smol) echo switchboard-smol ;;
        *) echo "unknown runtime $1" >&2; exit 1 ;;
    esac
}

# Each run tests a runtime's own binary, not one named from outside.
unset SWITCHBOARD_BIN

bash scripts/install-test-deps.sh
echo "== format"
cargo fmt --all -- --check
echo "== core dependency check"
bash scripts/check-core-deps.sh
echo "== clippy (warnings are errors; the core's clippy.toml forbids clocks and HashMap)"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== build the binaries (the end-to-end tests start them)"
cargo build --workspace --bins --locked
first=${RUNTIMES%% *}
echo "== build and test (end-to-end suite on the $first runtime)"
SWITCHBOARD_RUNTIME=$first cargo test --workspace --locked
for runtime in $RUNTIMES; do
    [ "$runtime" = "$first" ] && continue
    package=$(runtime_package "$runtime")
    binary=$(runtime_binary "$runtime")
    # Built above if the package has the binary target; this only asks cargo whether it has.
    if ! out=$(cargo build --locked --quiet -p "$package" --bin "$binary" 2>&1); then
        if grep -q "no bin target named\|did not match any packages" <<<"$out"; then
            echo "== end-to-end suite on the $runtime runtime: skipped, $package has no $binary binary yet"
            continue
        fi
        echo "$out" >&2
        exit 1
    fi
    echo "== end-to-end suite on the $runtime runtime ($binary)"
    SWITCHBOARD_RUNTIME=$runtime cargo test -p switchboard-tests --locked
done
echo "== all checks passed"
