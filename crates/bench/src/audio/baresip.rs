//! The reference: two Debian `baresip` instances in the same call.
//!
//! Each gets a config dir of its own (`-f DIR`): SIP on 127.0.0.1 at a
//! port of its own, modules `opus` (48 kb/s, complexity 9, mono: our
//! encoder's settings), `dtls_srtp` (our calls are DTLS-SRTP too),
//! `aufile` as the microphone (the same input WAV as our CLIs), `sndfile`
//! to record what is decoded, `aubridge` as a player that no sound card
//! backs. Bob's account auto-answers; alice dials `sip:bob@127.0.0.1:PORT`
//! directly (`-e /dial …`) and quits after the call time (`-t`). CPU is
//! utime + stime from `/proc/PID/stat`, read until each exits.

use super::procs::{signal, Launcher, Proc};
use anyhow::{bail, Context as _, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where Debian installs it.
pub const BARESIP: &str = "/usr/bin/baresip";

/// What the baresip call gave.
#[derive(Debug)]
pub struct BaresipRun {
    /// CPU seconds of the caller and the callee.
    pub caller_cpu_s: f64,
    /// See `caller_cpu_s`.
    pub callee_cpu_s: f64,
    /// How long the call lasted (s, from the dial to the caller's exit).
    pub seconds: f64,
    /// What the callee decoded (the caller's speech), if sndfile wrote it.
    pub callee_heard: Option<PathBuf>,
}

fn config(dir: &Path, sip_port: u16, rtp: u16, input: &Path) -> String {
    format!(
        "poll_method epoll
sip_listen 127.0.0.1:{sip_port}
net_interface 127.0.0.1
audio_player aubridge,nobody{sip_port}
audio_alert aubridge,nobody{sip_port}
audio_source aufile,{input}
ausrc_format s16
auplay_format s16
audio_buffer 200
jitter_buffer_delay 5-10
rtp_ports {rtp}-{rtp_end}
rtcp_mux yes
module_path /usr/lib/baresip/modules
module opus.so
module aufile.so
module aubridge.so
module sndfile.so
module dtls_srtp.so
module_tmp account.so
module_app menu.so
snd_path {snd}
opus_bitrate 48000
opus_stereo no
opus_sprop_stereo no
opus_complexity 9
",
        input = input.display(),
        rtp_end = rtp + 49,
        snd = dir.display(),
    )
}

fn setup(dir: &Path, user: &str, sip_port: u16, rtp: u16, input: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(dir.join("config"), config(dir, sip_port, rtp, input))?;
    std::fs::write(
        dir.join("accounts"),
        format!("<sip:{user}@127.0.0.1:{sip_port}>;regint=0;answermode=auto;mediaenc=dtls_srtp\n"),
    )?;
    Ok(())
}

/// A `baresip` process with config dir `dir`.
fn spawn(name: &str, dir: &Path, work: &Path, extra: &[String]) -> Result<Proc> {
    // Line-buffered stdout (stdbuf execs baresip: the pid stays its own),
    // so its log lines can be waited for.
    let mut cmd = Launcher::default().command(Path::new("stdbuf"));
    cmd.args(["-oL", "-eL", BARESIP])
        .arg("-f")
        .arg(dir)
        .args(extra);
    Proc::spawn(name, cmd, work)
}

/// Reads lines until one contains `text`.
fn wait_text(p: &mut Proc, text: &str, timeout: Duration) -> Result<()> {
    let until = Instant::now() + timeout;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let line = p
            .next_line(left)
            .with_context(|| format!("{} never said {text:?}", p.name))?;
        if line.contains(text) {
            return Ok(());
        }
    }
}

/// Runs the call for `seconds` with `input` as both microphones.
pub fn run(work: &Path, input: &Path, seconds: f64) -> Result<BaresipRun> {
    if !Path::new(BARESIP).exists() {
        bail!("{BARESIP} is not installed (scripts/install-deps.sh installs Debian's baresip)");
    }
    // Ports of our own, away from common ones and from other runs.
    let base = 21_000 + (std::process::id() % 400) as u16 * 20;
    let (a_sip, b_sip) = (base, base + 10);
    let rtp = 41_000 + (std::process::id() % 200) as u16 * 100;
    let (a_dir, b_dir) = (work.join("baresip-alice"), work.join("baresip-bob"));
    setup(&a_dir, "alice", a_sip, rtp, input)?;
    setup(&b_dir, "bob", b_sip, rtp + 50, input)?;
    let limit = (seconds + 1.0).ceil() as u64;
    let mut bob = spawn(
        "baresip-bob",
        &b_dir,
        work,
        &["-t".into(), format!("{}", limit + 30)],
    )?;
    wait_text(&mut bob, "baresip is ready", Duration::from_secs(10))?;
    let started = Instant::now();
    let mut alice = spawn(
        "baresip-alice",
        &a_dir,
        work,
        &[
            "-t".into(),
            format!("{limit}"),
            "-e".into(),
            format!("/dial sip:bob@127.0.0.1:{b_sip}"),
        ],
    )?;
    wait_text(&mut alice, "DTLS-SRTP complete", Duration::from_secs(10))
        .context("the baresip call did not come up")?;
    let alice = alice.wait_exit(Duration::from_secs(limit + 30))?;
    let call_s = started.elapsed().as_secs_f64();
    signal(bob.pid(), "TERM");
    let bob = bob.wait_exit(Duration::from_secs(10))?;
    let (Some(caller_cpu_s), Some(callee_cpu_s)) = (alice.cpu_s, bob.cpu_s) else {
        bail!("could not read the baresip processes' CPU time");
    };
    Ok(BaresipRun {
        caller_cpu_s,
        callee_cpu_s,
        seconds: call_s,
        callee_heard: find_dump(&b_dir, "-dec.wav"),
    })
}

fn find_dump(dir: &Path, suffix: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with(suffix))
}
