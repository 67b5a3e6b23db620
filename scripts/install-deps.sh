#!/usr/bin/env bash
# Installs every system package the build and the tests need, on Debian 12.
# Idempotent and quick when everything is there already.
set -euo pipefail

PACKAGES=(
  # build
  build-essential pkg-config cmake libasound2-dev libdbus-1-dev libssl-dev
  # video (crates/video): libvpx for VP8; libclang for the V4L2 bindings
  # that v4l2-sys-mit generates with bindgen at build time
  libvpx-dev libclang-dev
  # tests: sound server without hardware, speech, TURN, network namespaces
  pulseaudio pulseaudio-utils sox espeak-ng coturn nftables iproute2 procps openssl python3
  # desktop app (Tauri 2 on WebKitGTK 4.1, tray, keyring over D-Bus)
  libwebkit2gtk-4.1-dev librsvg2-dev libayatana-appindicator3-dev libxdo-dev
  # desktop app tests: a real window headless, WebDriver, session bus, keyring
  # daemon, notification daemon, screenshots
  xvfb xauth webkit2gtk-driver dbus dbus-x11 gnome-keyring libsecret-tools dunst
  libnotify-bin imagemagick
  # video screen-capture test: xsetroot paints the Xvfb root window
  x11-xserver-utils
  # the .deb install test (scripts/deb-install-test.sh): a fresh Debian root,
  # its cached tarball, the window check
  debootstrap zstd x11-utils
  # audio bench: the reference softphone it compares CPU with
  baresip
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# coturn's package starts a system service on some setups; the tests run their own.
if command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now coturn >/dev/null 2>&1 || true
fi

# Python tools of the audio tests: wideband PESQ (scripts/speech_score.py).
VENV="${SOFTPHONE_VENV:-$HOME/.cache/softphone/venv}"
if ! "$VENV/bin/python" -c 'import pesq, numpy, scipy' 2>/dev/null; then
  echo "installing the PESQ scorer into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check pesq numpy scipy
fi

command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
# The UI (Vite 7, Vitest) builds with the machine's Node.js 20 and npm; Debian
# 12's own nodejs is 18, too old for Vite 7, so it is not installed here.
command -v npm >/dev/null || { echo "npm not found: install Node.js 20 or newer with npm first" >&2; exit 1; }
