#!/usr/bin/env python3
"""Desktop app end to end, in a real window (run by scripts/e2e-desktop.sh).

Bob signs in; alice (the CLI) calls him; the incoming screen names alice and
a notification naming her goes over the session bus; bob answers in the UI
and hangs up; the history lists the call; a call bob does not answer shows
the missed-call badge; restarting the app signs bob in from the keyring
without the password; a server that goes away shows "reconnecting". Screenshots of each screen go to $SOFTPHONE_ARTIFACTS.
WebDriver is spoken directly (JSON over HTTP): no client library needed.
"""
import base64, http.client, json, os, re, shutil, signal, socket, subprocess, time, urllib.request

TMP = os.environ["SOFTPHONE_E2E_TMP"]
BIN = os.environ["SOFTPHONE_BIN_DIR"]
ART = os.environ["SOFTPHONE_ARTIFACTS"]
DRIVER = "http://127.0.0.1:4444"
procs = []
figures = {}


def start(args, **kw):
    p = subprocess.Popen(args, **kw)
    procs.append(p)
    return p


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wd(method, path, body=None, timeout=30):
    """One WebDriver request. Under load the driver chain (tauri-driver →
    WebKitWebDriver) now and then drops a connection; such a request is sent
    again (callers make that harmless: see App.click)."""
    data = None if body is None else json.dumps(body).encode()
    for attempt in range(3):
        req = urllib.request.Request(DRIVER + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.load(r)["value"]
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} {path}: {e.read().decode(errors='replace')}") from None
        except (http.client.RemoteDisconnected, ConnectionResetError) as e:
            if attempt == 2:
                raise
            print(f"note: {method} {path}: {e}; sending it again")
            time.sleep(0.5)


def wait_for(what, fn, timeout=20.0):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        try:
            v = fn()
            if v:
                return v
        except (RuntimeError, OSError) as e:
            last = e
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} ({last})")


class App:
    """One WebDriver session = one run of the app."""

    def __init__(self):
        t0 = time.time()
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "wry",
            "tauri:options": {"application": os.path.join(BIN, "softphone")}}}}
        self.sid = wd("POST", "/session", caps, timeout=60)["sessionId"]
        self.started = t0

    def find(self, css):
        els = wd("POST", f"/session/{self.sid}/elements", {"using": "css selector", "value": css})
        return [list(e.values())[0] for e in els]

    def el(self, css, timeout=20.0):
        return wait_for(css, lambda: (self.find(css) or [None])[0], timeout)

    def click(self, css):
        try:
            wd("POST", f"/session/{self.sid}/element/{self.el(css)}/click", {})
        except RuntimeError as e:
            # Sent again after a dropped connection: the first one went through.
            if "stale element" not in str(e):
                raise

    def type(self, css, text):
        e = self.el(css)
        for _ in range(3):  # a resent request may have typed twice: check
            wd("POST", f"/session/{self.sid}/element/{e}/clear", {})
            wd("POST", f"/session/{self.sid}/element/{e}/value", {"text": text})
            if wd("GET", f"/session/{self.sid}/element/{e}/property/value") == text:
                return
        raise AssertionError(f"could not type into {css}")

    def text(self, css):
        return wd("GET", f"/session/{self.sid}/element/{self.el(css)}/text")

    def shot(self, name):
        time.sleep(0.7)  # let WebKit paint the last change before capturing
        png = base64.b64decode(wd("GET", f"/session/{self.sid}/screenshot"))
        with open(os.path.join(ART, f"{name}.png"), "wb") as f:
            f.write(png)
        subprocess.run(["import", "-window", "root", os.path.join(ART, f"{name}-screen.png")],
                       check=False, stderr=subprocess.DEVNULL)

    def quit(self):
        try:
            wd("DELETE", f"/session/{self.sid}")
        except Exception as e:  # the app may be gone already
            print(f"note: closing the session: {e}")


def start_driver(log):
    driver = start(["tauri-driver", "--port", "4444"], stdout=log, stderr=subprocess.STDOUT)
    wait_for("tauri-driver", lambda: socket.create_connection(("127.0.0.1", 4444), timeout=1).close() or True)
    return driver


def rss_mb(name):
    """RSS (MB) of the app process and of all processes named like WebKit's helpers."""
    own, webkit = 0, 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/status") as f:
                st = f.read()
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if f"SOFTPHONE_E2E_TMP={TMP}".encode() not in env:
            continue
        comm = re.search(r"^Name:\s+(\S+)", st, re.M).group(1)
        m = re.search(r"^VmRSS:\s+(\d+) kB", st, re.M)
        kb = int(m.group(1)) if m else 0
        if comm == name:
            own += kb
        elif comm.startswith("WebKit"):
            webkit += kb
    return own / 1024, webkit / 1024


def cli(server, *args, **kw):
    return start([os.path.join(BIN, "softphone-cli"), "--server", server,
                  "--user", "alice", "--password", "alice", *args],
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)


def main():
    shutil.rmtree(ART, ignore_errors=True)
    os.makedirs(ART)
    display = ":97"
    start(["Xvfb", display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
          stderr=subprocess.DEVNULL)
    os.environ["DISPLAY"] = display
    time.sleep(1)
    subprocess.run(["dbus-update-activation-environment", "DISPLAY"], check=False)
    bus_log = open(os.path.join(TMP, "bus.log"), "w")
    start(["dbus-monitor", "--session", "interface='org.freedesktop.Notifications'"], stdout=bus_log)
    start(["dunst"], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)

    db = os.path.join(TMP, "server.db")
    subprocess.run([os.path.join(BIN, "softphone-server"), "--db", db, "demo"], check=True,
                   stdout=subprocess.DEVNULL)
    server = start([os.path.join(BIN, "softphone-server"), "--db", db, "serve", "--listen", "127.0.0.1:0"],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = None
    for line in server.stdout:
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            url = m.group(1)
            break
    assert url, "the server did not say where it listens"
    os.environ["SOFTPHONE_SERVER_URL"] = url
    # The app's own output (tracing) goes through the driver: keep it.
    driver_log = open(os.path.join(ART, "app-and-driver.log"), "w")
    driver = start_driver(driver_log)

    app = App()
    app.el("form.login")
    figures["launch_to_login_s"] = time.time() - app.started
    app.shot("1-login")
    app.type("input[name=username]", "bob")
    app.type("input[name=password]", "wrong")
    app.click("button[type=submit]")
    assert "Wrong username or password" in app.text("[data-testid=login-error]")
    app.shot("1b-login-wrong-password")
    app.type("input[name=password]", "bob")
    t = time.time()
    app.click("button[type=submit]")
    app.el("[data-testid=contact-alice]")
    figures["sign_in_to_contacts_s"] = time.time() - t
    time.sleep(1)
    app.shot("2-contacts")
    time.sleep(3)
    figures["rss_idle_mb"] = rss_mb("softphone")

    caller = cli(url, "call", "bob", "--hangup-after", "20")
    app.el("[data-testid=incoming]")
    assert "Alice" in app.text("[data-testid=caller]"), app.text("[data-testid=caller]")
    time.sleep(1)
    app.shot("3-incoming")
    bus_log.flush()
    log = open(os.path.join(TMP, "bus.log")).read()
    assert re.search(r'string "Alice is calling"', log), "no notification naming Alice on the bus"
    assert "Incoming audio call" in log
    app.click("button[aria-label^='Answer the call']")
    app.el("[data-testid=in-call]")
    time.sleep(2)
    assert app.text("[data-testid=timer]") != "0:00"
    app.shot("4-in-call")
    figures["rss_in_call_mb"] = rss_mb("softphone")
    app.click("button[aria-label^='Hang up']")
    app.el("[data-testid=contacts]")
    caller.wait(10)

    missed = cli(url, "call", "bob", "--timeout", "2")
    app.el("[data-testid=incoming]")
    missed.wait(15)
    app.el("[data-testid=missed-badge]")
    assert app.text("[data-testid=missed-badge]") == "1"
    app.shot("5-missed-badge")
    app.click("nav.tabs button:nth-child(2)")
    wait_for("two history rows", lambda: len(app.find("[data-testid=history-row]")) >= 2)
    rows = app.text("[data-testid=history]")
    assert "Missed" in rows and "Incoming" in rows, rows
    app.shot("6-history")
    app.quit()
    # One instance only: a second launch while the first is still exiting
    # would hand over to it and exit at once.
    wait_for("the first run to exit", lambda: not any(n.startswith("softphone[") for n in ours()))
    wait_for("the first run's bus name to go", lambda: "org.softphone" not in subprocess.run(
        ["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
         "org.freedesktop.DBus.ListNames"], capture_output=True, text=True).stdout)
    stop(driver)  # a fresh driver chain for the second run
    wait_for("the driver to exit", lambda: not any(n.startswith("WebKitWebDriver") for n in ours()))
    driver = start_driver(driver_log)

    app = App()
    app.el("[data-testid=contact-alice]", timeout=30)
    figures["launch_to_contacts_from_keyring_s"] = time.time() - app.started
    assert app.text("[data-testid=me]") == "bob"
    app.shot("7-restored-from-keyring")
    stop(server)
    wait_for("the reconnecting state", lambda: "reconnecting" in app.text("[data-testid=connection]").lower())
    app.shot("8-reconnecting")
    app.quit()
    stop(driver)

    stored = subprocess.run(["secret-tool", "search", "--all", "--unlock", "service", "org.softphone.desktop"],
                            capture_output=True, text=True).stdout
    m = re.search(r"^secret = (\S+)", stored, re.M)
    assert m and url in stored, f"no token for {url} in the keyring: {stored!r}"
    token = m.group(1).encode()
    for root, _, files in os.walk(TMP):
        for f in files:
            p = os.path.join(root, f)
            if "keyrings" in p or f == "server.db" or f.startswith("server.db"):
                continue
            try:
                assert token not in open(p, "rb").read(), f"the session token is in a plain file: {p}"
            except OSError:
                pass
    print("figures:", json.dumps({k: (round(v, 2) if isinstance(v, float) else
                                      [round(x, 1) for x in v]) for k, v in figures.items()}))
    with open(os.path.join(ART, "figures.json"), "w") as f:
        json.dump(figures, f, indent=2)
    print("desktop end-to-end: ok")


def ours():
    """Names of the processes this test started (they carry its temp dir)."""
    names = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if f"SOFTPHONE_E2E_TMP={TMP}".encode() not in f.read():
                    continue
            with open(f"/proc/{pid}/comm") as f:
                names.append(f"{f.read().strip()}[{pid}]")
        except OSError:
            continue
    return names


if __name__ == "__main__":
    try:
        main()
    except BaseException:
        print("processes still running at the failure:", " ".join(ours()))
        raise
    finally:
        for p in reversed(procs):
            stop(p)
