#!/usr/bin/env bash
# Builds everything, starts a local server on the SQLite default with the demo
# users (alice, bob, carol — password = name — group "team", and the
# echo-test contact "echo" answered by a bot) in the background, and launches
# the desktop app pointed at it. The server and the bot stop when the app
# exits. SOFTPHONE_NO_APP=1 runs the server and the bot only (headless hosts).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
(cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
cargo build --release --bins

DATA="${SOFTPHONE_DATA:-$HOME/.local/share/softphone}"
LISTEN="${SOFTPHONE_LISTEN:-127.0.0.1:8480}"
mkdir -p "$DATA"
DB="$DATA/server.db"
target/release/softphone-server --db "$DB" demo

target/release/softphone-server --db "$DB" serve --listen "$LISTEN" &
server=$!
bot=""
trap 'kill $bot "$server" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
CLI=(target/release/softphone-cli --server "http://$LISTEN")
for _ in $(seq 100); do
  "${CLI[@]}" --user echo --password echo users >/dev/null 2>&1 && break
  sleep 0.1
done
# The echo-test contact: call `echo` to hear yourself about a second later.
"${CLI[@]}" --user echo --password echo --device echo-bot echo-bot >"$DATA/echo-bot.log" 2>&1 &
bot=$!
echo "Server (pid $server) on http://$LISTEN with $DB; sign in as alice, bob or carol (password = name)."
echo "Call the echo-test contact \`echo\` to check your microphone and speakers."
echo "From a terminal:  ${CLI[*]} --user alice --password alice call bob"

if [ -n "${SOFTPHONE_NO_APP:-}" ]; then
  wait "$server"
  exit
fi
# Quit from the tray, or close the window: with this variable closing quits.
SOFTPHONE_QUIT_ON_CLOSE=1 SOFTPHONE_SERVER_URL="http://$LISTEN" target/release/softphone
