//! The real server binary, on a free loopback port and a temporary database.

use crate::{bin_path, signal, Launch};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A running `softphone-server serve`; stopped (SIGKILL) on drop.
pub struct TestServer {
    dir: tempfile::TempDir,
    child: Option<Child>,
    addr: String,
    scheme: &'static str,
    serve_args: Vec<String>,
    launch: Launch,
}

impl TestServer {
    /// A server with the demo users (alice, bob, carol; password = name;
    /// group `team` of the three) plus dave and mallory, started with `args`
    /// added to `serve` (e.g. `["--ring-timeout", "2"]`).
    pub fn start(args: &[&str]) -> Self {
        Self::start_via(Launch::default(), args)
    }

    /// [`TestServer::start`], with `serve` started through `launch` (for
    /// example inside a [`crate::Netns`]); the admin commands run directly.
    pub fn start_via(launch: Launch, args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = Self {
            dir,
            child: None,
            addr: String::new(),
            scheme: "http",
            serve_args: args.iter().map(|s| s.to_string()).collect(),
            launch,
        };
        server.admin(&["demo"]);
        server.admin(&["user", "add", "dave", "--password", "dave"]);
        server.admin(&["user", "add", "mallory", "--password", "mallory"]);
        server.spawn();
        server
    }

    /// The database file.
    pub fn db(&self) -> PathBuf {
        self.dir.path().join("server.db")
    }

    /// Runs an admin command on the database and returns its stdout.
    pub fn admin(&self, args: &[&str]) -> String {
        let out = Command::new(bin_path("softphone-server"))
            .arg("--db")
            .arg(self.db())
            .args(args)
            .output()
            .expect("run softphone-server");
        assert!(
            out.status.success(),
            "softphone-server {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn spawn(&mut self) {
        let mut child = self
            .launch
            .command("softphone-server")
            .arg("--db")
            .arg(self.db())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(&self.serve_args)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG")
                    .unwrap_or_else(|_| "warn,rtc=error,rtc_ice=error,rtc_dtls=error".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn softphone-server");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        let rest = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from the server: {line:?}"));
        let (scheme, addr) = match rest.split_once("://") {
            Some(("https", addr)) => ("https", addr),
            Some(("http", addr)) => ("http", addr),
            _ => panic!("unexpected first line from the server: {line:?}"),
        };
        self.scheme = scheme;
        self.addr = addr.to_string();
        self.child = Some(child);
    }

    /// `host:port` the server listens on.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `http://host:port` (or `https://` when serving TLS).
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Graceful stop (SIGTERM) and wait; returns whether it exited with 0.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        signal(child.id(), "TERM");
        child.wait().map(|s| s.success()).unwrap_or(false)
    }

    /// Hard stop (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same database (on a new port).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Starts a stopped server again on the same database.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "stop it first");
        self.spawn();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_ref() {
            signal(child.id(), "KILL");
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}
