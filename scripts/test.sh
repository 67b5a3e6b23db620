#!/usr/bin/env bash
# The one test command (README, CI): installs what is missing, checks
# formatting and lints, then builds and runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

# Reuse build results between runs of the same checkout (CI clones afresh
# into the same place each time). Keyed by the checkout's path: tests embed
# their source directory at compile time (insta snapshots, docs read by
# tests), so two checkouts sharing one target dir would run each other's.
checkout_key="$(pwd | sha256sum | cut -c1-8)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${SOFTPHONE_CACHE:-$HOME/.cache/softphone}/target-$checkout_key}"
export CARGO_TERM_COLOR=never
# Incremental artefacts would take ~3 GB more of the cache for nothing: the
# test command rebuilds whole crates anyway.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

echo "== UI: npm ci, type check, unit tests (Vitest), build into ui/dist"
# Before the cargo steps: the desktop app embeds ui/dist when it compiles.
(
  cd ui
  npm ci --no-audit --no-fund --loglevel=error
  npm run --silent check
  npm test --silent
  npm run --silent build
)

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo build (binaries the end-to-end tests run)"
cargo build --workspace --bins --locked

echo "== cargo test"
# --no-fail-fast: one failing test binary does not hide the others.
cargo test --workspace --locked --no-fail-fast -- --test-threads="${TEST_THREADS:-4}"

echo "== desktop app: the OS keyring (Secret Service) under a session bus with an unlocked gnome-keyring"
keyring_home="$(mktemp -d)"
trap 'rm -rf "$keyring_home"' EXIT
mkdir -m 700 "$keyring_home/run"
XDG_DATA_HOME="$keyring_home" XDG_RUNTIME_DIR="$keyring_home/run" SOFTPHONE_REQUIRE_KEYRING=1 \
  dbus-run-session -- sh -c 'printf test | gnome-keyring-daemon --unlock --components=secrets >/dev/null &&
    exec cargo test -p softphone --locked secret_service -- --nocapture'

if [ -z "${SOFTPHONE_SKIP_DESKTOP_E2E:-}" ]; then
  echo "== desktop app end to end in a real window (Xvfb, tauri-driver, keyring, notifications)"
  scripts/e2e-desktop.sh
fi

if [ -z "${SOFTPHONE_SKIP_DEB_TEST:-}" ]; then
  echo "== the .deb (release build) installs on a fresh Debian 12 root and the installed app starts"
  scripts/deb-install-test.sh
fi
