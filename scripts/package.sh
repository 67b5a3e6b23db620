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
ui/node_modules/.bin/tauri build --bundles deb -- -p softphone
ls -1 "${CARGO_TARGET_DIR:-target}"/release/bundle/deb/*.deb
