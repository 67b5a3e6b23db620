#!/usr/bin/env bash
# The one test command (README, CI): installs what is missing, checks
# formatting and lints, then builds and runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

# Reuse build results between runs on the same machine (CI clones afresh).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${SOFTPHONE_CACHE:-$HOME/.cache/softphone}/target}"
export CARGO_TERM_COLOR=never

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo build (binaries the end-to-end tests run)"
cargo build --workspace --bins --locked

echo "== cargo test"
cargo test --workspace --locked -- --test-threads="${TEST_THREADS:-4}"
