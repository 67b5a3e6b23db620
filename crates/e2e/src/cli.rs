//! `softphone-cli` processes and their JSON lines.

use crate::{Launch, PATIENCE};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running `softphone-cli`; killed on drop.
pub struct Cli {
    child: Child,
    lines: mpsc::Receiver<serde_json::Value>,
    seen: Vec<serde_json::Value>,
    name: String,
}

/// How a CLI process ended.
#[derive(Debug)]
pub struct Exit {
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Everything it wrote to stderr.
    pub stderr: String,
    /// Every JSON line it printed.
    pub events: Vec<serde_json::Value>,
}

impl Exit {
    /// The first printed line whose `event` is `name`; panics naming what was printed if none.
    pub fn event(&self, name: &str) -> &serde_json::Value {
        self.events
            .iter()
            .find(|e| e["event"] == name)
            .unwrap_or_else(|| panic!("no `{name}` event; printed {:?}", self.names()))
    }

    /// The `event` names printed, in order.
    pub fn names(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| e["event"].as_str().map(str::to_owned))
            .collect()
    }
}

impl Cli {
    /// Runs `softphone-cli --server URL --user U --password U --device D ARGS...`
    /// (password = user name, as the test server seeds them).
    pub fn spawn(server_url: &str, user_device: &str, args: &[&str]) -> Self {
        Self::spawn_via(&Launch::default(), server_url, user_device, args)
    }

    /// [`Cli::spawn`] through `launch` (for example inside a [`crate::Netns`]).
    pub fn spawn_via(launch: &Launch, server_url: &str, user_device: &str, args: &[&str]) -> Self {
        let (user, device) = user_device.split_once('/').unwrap_or((user_device, "cli"));
        let mut child = launch
            .command("softphone-cli")
            .args(["--server", server_url, "--user", user, "--password", user])
            .args(["--device", device])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn softphone-cli");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({ "unparsed": line }));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines: rx,
            seen: Vec::new(),
            name: format!("{user_device} {}", args.join(" ")),
        }
    }

    /// Waits for the next line whose `event` is `name` and returns it.
    pub fn expect_event(&mut self, name: &str, within: Duration) -> serde_json::Value {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if v["event"] == name {
                        return v;
                    }
                }
                Err(_) => panic!(
                    "[{}] no `{name}` event within {within:?}; saw {:?}",
                    self.name, self.seen
                ),
            }
        }
    }

    /// The first line whose `event` is `name`, among those already read
    /// or, failing that, the next ones (for events whose order with
    /// others is not fixed).
    pub fn expect_event_seen(&mut self, name: &str, within: Duration) -> serde_json::Value {
        match self.seen.iter().find(|v| v["event"] == name) {
            Some(v) => v.clone(),
            None => self.expect_event(name, within),
        }
    }

    /// Waits until the process reports its connection as `connected`.
    pub fn expect_connected(&mut self) {
        while self.expect_event("connection_state", PATIENCE)["state"] != "connected" {}
    }

    /// Waits for the process to exit by itself.
    pub fn wait(mut self, within: Duration) -> Exit {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "[{}] did not exit within {within:?}; saw {:?}",
                    self.name, self.seen
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut stderr);
        }
        let mut events = std::mem::take(&mut self.seen);
        while let Ok(v) = self.lines.recv_timeout(Duration::from_millis(200)) {
            events.push(v);
        }
        Exit {
            code: status.code(),
            stderr,
            events,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
