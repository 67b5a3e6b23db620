//! Accept → media connected and accept → first decoded audio, over several
//! calls. One `softphone-cli answer --count N` (bob) answers N calls, each
//! placed by a fresh `softphone-cli call bob --hangup-after 2` (alice), one
//! after the other. Each end prints `media_connected {after_ms}` and
//! `media_stats {first_audio_ms}`, both measured by the client from the
//! moment the call was accepted (the callee's accept, the caller's
//! `outgoing_call_accepted`) to, respectively, ICE + DTLS up and the first
//! frame decoded from a received packet leaving its jitter buffer.

use super::call::{last_stats, wait_connected, Ctx};
use super::procs::Exit;
use anyhow::{bail, Context as _, Result};
use std::path::Path;
use std::time::Duration;

/// Per-end samples (ms), one per call.
#[derive(Debug, Default)]
pub struct SetupTimes {
    /// Caller: accept → media connected.
    pub caller_connected: Vec<f64>,
    /// Caller: accept → first decoded audio.
    pub caller_audio: Vec<f64>,
    /// Callee: accept → media connected.
    pub callee_connected: Vec<f64>,
    /// Callee: accept → first decoded audio.
    pub callee_audio: Vec<f64>,
}

fn figures(exit: &Exit, session: &str) -> (Option<f64>, Option<f64>) {
    let connected = exit
        .events_named("media_connected")
        .find(|e| e["session_id"] == session)
        .and_then(|e| e["after_ms"].as_f64());
    let audio = last_stats(exit, Some(session)).and_then(|e| e["first_audio_ms"].as_f64());
    (connected, audio)
}

/// Runs `calls` calls with `input` as both microphones.
pub fn run(ctx: &Ctx<'_>, input: &Path, calls: usize) -> Result<SetupTimes> {
    let wav = input.display().to_string();
    let media = ["--input-wav".to_owned(), wav];
    let mut args = vec![
        "answer".to_owned(),
        "--count".into(),
        calls.to_string(),
        "--wait".into(),
        "60".into(),
    ];
    args.extend(media.iter().cloned());
    let mut bob = ctx.cli("setup-callee", "bob", &args)?;
    wait_connected(&mut bob)?;
    let mut callers = Vec::new();
    for i in 0..calls {
        let mut args = vec![
            "call".to_owned(),
            "bob".into(),
            "--timeout".into(),
            "20".into(),
            "--hangup-after".into(),
            "2".into(),
        ];
        args.extend(media.iter().cloned());
        let alice = ctx.cli(&format!("setup-caller-{i}"), "alice", &args)?;
        let exit = alice.wait_exit(Duration::from_secs(60))?;
        if exit.code != Some(0) {
            bail!(
                "setup call {i}: the caller exited with {:?}: {}",
                exit.code,
                exit.stderr_tail
            );
        }
        let sid = exit
            .events_named("call_initiated")
            .next()
            .and_then(|e| e["session_id"].as_str())
            .map(str::to_owned)
            .with_context(|| format!("setup call {i}: the caller printed no call_initiated"))?;
        // Next call only once bob is out of this one.
        bob.wait_event("call_ended", Duration::from_secs(15), |e| {
            e["session_id"] == sid.as_str()
        })
        .with_context(|| format!("setup call {i}: bob did not see it end"))?;
        callers.push((sid, exit));
    }
    let bob = bob.wait_exit(Duration::from_secs(20))?;
    let mut t = SetupTimes::default();
    for (sid, caller) in &callers {
        let (c, a) = figures(caller, sid);
        t.caller_connected.extend(c);
        t.caller_audio.extend(a);
        let (c, a) = figures(&bob, sid);
        t.callee_connected.extend(c);
        t.callee_audio.extend(a);
    }
    Ok(t)
}
