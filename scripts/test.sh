#!/usr/bin/env bash
# Everything CI checks, in the order a failure is cheapest to find. Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== format"
cargo fmt --all -- --check
echo "== core dependency check"
bash scripts/check-core-deps.sh
echo "== clippy (warnings are errors; the core's clippy.toml forbids clocks and HashMap)"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== build and test"
cargo test --workspace --locked
echo "== all checks passed"
