//! Mouth-to-ear through the forwarder: a group call of three real
//! `softphone-cli` processes (release) on loopback. alice places the call
//! to the demo group `team` and plays the audio bench's input (speech and
//! chirp markers, `audio::signal`); bob and carol answer, send silence and
//! record what they hear. All three log frame times (`--timing-log`), so
//! `audio::latency` measures alice → bob and alice → carol as in the 1:1
//! bench, only now through the server's forwarder.
//!
//! Everyone's media is bound to 127.0.0.1 (`--media-udp`, `--media-addr`).
//! alice hangs up `seconds` after the answer; bob and carol 3 s later.

use crate::audio::call::{wait_connected, Bins, Ctx, Server};
use crate::audio::procs::{Exit, Launcher};
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The three ends of a finished call.
#[derive(Debug)]
pub struct GroupCall {
    /// (name, how it ended), alice first.
    pub ends: Vec<(String, Exit)>,
}

/// Files of one end.
pub fn timing_log(dir: &Path, who: &str) -> PathBuf {
    dir.join(format!("group-{who}.timing"))
}

/// What `who` recorded.
pub fn recording(dir: &Path, who: &str) -> PathBuf {
    dir.join(format!("group-{who}-heard.wav"))
}

/// Runs the call; `input` is alice's microphone.
pub fn run(bins: &Bins, dir: &Path, input: &Path, seconds: f64) -> Result<GroupCall> {
    let launcher = Launcher::default();
    let db = dir.join("m2e.db");
    Server::admin(bins, &db, &["demo"])?;
    let server = Server::serve(
        bins,
        &launcher,
        dir,
        "m2e-server",
        &db,
        &["--media-udp", "127.0.0.1:0"],
    )?;
    let ctx = Ctx {
        bins,
        launcher: &launcher,
        dir,
        url: &server.url,
    };
    let media = |who: &str| {
        vec![
            "--media-addr".to_owned(),
            "127.0.0.1:0".into(),
            "--timing-log".into(),
            timing_log(dir, who).display().to_string(),
            "--output-wav".into(),
            recording(dir, who).display().to_string(),
        ]
    };
    let mut listeners = Vec::new();
    for who in ["bob", "carol"] {
        let mut args = vec![
            "answer".to_owned(),
            "--wait".into(),
            "60".into(),
            "--hangup-after".into(),
            format!("{}", seconds + 3.0),
        ];
        args.extend(media(who));
        let mut p = ctx.cli(&format!("m2e-{who}"), who, &args)?;
        wait_connected(&mut p)?;
        listeners.push((who, p));
    }
    let mut args = vec![
        "call".to_owned(),
        "team".into(),
        "--group".into(),
        "--timeout".into(),
        "20".into(),
        "--hangup-after".into(),
        format!("{seconds}"),
        "--input-wav".into(),
        input.display().to_string(),
    ];
    args.extend(media("alice"));
    let alice = ctx.cli("m2e-alice", "alice", &args)?;
    let patience = Duration::from_secs_f64(seconds + 60.0);
    let mut ends = vec![("alice".to_owned(), alice.wait_exit(patience)?)];
    for (who, p) in listeners {
        ends.push((who.to_owned(), p.wait_exit(Duration::from_secs(30))?));
    }
    for (who, exit) in &ends {
        if exit.code != Some(0) {
            bail!("{who} exited with {:?}: {}", exit.code, exit.stderr_tail);
        }
    }
    drop(server);
    Ok(GroupCall { ends })
}
