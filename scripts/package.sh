#!/usr/bin/env bash
# Builds the desktop app's installable package (.deb, with its desktop entry,
# icons and runtime dependencies) with the npm Tauri CLI: a release build
# plus about a minute. Prints the path of the .deb.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
(cd ui && npm ci --no-audit --no-fund --loglevel=error)
# The CLI takes the folder holding tauri.conf.json (here) as the app folder;
# its beforeBuildCommand builds the UI into ui/dist.
# Only the app package: the other crates' binaries are not in the package.
# What users install carries no debug info: the release profile's line
# tables (kept for benches and backtraces) make the binary ~190 MB, the
# .deb ~44 MB; without them ~28 MB and ~8 MB. Symbols stay: Tauri finds
# its bundle-type marker by symbol (a fully stripped binary breaks it).
export CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=debuginfo
ui/node_modules/.bin/tauri build --bundles deb -- -p softphone
ls -1 "${CARGO_TARGET_DIR:-target}"/release/bundle/deb/*.deb
