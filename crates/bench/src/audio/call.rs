//! The real server and real two-CLI calls.
//!
//! [`Server::start`] seeds a fresh database with the demo users (alice,
//! bob, carol; password = name), runs `softphone-server serve --listen
//! 127.0.0.1:0` and reads its `listening on http://ADDR` line.
//! [`two_party_call`] runs `softphone-cli answer` as bob and, once bob is
//! connected, `softphone-cli call bob --hangup-after SECS` as alice, each
//! with its own WAV files (and `--timing-log`), and waits for both to exit.

use super::procs::{Exit, Launcher, Proc};
use anyhow::{bail, Context as _, Result};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// The binaries under test.
#[derive(Debug, Clone)]
pub struct Bins {
    /// `softphone-server`.
    pub server: PathBuf,
    /// `softphone-cli`.
    pub cli: PathBuf,
}

impl Bins {
    /// The binaries next to this one (same target folder and profile).
    pub fn beside_me() -> Result<Bins> {
        let exe = std::env::current_exe().context("cannot find this executable")?;
        let dir = exe.parent().context("executable folder")?;
        let bins = Bins {
            server: dir.join("softphone-server"),
            cli: dir.join("softphone-cli"),
        };
        for b in [&bins.server, &bins.cli] {
            if !b.exists() {
                bail!(
                    "{} is missing: cargo build --release -p softphone-server -p softphone-cli -p softphone-bench",
                    b.display()
                );
            }
        }
        Ok(bins)
    }
}

/// A running server.
pub struct Server {
    /// `http://ADDR`.
    pub url: String,
    /// The process.
    pub proc: Proc,
}

impl Server {
    /// Seeds `dir/NAME.db` with the demo users and starts serving on a free
    /// loopback port.
    pub fn start(bins: &Bins, launcher: &Launcher, dir: &Path, name: &str) -> Result<Server> {
        let db = dir.join(format!("{name}.db"));
        Self::admin(bins, &db, &["demo"])?;
        Self::serve(bins, launcher, dir, name, &db, &[])
    }

    /// Runs one admin command on `db` (`demo`, `user add …`, `group add …`).
    pub fn admin(bins: &Bins, db: &Path, args: &[&str]) -> Result<()> {
        let out = std::process::Command::new(&bins.server)
            .arg("--db")
            .arg(db)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run softphone-server {}", args.join(" ")))?;
        if !out.status.success() {
            bail!(
                "softphone-server {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// Serves `db` on a free loopback port, with `extra` `serve` options.
    pub fn serve(
        bins: &Bins,
        launcher: &Launcher,
        dir: &Path,
        name: &str,
        db: &Path,
        extra: &[&str],
    ) -> Result<Server> {
        let mut cmd = launcher.command(&bins.server);
        cmd.arg("--db")
            .arg(db)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "warn");
        let mut proc = Proc::spawn(name, cmd, dir)?;
        let line = proc.next_line(Duration::from_secs(15))?;
        let Some(url) = line.trim().strip_prefix("listening on ") else {
            bail!("unexpected first line from the server: {line:?}");
        };
        if !url.starts_with("http://") {
            bail!("the server does not serve plain HTTP on loopback: {line:?}");
        }
        Ok(Server {
            url: url.to_owned(),
            proc,
        })
    }
}

/// Audio files of one end.
#[derive(Debug, Clone, Default)]
pub struct Media {
    /// `--input-wav`.
    pub input: Option<PathBuf>,
    /// `--output-wav`.
    pub output: Option<PathBuf>,
    /// `--timing-log`.
    pub timing: Option<PathBuf>,
}

impl Media {
    fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        for (flag, path) in [
            ("--input-wav", &self.input),
            ("--output-wav", &self.output),
            ("--timing-log", &self.timing),
        ] {
            if let Some(p) = path {
                args.push(flag.to_owned());
                args.push(p.display().to_string());
            }
        }
        args
    }
}

/// Where CLIs run and which server they use.
pub struct Ctx<'a> {
    /// Binaries.
    pub bins: &'a Bins,
    /// Host or namespace.
    pub launcher: &'a Launcher,
    /// Temp dir for stderr files.
    pub dir: &'a Path,
    /// Server URL.
    pub url: &'a str,
}

impl Ctx<'_> {
    /// `softphone-cli` logged in as `user` (password = name) with `args`.
    pub fn cli(&self, name: &str, user: &str, args: &[String]) -> Result<Proc> {
        let mut cmd = self.launcher.command(&self.bins.cli);
        cmd.args(["--server", self.url, "--user", user, "--password", user])
            .args(["--device", &format!("bench-{name}")])
            .args(args);
        Proc::spawn(name, cmd, self.dir)
    }
}

/// Both ends of a finished call.
#[derive(Debug)]
pub struct CallRun {
    /// alice.
    pub caller: Exit,
    /// bob.
    pub callee: Exit,
}

impl CallRun {
    /// Both ends of the `tag` call, each of which must have exited 0.
    pub fn checked(tag: &str, caller: Exit, callee: Exit) -> Result<CallRun> {
        for (who, exit) in [("caller", &caller), ("callee", &callee)] {
            if exit.code != Some(0) {
                bail!(
                    "the {tag} call's {who} exited with {:?}: {}",
                    exit.code,
                    exit.stderr_tail
                );
            }
        }
        Ok(CallRun { caller, callee })
    }
}

/// Waits until a CLI says it is connected to the server.
pub fn wait_connected(p: &mut Proc) -> Result<()> {
    p.wait_event("connection_state", Duration::from_secs(20), |v| {
        v["state"] == "connected"
    })?;
    Ok(())
}

/// One call alice → bob lasting `seconds` after the answer; `on_connected`
/// runs once alice reports `media_connected`.
pub fn two_party_call(
    ctx: &Ctx<'_>,
    tag: &str,
    caller: &Media,
    callee: &Media,
    seconds: f64,
    on_connected: Option<&dyn Fn() -> Result<()>>,
) -> Result<CallRun> {
    let mut args = vec!["answer".to_owned(), "--wait".into(), "60".into()];
    args.extend(callee.args());
    let mut bob = ctx.cli(&format!("{tag}-callee"), "bob", &args)?;
    wait_connected(&mut bob)?;
    let mut args = vec![
        "call".to_owned(),
        "bob".into(),
        "--timeout".into(),
        "20".into(),
        "--hangup-after".into(),
        format!("{seconds}"),
    ];
    args.extend(caller.args());
    let mut alice = ctx.cli(&format!("{tag}-caller"), "alice", &args)?;
    if let Some(hook) = on_connected {
        alice.wait_event("media_connected", Duration::from_secs(30), |_| true)?;
        hook()?;
    }
    let patience = Duration::from_secs_f64(seconds + 60.0);
    let caller = alice.wait_exit(patience)?;
    let callee = bob.wait_exit(Duration::from_secs(20))?;
    CallRun::checked(tag, caller, callee)
}

/// The last `media_stats` line of an end (for one session, if given).
pub fn last_stats<'a>(exit: &'a Exit, session: Option<&str>) -> Option<&'a serde_json::Value> {
    exit.events_named("media_stats")
        .filter(|e| session.is_none_or(|s| e["session_id"] == s))
        .last()
}
