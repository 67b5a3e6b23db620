#!/usr/bin/env bash
# Builds everything and starts a local server on the SQLite default with the
# demo users (alice, bob, carol — password = name — and group "team").
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cargo build --release --bins

DATA="${SOFTPHONE_DATA:-$HOME/.local/share/softphone}"
mkdir -p "$DATA"
DB="$DATA/server.db"
target/release/softphone-server --db "$DB" demo
echo
echo "Server starting with $DB. In another terminal, for example:"
echo "  target/release/softphone-cli --user bob --password bob answer"
echo "  target/release/softphone-cli --user alice --password alice call bob --hangup-after 5"
exec target/release/softphone-server --db "$DB" serve --listen "${SOFTPHONE_LISTEN:-127.0.0.1:8480}"
