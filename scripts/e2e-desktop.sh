#!/usr/bin/env bash
# End-to-end test of the desktop app in a real window: the built app
# (target/debug/softphone) under Xvfb, driven through tauri-driver +
# WebKitWebDriver, with a private session bus, an unlocked gnome-keyring and
# a server with the demo users, and a private PulseAudio server whose null
# sinks stand in for the speakers (the app's audio is recorded from their
# monitors and scored with scripts/speech_score.py), and video calls (1:1
# and a group of three through the forwarder) whose remote test patterns
# must be on screen. The scenario is in scripts/e2e_desktop.py;
# screenshots go to artifacts/desktop/. Everything lives in a temp dir
# (HOME, XDG_*) and everything started is stopped by pid.
#
# SOFTPHONE_BIN_DIR overrides where softphone, softphone-server and
# softphone-cli are taken from (default: the debug build).
# Needs: the UI built (ui/dist) and `cargo build --workspace --bins` done;
# tauri-driver is installed here when missing; pulseaudio, parecord/paplay,
# espeak-ng, sox and the speech scorer's venv come from scripts/install-deps.sh.
# SOFTPHONE_E2E_AEC=0 runs the calls with the echo canceller off (on by
# default, as in the app; see e2e_desktop.py), and
# SOFTPHONE_E2E_STACKS=1 saves gdb stacks of the app in a call, and
# SOFTPHONE_E2E_ONLY=video runs the video-call scenes alone (after sign-in).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"

if ! command -v tauri-driver >/dev/null 2>&1; then
  echo "installing tauri-driver (cargo install --locked)" >&2
  cargo install tauri-driver --locked --quiet
fi

tmp="$(mktemp -d)"
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
mkdir -p "$tmp/home" "$tmp/config" "$tmp/data" "$tmp/cache" "$tmp/run"
chmod 700 "$tmp/run"

# Cargo, rustup and the speech scorer's venv (scripts/install-deps.sh) keep
# their own homes when HOME moves.
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
export SOFTPHONE_VENV="${SOFTPHONE_VENV:-$HOME/.cache/softphone/venv}"
export PATH="$CARGO_HOME/bin:$PATH"
export HOME="$tmp/home" XDG_CONFIG_HOME="$tmp/config" XDG_DATA_HOME="$tmp/data" \
  XDG_CACHE_HOME="$tmp/cache" XDG_RUNTIME_DIR="$tmp/run"
export SOFTPHONE_E2E_TMP="$tmp" SOFTPHONE_BIN_DIR="${SOFTPHONE_BIN_DIR:-$TARGET/debug}" \
  SOFTPHONE_ARTIFACTS="$ROOT/artifacts/desktop"
export NO_AT_BRIDGE=1 GDK_BACKEND=x11 RUST_LOG="${RUST_LOG:-info}"

exec dbus-run-session -- sh -c '
  printf test | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  exec python3 "$0"' "$ROOT/scripts/e2e_desktop.py"
