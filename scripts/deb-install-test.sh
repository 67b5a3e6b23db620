#!/usr/bin/env bash
# The .deb installs on a fresh Debian 12 and its binary starts. Needs root
# (debootstrap, chroot, mounts).
#
#   scripts/deb-install-test.sh [path/to/Softphone_*.deb]
#
# Without an argument the .deb is built with scripts/package.sh (release build
# in "${CARGO_TARGET_DIR:-target}", reused between runs). Then, in a fresh
# minimal Debian 12 root (debootstrap --variant=minbase, cached as a tarball):
#   1. plain `dpkg -i` fails, only with "dependency problems", naming exactly
#      the declared Depends that the fresh root lacks, and `apt-get -f install`
#      would complete it (simulated: `apt-get -s -f install`); then removed;
#   2. `apt-get install ./Softphone_*.deb` installs it with what its Depends
#      pull in (without Recommends: the Depends alone must be enough);
#   3. every shared library of /usr/bin/softphone resolves inside the root
#      (ldd), and each one it links directly comes from a declared package,
#      the fresh root or a direct dependency of a declared package; the one
#      desktop entry starts the binary and names an icon installed under
#      /usr/share/icons/hicolor (square PNGs);
#   4. the installed app, run in the root as a normal user against an Xvfb on
#      the host (the root holds only what the package pulled in): with no
#      session bus (so no keyring and no notification daemon), then with a
#      session bus that has neither (a desktop without gnome-keyring; the app
#      must be connected to it), it maps its window "Softphone", paints its UI
#      (screenshot not blank: artifacts/deb/) and is still alive 10 s after the
#      start, without a panic.
# Prints the .deb size, its installed size, what its Depends pull in, the
# time from starting the binary to its window being mapped and to its UI
# being painted (artifacts/deb/figures.txt; logs of each step there too).
#
# Caches in ${SOFTPHONE_CACHE:-~/.cache/softphone}/deb-test: the pristine root
# (rebuilt when missing or older than SOFTPHONE_DEB_ROOT_MAX_DAYS, default
# 30), apt's package lists and downloaded packages. The root is unpacked on a
# tmpfs when memory allows (SOFTPHONE_DEB_TMPFS=0/1 forces it). Everything
# started is stopped by pid, every mount is undone (also on failure or
# Ctrl-C) and the root is deleted only when nothing is mounted below it.
# SOFTPHONE_DEB_RECOMMENDS=1 installs with Recommends (apt's default).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
ART="$REPO/artifacts/deb"
CACHE="${SOFTPHONE_CACHE:-$HOME/.cache/softphone}/deb-test"
MIRROR="${SOFTPHONE_DEB_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${SOFTPHONE_DEB_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
SUITE=bookworm
ARCH="$(dpkg --print-architecture)"
TARBALL="$CACHE/$SUITE-minbase-$ARCH.tar.zst"
ALIVE_SECS=10
APP_USER=phoneuser
APP_UID=4242
t0=$(date +%s.%N)

say() { echo "== deb: $*"; }
die() {
  echo "deb-install-test: FAILED: $*" >&2
  exit 1
}
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# ---------------------------------------------------------------- cleanup
WORK=""
R=""
BUILD_TMP="" # a root being debootstrapped into the cache
PIDS=()     # host processes we started (Xvfb, dbus-daemon)
APP_PGID=""    # the app's process group (it runs in a session of its own)
ALIVE_CHECK="" # a check to run while the app is up

# Mount points at or below $1, deepest first.
mounts_under() {
  awk -v d="$1" '{ p = $5; gsub(/\\040/, " ", p); if (p == d || index(p, d "/") == 1) print p }' \
    /proc/self/mountinfo | sort -r
}

unmount_under() {
  local dir=$1 m
  for _ in 1 2 3; do
    [ -z "$(mounts_under "$dir")" ] && return 0
    while read -r m; do
      [ -n "$m" ] && umount -R "$m" 2>/dev/null
    done <<<"$(mounts_under "$dir")"
    [ -z "$(mounts_under "$dir")" ] && return 0
    sleep 1
  done
  # Still busy: detach them (they vanish from the tree, so deleting the
  # directory cannot reach through them).
  while read -r m; do
    [ -n "$m" ] && umount -R -l "$m" 2>/dev/null
  done <<<"$(mounts_under "$dir")"
  [ -z "$(mounts_under "$dir")" ]
}

# Deletes a directory only when nothing is mounted below it.
safe_rm() {
  local dir=$1
  [ -n "$dir" ] && [ -d "$dir" ] || return 0
  if ! unmount_under "$dir"; then
    echo "deb-install-test: still mounted below $dir, NOT deleting it:" >&2
    mounts_under "$dir" >&2
    return 1
  fi
  rm -rf --one-file-system "$dir"
}

# Processes whose root directory is the test root: the app and whatever it
# started (WebKit's helper processes, ...), all ours.
root_pids() {
  local p
  [ -n "$R" ] || return 0
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$R" ] && echo "${p#/proc/}"
  done
  return 0
}

stop_pids() { # stop_pids PID...: TERM, up to 5 s, then KILL
  local p alive
  (($#)) || return 0
  kill -TERM "$@" 2>/dev/null
  for _ in $(seq 50); do
    alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || return 0
    sleep 0.1
  done
  kill -KILL "$@" 2>/dev/null
  return 0
}

stop_app() {
  local pids
  if [ -n "$APP_PGID" ]; then
    kill -TERM -- "-$APP_PGID" 2>/dev/null
    mapfile -t pids < <(root_pids)
    stop_pids "${pids[@]}"
    APP_PGID=""
  fi
}

cleanup() {
  local rc=$? pids
  set +e
  trap - EXIT INT TERM
  stop_app
  mapfile -t pids < <(root_pids)
  stop_pids "${pids[@]}"
  ((${#PIDS[@]})) && stop_pids "${PIDS[@]}"
  wait 2>/dev/null
  if [ -n "$WORK" ]; then
    safe_rm "$WORK" || rc=1
  fi
  if [ -n "$BUILD_TMP" ]; then
    safe_rm "$BUILD_TMP" || rc=1
  fi
  if ((rc)); then
    echo "deb-install-test: failed after $(secs "$t0" "$(date +%s.%N)") s; logs in $ART/" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run NAME CMD...: runs CMD with its output in $ART/NAME.log; on failure says
# which step, which command and the tail of its output.
run() {
  local name=$1
  shift
  if ! "$@" >"$ART/$name.log" 2>&1; then
    echo "deb-install-test: step '$name' failed: $*" >&2
    echo "--- last lines of $ART/$name.log:" >&2
    tail -n 25 "$ART/$name.log" | sed 's/^/    /' >&2
    exit 1
  fi
}

# in_root CMD...: CMD inside the root, as root, with a clean environment.
in_root() {
  chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive ${http_proxy:+http_proxy="$http_proxy"} "$@"
}

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mounts); SOFTPHONE_SKIP_DEB_TEST=1 skips it in scripts/test.sh"
rm -rf "$ART"
mkdir -p "$ART" "$CACHE"
run install-deps scripts/install-deps.sh

# ---------------------------------------------------------------- the .deb
if (($#)); then
  DEB="$(realpath "$1")"
  [ -f "$DEB" ] || die "no such .deb: $1"
else
  say "building the .deb (scripts/package.sh, release build in ${CARGO_TARGET_DIR:-target})"
  run package scripts/package.sh
  DEB="$(tail -n 1 "$ART/package.log")"
  [ -f "$DEB" ] || die "scripts/package.sh did not print the path of a .deb (last line: '$DEB')"
fi
t_built=$(date +%s.%N)
DEB_NAME="$(basename "$DEB")"
PKG="$(dpkg-deb -f "$DEB" Package)"
DEPENDS="$(dpkg-deb -f "$DEB" Depends)"
# The package names in Depends (alternatives and versions dropped: first of each).
mapfile -t DEP_NAMES < <(tr ',' '\n' <<<"$DEPENDS" | sed 's/|.*//; s/(.*//; s/:.*//; s/[[:space:]]//g' | grep -v '^$')
say "$DEB_NAME: Package $PKG, Depends: $DEPENDS"
((${#DEP_NAMES[@]})) || die "the .deb declares no Depends"

# ---------------------------------------------------------------- the root
# The pristine root: debootstrap once, then only unpacked. Built under a
# lock (two runs at once share the cache) and moved into place when whole.
build_root_tarball() {
  exec 9>"$CACHE/root.lock"
  flock 9
  if [ -f "$TARBALL" ] && [ -z "$(find "$TARBALL" -mtime +"${SOFTPHONE_DEB_ROOT_MAX_DAYS:-30}")" ]; then
    exec 9>&-
    return 0
  fi
  say "debootstrap --variant=minbase $SUITE (cached in $TARBALL)"
  # Deleted by cleanup on failure (debootstrap mounts /proc and /sys in the
  # target and may leave them mounted when it fails).
  BUILD_TMP="$(mktemp -d "$CACHE/root-build.XXXXXX")"
  run debootstrap debootstrap --variant=minbase "$SUITE" "$BUILD_TMP/root" "$MIRROR"
  unmount_under "$BUILD_TMP/root" || die "debootstrap left mounts below $BUILD_TMP/root"
  rm -f "$BUILD_TMP/root/var/cache/apt/archives/"*.deb
  tar --numeric-owner -C "$BUILD_TMP/root" -cf - . | zstd -q -T0 -3 -o "$BUILD_TMP/root.tar.zst"
  mv -f "$BUILD_TMP/root.tar.zst" "$TARBALL"
  safe_rm "$BUILD_TMP"
  BUILD_TMP=""
  exec 9>&-
}
command -v debootstrap >/dev/null || die "debootstrap is missing (scripts/install-deps.sh installs it)"
build_root_tarball
t_rooted=$(date +%s.%N)

WORK="$(mktemp -d "${TMPDIR:-/tmp}/softphone-deb.XXXXXX")"
# The root lives in memory when there is room (about 1.1 GB once installed):
# dpkg's many fsyncs cost nothing there and deleting it is an unmount.
mem_kb=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
if [ "${SOFTPHONE_DEB_TMPFS:-$(((mem_kb > 6 * 1024 * 1024) ? 1 : 0))}" = 1 ]; then
  mount -t tmpfs -o size=4g,mode=700 softphone-deb "$WORK"
fi
R="$WORK/root"
mkdir "$R"
zstd -dc "$TARBALL" | tar --numeric-owner -xpf - -C "$R" || die "unpacking $TARBALL failed (delete it to rebuild)"

# apt inside the root reaches the same archive as the host: the release,
# its updates and the security archive.
cp /etc/resolv.conf "$R/etc/resolv.conf"
cat >"$R/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF
# No service starts from maintainer scripts inside the root.
printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
chmod 755 "$R/usr/sbin/policy-rc.d"
if [ -z "${SOFTPHONE_DEB_RECOMMENDS:-}" ]; then
  echo 'APT::Install-Recommends "false";' >"$R/etc/apt/apt.conf.d/90no-recommends"
fi

# Mounts: the kernel's file systems, the host's X socket directory, and the
# cache of apt lists and packages. Recursive binds are made slaves so that
# nothing done below them reaches the host's mounts.
mkdir -p "$CACHE/apt-archives/partial" "$CACHE/apt-lists/partial" "$R/tmp/.X11-unix"
mount -t proc proc "$R/proc"
mount --rbind /sys "$R/sys"
mount --make-rslave "$R/sys"
mount --rbind /dev "$R/dev"
mount --make-rslave "$R/dev"
mount --bind /tmp/.X11-unix "$R/tmp/.X11-unix"
mount --make-private "$R/tmp/.X11-unix"
mount --bind "$CACHE/apt-archives" "$R/var/cache/apt/archives"
mount --make-private "$R/var/cache/apt/archives"
mount --bind "$CACHE/apt-lists" "$R/var/lib/apt/lists"
mount --make-private "$R/var/lib/apt/lists"

mkdir -p "$R/tmp/pkg"
cp "$DEB" "$R/tmp/pkg/"
say "apt-get update in the root"
run apt-update in_root apt-get update -q
in_root dpkg-query -W -f='${Package}\n' >"$ART/root-packages.txt"

# ---------------------------------------------------------------- 1. dpkg -i
say "dpkg -i alone: must fail only for the declared Depends missing from the root"
dpkg_ok=0
in_root dpkg -i "/tmp/pkg/$DEB_NAME" >"$ART/dpkg-i.log" 2>&1 && dpkg_ok=1
# Which declared Depends the fresh root lacks (what dpkg must complain about).
absent=()
for d in "${DEP_NAMES[@]}"; do
  in_root dpkg-query -W -f='${Status}' "$d" 2>/dev/null | grep -q "install ok installed" || absent+=("$d")
done
complained=$(sed -n 's/^ *Package \([^ ]*\) is not installed\.$/\1/p' "$ART/dpkg-i.log" | sed 's/:.*//' | sort -u)
reasons=$(grep -A1 '^dpkg: error processing' "$ART/dpkg-i.log" | grep -v '^dpkg: error processing' | grep -v '^--$' | sort -u || true)
expected=$(printf '%s\n' "${absent[@]}" | grep -v '^$' | sort -u || true)
if ((${#absent[@]})); then
  ((!dpkg_ok)) || die "dpkg -i succeeded although the root lacks: ${absent[*]}"
  [ "$reasons" = " dependency problems - leaving unconfigured" ] ||
    die "dpkg -i failed for something other than missing dependencies (see $ART/dpkg-i.log):
$(tail -n 15 "$ART/dpkg-i.log")"
  [ "$complained" = "$expected" ] ||
    die "dpkg -i complained about missing packages [$(tr '\n' ' ' <<<"$complained")] but the declared Depends missing from the root are [$(tr '\n' ' ' <<<"$expected")] (see $ART/dpkg-i.log)"
  status=$(in_root dpkg-query -W -f='${Status}' "$PKG")
  [ "$status" = "install ok unpacked" ] || die "after dpkg -i, $PKG is '$status', expected unpacked"
  run apt-f-install-sim in_root apt-get -s -f install
  grep -q "^Conf $PKG " "$ART/apt-f-install-sim.log" ||
    die "apt-get -s -f install would not configure $PKG (see $ART/apt-f-install-sim.log)"
  echo "   dpkg -i: unpacked, missing exactly: ${absent[*]}; apt-get -f install would install $(grep -c '^Inst ' "$ART/apt-f-install-sim.log") packages and configure $PKG"
  run dpkg-remove in_root dpkg --remove "$PKG"
else
  ((dpkg_ok)) || die "dpkg -i failed although the root has every Depends (see $ART/dpkg-i.log)"
  echo "   the root already has every Depends; dpkg -i installed it"
  run dpkg-remove in_root dpkg --remove "$PKG"
fi

# ---------------------------------------------------------------- 2. apt-get install
say "apt-get install ./$DEB_NAME${SOFTPHONE_DEB_RECOMMENDS:+ (with Recommends)}"
t_apt=$(date +%s.%N)
run apt-install in_root sh -c "cd /tmp/pkg && apt-get install -y ./$DEB_NAME"
t_apt_done=$(date +%s.%N)
status=$(in_root dpkg-query -W -f='${Status}' "$PKG")
[ "$status" = "install ok installed" ] || die "after apt-get install, $PKG is '$status'"
n_new=$(sed -n 's/.* \([0-9]*\) newly installed.*/\1/p' "$ART/apt-install.log")
need_get=$(sed -n 's/^Need to get \(.*\) of archives\.$/\1/p' "$ART/apt-install.log" | head -n 1)
disk_added=$(sed -n 's/^After this operation, \(.*\) of additional disk space will be used\.$/\1/p' "$ART/apt-install.log" | head -n 1)

# ---------------------------------------------------------------- 3. files
say "the binary's libraries, the desktop entry, the icons"
BIN=/usr/bin/softphone
[ -x "$R$BIN" ] || die "$BIN is not installed"
in_root ldd "$BIN" >"$ART/ldd.txt" 2>&1 || die "ldd $BIN failed: $(tail -n 5 "$ART/ldd.txt")"
if grep -q 'not found' "$ART/ldd.txt"; then
  die "libraries of $BIN not found in the root (missing from Depends):
$(grep 'not found' "$ART/ldd.txt")"
fi
# Each library the binary links directly must come from a package the .deb
# declares, from the fresh root (Debian's required packages: libc6, ...),
# or be a direct dependency of a declared package (GTK's GLib, WebKit's
# libsoup, ...): a library that the root happens to have through a longer
# chain (e.g. libasound2 through WebKit's speech synthesis) may vanish on
# the next upgrade of that chain.
pkg_of() { # the package holding a file, trying both sides of the merged /usr
  local alt
  case $1 in
    /usr/*) alt=${1#/usr} ;;
    *) alt=/usr$1 ;;
  esac
  { in_root dpkg -S "$1" 2>/dev/null || in_root dpkg -S "$alt" 2>/dev/null || true; } | head -n 1 | cut -d: -f1
}
direct=" "
for d in "${DEP_NAMES[@]}"; do
  direct+="$(in_root dpkg-query -W -f='${Depends}, ${Pre-Depends}' "$d" | tr ',|' '\n\n' |
    sed 's/(.*//; s/:.*//; s/[[:space:]]//g' | tr '\n' ' ')"
done
objdump -p "$R$BIN" | awk '/NEEDED/ { print $2 }' >"$ART/needed.txt"
undeclared=()
while read -r lib; do
  path=$(awk -v l="$lib" '$1 == l { print $3 } index($1, "/" l) { print $1 }' "$ART/ldd.txt" | head -n 1)
  [ -n "$path" ] || die "ldd does not list $lib, which $BIN needs"
  pkg=$(pkg_of "$path")
  [ -n "$pkg" ] || die "no package in the root holds $path ($lib)"
  if printf '%s\n' "${DEP_NAMES[@]}" | grep -qx "$pkg"; then
    how=declared
  elif grep -qx "$pkg" "$ART/root-packages.txt"; then
    how="in the fresh root"
  elif [[ "$direct" == *" $pkg "* ]]; then
    how="dependency of a declared package"
  else
    how="NOT DECLARED"
    undeclared+=("$pkg ($lib)")
  fi
  echo "$lib $pkg: $how"
done <"$ART/needed.txt" >"$ART/needed-packages.txt"
((${#undeclared[@]} == 0)) ||
  die "$BIN links libraries whose packages the .deb does not declare (add them to bundle.linux.deb.depends in tauri.conf.json): ${undeclared[*]}"

in_root dpkg -L "$PKG" >"$ART/files.txt"
mapfile -t desktops < <(grep '^/usr/share/applications/.*\.desktop$' "$ART/files.txt")
((${#desktops[@]} == 1)) || die "expected one desktop entry in /usr/share/applications, the package has: ${desktops[*]:-none}"
desktop="$R${desktops[0]}"
grep -qx 'Type=Application' "$desktop" || die "${desktops[0]}: no Type=Application"
exec_cmd=$(sed -n 's/^Exec=\([^ ]*\).*/\1/p' "$desktop" | head -n 1)
case "$exec_cmd" in
  /*) exec_path="$exec_cmd" ;;
  *) exec_path="/usr/bin/$exec_cmd" ;;
esac
[ "$exec_path" = "$BIN" ] || die "${desktops[0]}: Exec=$exec_cmd does not start $BIN"
icon=$(sed -n 's/^Icon=//p' "$desktop" | head -n 1)
[ -n "$icon" ] || die "${desktops[0]}: no Icon="
mapfile -t icons < <(grep "^/usr/share/icons/hicolor/.*/apps/$icon\.png$" "$ART/files.txt")
((${#icons[@]})) || die "no icon $icon.png under /usr/share/icons/hicolor in the package"
icon_sizes=""
for i in "${icons[@]}"; do
  size=$(identify -format '%wx%h' "$R$i" 2>/dev/null) || die "$i is not a readable image"
  [ "${size%x*}" = "${size#*x}" ] || die "$i is $size, not square"
  icon_sizes+=" $(basename "$(dirname "$(dirname "$i")")"):$size"
done
echo "   ldd: $(wc -l <"$ART/ldd.txt") libraries, all found; the $(wc -l <"$ART/needed.txt") it links directly come from declared packages, the fresh root or direct dependencies of declared packages"
echo "   ${desktops[0]} (Exec=$exec_cmd, Icon=$icon); icons (dir:image):$icon_sizes"

# ---------------------------------------------------------------- 4. start it
# The app runs as a normal user of the root, with its own home.
in_root useradd -m -u "$APP_UID" -s /bin/sh "$APP_USER" >/dev/null
APP_HOME="/home/$APP_USER"
mkdir -p "$R/run/user"
mkdir -m 700 "$R/run/user/$APP_UID"
chown "$APP_UID:$APP_UID" "$R/run/user/$APP_UID"

# Xvfb on the host; -displayfd prints the display it took once it listens.
exec 8>"$WORK/display"
Xvfb -displayfd 8 -screen 0 1280x800x24 -nolisten tcp >"$ART/xvfb.log" 2>&1 &
PIDS+=($!)
exec 8>&-
for _ in $(seq 100); do
  [ -s "$WORK/display" ] && break
  kill -0 "${PIDS[-1]}" 2>/dev/null || die "Xvfb exited: $(tail -n 5 "$ART/xvfb.log")"
  sleep 0.1
done
[ -s "$WORK/display" ] || die "Xvfb did not report a display within 10 s"
DISPLAY_NUM=":$(head -n 1 "$WORK/display")"
[ -S "$R/tmp/.X11-unix/X${DISPLAY_NUM#:}" ] || die "the X socket of $DISPLAY_NUM is not visible inside the root"

# The window named after the app (the title in tauri.conf.json), if
# viewable: prints its id and geometry (WxH+X+Y).
TITLE=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["app"]["windows"][0]["title"])' tauri.conf.json)
MIN_COLOURS=32 # a window showing the UI has hundreds; a blank one 1 or 2
mapped_window() {
  local id
  for id in $(xwininfo -display "$DISPLAY_NUM" -root -tree 2>/dev/null | awk -v t="\"$TITLE\":" '$2 == t { print $1 }'); do
    xwininfo -display "$DISPLAY_NUM" -id "$id" 2>/dev/null | awk -v id="$id" '
      /Absolute upper-left X:/ { x = $NF } /Absolute upper-left Y:/ { y = $NF }
      /^ *Width:/ { w = $NF } /^ *Height:/ { h = $NF }
      /Map State: IsViewable/ { v = 1 }
      END { if (v) printf "%s %dx%d+%d+%d\n", id, w, h, x, y }'
  done | head -n 1
}

# start_app NAME [VAR=VALUE...]: starts the app in the root, waits for its
# window, checks it is alive after ALIVE_SECS and takes a screenshot.
start_app() {
  local name=$1 t_start t_map="" t_paint="" now win geom id colours
  shift
  local log="$ART/app-$name.log"
  t_start=$(date +%s.%N)
  # setsid: the app and its helpers get a process group of their own.
  setsid chroot --userspec="$APP_UID:$APP_UID" "$R" /usr/bin/env -i \
    PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 USER="$APP_USER" LOGNAME="$APP_USER" \
    HOME="$APP_HOME" XDG_CONFIG_HOME="$APP_HOME/.config" XDG_DATA_HOME="$APP_HOME/.local/share" \
    XDG_CACHE_HOME="$APP_HOME/.cache" XDG_RUNTIME_DIR="/run/user/$APP_UID" \
    DISPLAY="$DISPLAY_NUM" RUST_LOG=info "$@" "$BIN" >"$log" 2>&1 &
  APP_PGID=$!
  while :; do
    now=$(date +%s.%N)
    if ! kill -0 "$APP_PGID" 2>/dev/null; then
      local st=0
      wait "$APP_PGID" || st=$?
      APP_PGID=""
      die "the app ($name) exited with status $st after $(secs "$t_start" "$now") s; last lines of $log:
$(tail -n 20 "$log")"
    fi
    if [ -z "$t_map" ]; then
      win=$(mapped_window)
      if [ -n "$win" ]; then
        t_map=$now
        id=${win% *}
      fi
    fi
    # Painted: the window shows the UI (many colours), not an empty surface.
    if [ -n "$t_map" ] && [ -z "$t_paint" ]; then
      now=$(date +%s.%N)
      colours=$(import -display "$DISPLAY_NUM" -window "$id" png:- 2>/dev/null |
        convert - -format '%k' info: 2>/dev/null || true)
      [[ "$colours" =~ ^[0-9]+$ ]] || colours=0
      ((colours >= MIN_COLOURS)) && t_paint=$now
    fi
    [ "$(secs "$t_start" "$now" | tr -d .)" -ge "$((ALIVE_SECS * 100))" ] && break
    sleep 0.05
  done
  [ -n "$t_map" ] || die "the app ($name) is running but no viewable window \"$TITLE\" appeared in ${ALIVE_SECS} s on $DISPLAY_NUM; windows:
$(xwininfo -display "$DISPLAY_NUM" -root -tree | grep '"' | head -n 20)"
  win=$(mapped_window)
  [ -n "$win" ] || die "the window \"$TITLE\" ($name) was mapped, then went away"
  geom=${win#* }
  [ -z "$ALIVE_CHECK" ] || "$ALIVE_CHECK"
  if grep -q 'panicked' "$log"; then
    die "the app ($name) panicked: $(grep -m1 -A2 panicked "$log")"
  fi
  import -display "$DISPLAY_NUM" -window root "$ART/screen-$name.png" ||
    die "import -window root failed on $DISPLAY_NUM"
  # Not blank: the window's part of the screen has many colours (a blank or
  # failed webview is one or two), and the screen is not one colour.
  colours_screen=$(convert "$ART/screen-$name.png" -format '%k' info:)
  colours_window=$(convert "$ART/screen-$name.png" -crop "$geom" +repage -format '%k' info:)
  ((colours_screen > 1)) || die "the screenshot $ART/screen-$name.png is a single colour"
  ((colours_window >= MIN_COLOURS)) ||
    die "the window ($geom) in $ART/screen-$name.png has only $colours_window colours: blank?"
  rss_kb=$(awk '/^VmRSS/ { print $2 }' "/proc/$APP_PGID/status")
  map_secs=$(secs "$t_start" "$t_map")
  [ -n "$t_paint" ] || die "the window ($name) never showed the UI in ${ALIVE_SECS} s (fewer than $MIN_COLOURS colours)"
  paint_secs=$(secs "$t_start" "$t_paint")
  echo "   $name: window $geom mapped $map_secs s after start, UI painted after $paint_secs s, alive after ${ALIVE_SECS} s (RSS $((rss_kb / 1024)) MB), screenshot $colours_window colours in the window"
  stop_app
  # The window must be gone with the app, so that the next start is seen afresh.
  for _ in $(seq 50); do
    [ -z "$(mapped_window)" ] && break
    sleep 0.1
  done
}

say "starting $BIN in the root on $DISPLAY_NUM, no session bus"
start_app no-bus
map_no_bus=$map_secs
paint_no_bus=$paint_secs

# A session bus of the app's user, run on the host (the root has no dbus
# daemon: not a dependency) with its socket inside the root. It has neither
# a keyring nor a notification daemon, like a desktop without gnome-keyring.
# dbus-daemon must know the user: it runs in a mount namespace of its own
# where /etc/passwd and /etc/group are the root's.
say "starting $BIN in the root with a session bus that has no keyring and no notification daemon"
BUS_DIR="$R/run/user/$APP_UID"
BUS="unix:path=/run/user/$APP_UID/bus"
chmod 711 "$WORK"
mkdir -m 755 "$WORK/dbus"
cat >"$WORK/dbus/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$BUS_DIR/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF
chmod 644 "$WORK/dbus/bus.conf"
# shellcheck disable=SC2016 # expanded by the inner shell
unshare -m --propagation private sh -c 'mount --bind "$1/etc/passwd" /etc/passwd &&
  mount --bind "$1/etc/group" /etc/group &&
  exec setpriv --reuid "$2" --regid "$2" --clear-groups dbus-daemon --config-file="$3" --nofork --nopidfile' \
  sh "$R" "$APP_UID" "$WORK/dbus/bus.conf" >"$ART/dbus.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do
  [ -S "$BUS_DIR/bus" ] && break
  sleep 0.1
done
[ -S "$BUS_DIR/bus" ] || die "dbus-daemon did not create $BUS_DIR/bus: $(tail -n 5 "$ART/dbus.log")"

bus_call() { # bus_call METHOD [ARG]: a call to the bus itself, as the app's user
  setpriv --reuid "$APP_UID" --regid "$APP_UID" --clear-groups \
    env DBUS_SESSION_BUS_ADDRESS="unix:path=$BUS_DIR/bus" \
    dbus-send --session --print-reply --dest=org.freedesktop.DBus / "org.freedesktop.DBus.$1" ${2:+"$2"}
}
# The app must really be on that bus: connections that belong to processes
# in the root.
check_bus() {
  local names name pid owned="" n=0
  names=$(bus_call ListNames) || die "cannot list the names on the session bus"
  for name in $(sed -n 's/^ *string "\(.*\)"$/\1/p' <<<"$names"); do
    # (a name may be gone by now: dbus-send's own, for one)
    pid=$(bus_call GetConnectionUnixProcessID "string:$name" 2>/dev/null | awk '/uint32/ { print $2 }' || true)
    [ -n "$pid" ] && [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$R" ] || continue
    case $name in
      :*) n=$((n + 1)) ;;
      *) owned+=" $name" ;;
    esac
  done
  ((n > 0)) || die "the app is not connected to the session bus $BUS (see $ART/app-session-bus.log)"
  echo "   session-bus: the app holds $n bus connections; names:${owned:- none}"
}
ALIVE_CHECK=check_bus
start_app session-bus DBUS_SESSION_BUS_ADDRESS="$BUS"
map_bus=$map_secs
paint_bus=$paint_secs

# ---------------------------------------------------------------- figures
in_root apt-get autoclean -q >/dev/null 2>&1 || true # drop superseded packages from the cache
deb_kb=$(($(stat -c %s "$DEB") / 1024))
inst_kb=$(dpkg-deb -f "$DEB" Installed-Size)
t_end=$(date +%s.%N)
{
  echo "deb=$DEB_NAME"
  echo "deb_size_kb=$deb_kb"
  echo "installed_size_kb=$inst_kb"
  echo "binary_size_kb=$(($(stat -c %s "$R$BIN") / 1024))"
  echo "depends=$DEPENDS"
  echo "packages_pulled_in=$n_new"
  echo "download=${need_get:-0 B (cached)}"
  echo "disk_added=$disk_added"
  echo "apt_install_s=$(secs "$t_apt" "$t_apt_done")"
  echo "start_to_window_mapped_s_no_bus=$map_no_bus"
  echo "start_to_window_mapped_s_session_bus=$map_bus"
  echo "start_to_ui_painted_s_no_bus=$paint_no_bus"
  echo "start_to_ui_painted_s_session_bus=$paint_bus"
  echo "build_s=$(secs "$t0" "$t_built")"
  echo "root_s=$(secs "$t_built" "$t_rooted")"
  echo "total_s=$(secs "$t0" "$t_end")"
} >"$ART/figures.txt"
say "passed. Figures (also in $ART/figures.txt):"
sed 's/^/   /' "$ART/figures.txt"
