//! Child processes: started (optionally inside a network namespace),
//! their stdout read line by line on a thread, their stderr kept in a file,
//! their CPU time read from `/proc/PID/stat`, and killed by pid when
//! dropped, so nothing the bench starts outlives it.

use anyhow::{bail, Context as _, Result};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Where processes run: on the host, or inside a network namespace
/// (`ip netns exec NS …`, which execs, so the pid is the program's).
#[derive(Debug, Clone, Default)]
pub struct Launcher {
    /// The namespace, if any.
    pub netns: Option<String>,
}

impl Launcher {
    /// A command for `program` in this launcher's network namespace.
    pub fn command(&self, program: &Path) -> Command {
        match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(program);
                c
            }
            None => Command::new(program),
        }
    }
}

/// A running child process.
pub struct Proc {
    /// A short name for messages (`server`, `caller`…).
    pub name: String,
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: PathBuf,
    /// The last CPU time read while it ran (seconds).
    cpu_s: Option<f64>,
}

/// How a process ended.
#[derive(Debug)]
pub struct Exit {
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Every stdout line that was a JSON object.
    pub events: Vec<Value>,
    /// User + system CPU seconds, read last just before it exited.
    pub cpu_s: Option<f64>,
    /// The tail of its stderr.
    pub stderr_tail: String,
}

impl Exit {
    /// Every event named `name`.
    pub fn events_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.events.iter().filter(move |e| e["event"] == name)
    }
}

impl Proc {
    /// Starts `command` with stdout piped and stderr into `dir/NAME.stderr`.
    pub fn spawn(name: &str, mut command: Command, dir: &Path) -> Result<Proc> {
        let stderr = dir.join(format!("{name}.stderr"));
        let err_file = std::fs::File::create(&stderr)
            .with_context(|| format!("cannot create {}", stderr.display()))?;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err_file)
            .spawn()
            .with_context(|| format!("cannot start {name} ({command:?})"))?;
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Proc {
            name: name.to_owned(),
            child,
            lines,
            seen: Vec::new(),
            stderr,
            cpu_s: None,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// User + system CPU seconds so far (`None` once it is gone).
    pub fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds(self.pid())
    }

    /// The next stdout line within `timeout`.
    pub fn next_line(&mut self, timeout: Duration) -> Result<String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => {
                self.seen.push(line.clone());
                Ok(line)
            }
            Err(RecvTimeoutError::Timeout) => bail!(
                "{} printed nothing within {:.0} s{}",
                self.name,
                timeout.as_secs_f64(),
                self.stderr_hint()
            ),
            Err(RecvTimeoutError::Disconnected) => {
                bail!("{} stopped{}", self.name, self.stderr_hint())
            }
        }
    }

    /// Takes the lines printed so far without waiting (they are kept, as
    /// [`Proc::next_line`] keeps them), so that the next wait sees only
    /// what comes later.
    pub fn skip_pending(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
    }

    /// Reads lines until a JSON event `name` for which `pred` holds.
    pub fn wait_event(
        &mut self,
        name: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        let until = Instant::now() + timeout;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let line = self
                .next_line(left)
                .with_context(|| format!("{} did not print a `{name}` event in time", self.name))?;
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if v["event"] == name && pred(&v) {
                    return Ok(v);
                }
            }
        }
    }

    /// Waits up to `timeout` for the process to exit, reading its CPU time
    /// every 50 ms meanwhile; kills it if it does not exit in time.
    pub fn wait_exit(mut self, timeout: Duration) -> Result<Exit> {
        let until = Instant::now() + timeout;
        let status = loop {
            if let Some(cpu) = self.cpu_seconds() {
                self.cpu_s = Some(cpu);
            }
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(50)),
                Ok(None) => {
                    self.kill();
                    bail!(
                        "{} did not exit within {:.0} s (killed){}",
                        self.name,
                        timeout.as_secs_f64(),
                        self.stderr_hint()
                    );
                }
                Err(e) => bail!("cannot wait for {}: {e}", self.name),
            }
        };
        // The reader thread ends at EOF; collect what is left.
        let rest = Instant::now() + Duration::from_secs(2);
        while let Ok(line) = self
            .lines
            .recv_timeout(rest.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line);
        }
        let events = self
            .seen
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(Value::is_object)
            .collect();
        Ok(Exit {
            code: status.code(),
            events,
            cpu_s: self.cpu_s,
            stderr_tail: self.stderr_tail(),
        })
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The last lines of its stderr.
    pub fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(6)..].join("\n")
    }

    fn stderr_hint(&self) -> String {
        let tail = self.stderr_tail();
        if tail.trim().is_empty() {
            String::new()
        } else {
            format!("; its stderr ends with:\n{tail}")
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}

/// Sends a signal by pid with `kill(1)`.
pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// Resident memory of a process, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now, KiB.
    pub rss_kib: u64,
    /// `VmHWM`: the most it was ever resident, KiB.
    pub hwm_kib: u64,
}

/// `VmRSS` and `VmHWM` of `pid`.
pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_memory(&status)
}

/// `VmRSS` and `VmHWM` of a `/proc/PID/status` text.
pub fn parse_status_memory(status: &str) -> Option<Memory> {
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..].split_whitespace().next()?.parse().ok()
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 if that fails).
fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// utime + stime of `pid` in seconds, from `/proc/PID/stat`.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_cpu_ticks(&stat).map(|t| t as f64 / clock_ticks())
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line; the
/// command name (field 2) may hold spaces and parentheses.
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state): utime is field 14 → index 11.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_cpu_fields_are_found_after_the_name() {
        let stat = "4242 (my (odd) name) S 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0 1 0";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(175));
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
        assert!(cpu_seconds(std::process::id()).is_some());
    }

    #[test]
    fn memory_fields_are_read_from_status() {
        let status = "Name:\tx\nVmHWM:\t  20480 kB\nVmRSS:\t   10240 kB\nThreads: 3\n";
        assert_eq!(
            parse_status_memory(status),
            Some(Memory {
                rss_kib: 10_240,
                hwm_kib: 20_480
            })
        );
        assert_eq!(parse_status_memory("Name: x"), None);
        assert!(memory(std::process::id()).is_some());
    }
}
