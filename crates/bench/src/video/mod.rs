//! The video bench (`softphone-video-bench`): real video calls between two
//! `softphone-cli` processes through the real server on loopback, the test
//! pattern both ways, and what they cost and how late the picture is.
//!
//! - Per size (`--sizes`, default 720p and 360p, `--fps` 30): a call of
//!   `--seconds`; after a 3 s warm-up past the first picture, the CPU of
//!   each CLI process (audio, video, network: everything) and of the server
//!   over the steady window, the frame rates sent and shown, the bitrates.
//! - Glass-to-glass: one more call at the first size with `--timing-log`
//!   on both ends; each pattern counter's capture time at one end against
//!   the time the other end showed it ([`glass`]).
//!
//! The codec alone (encode and decode time per 720p and 360p frame) is
//! `cargo bench -p softphone-video --bench video`. Asserts nothing: a
//! missed target is printed, not an error.

pub mod glass;

use crate::audio::call::{wait_connected, Bins, CallRun, Ctx, Server};
use crate::audio::load_average;
use crate::audio::procs::{Exit, Launcher, Proc};
use crate::audio::report::{summarize, Report, Target};
use anyhow::{bail, Context as _, Result};
use clap::Parser;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// Options.
#[derive(Debug, Parser)]
#[command(
    name = "softphone-video-bench",
    about = "Video figures of real softphone-cli calls over loopback"
)]
pub struct Args {
    /// Length of each call after the answer, seconds (at least 10).
    #[arg(long, default_value_t = 20.0)]
    pub seconds: f64,
    /// Frame sizes, one call each.
    #[arg(long, default_value = "1280x720,640x360")]
    pub sizes: String,
    /// Frames per second sent.
    #[arg(long, default_value_t = 30)]
    pub fps: u32,
    /// Keep the temp folder (logs) and print its path.
    #[arg(long)]
    pub keep: bool,
}

const CPU_TARGET_PCT: f64 = 25.0;
const GLASS_TARGET_MS: f64 = 150.0;
/// From the first picture to the start of the measured window.
const WARM_UP: Duration = Duration::from_secs(3);

fn progress(text: &str) {
    eprintln!("[video-bench] {text}");
}

/// What one call measured.
struct CallFigures {
    /// CPU of the caller, the callee and the server, % of one core.
    cpu_pct: [Option<f64>; 3],
    run: CallRun,
}

/// Runs everything and prints the report.
pub fn run(args: &Args) -> Result<()> {
    if args.seconds < 10.0 {
        bail!("--seconds must be at least 10 (a warm-up and a steady window)");
    }
    let sizes: Vec<&str> = args.sizes.split(',').map(str::trim).collect();
    let bins = Bins::beside_me()?;
    let tmp = tempfile::Builder::new()
        .prefix("softphone-video-bench-")
        .tempdir()
        .context("cannot make a temp folder")?;
    let dir = tmp.path();
    let mut report = Report::default();
    let load_before = load_average();
    report.value("fps", json!(args.fps));
    progress(&format!(
        "load average {load_before}; temp folder {}",
        dir.display()
    ));

    for size in &sizes {
        progress(&format!(
            "{size} call at {} fps, {} s",
            args.fps, args.seconds
        ));
        let media = VideoArgs::new(size, args.fps);
        match call(&bins, dir, size, &media, args.seconds, false) {
            Ok(run) => call_figures(&mut report, size, &run),
            Err(e) => report.note(format!("{size} call failed: {e:#}")),
        }
    }

    let size = sizes.first().copied().unwrap_or("1280x720");
    progress(&format!("{size} call with timing logs, glass-to-glass"));
    let media = VideoArgs::new(size, args.fps);
    match call(&bins, dir, size, &media, args.seconds.min(15.0), true) {
        Ok(run) => glass_figures(&mut report, dir, size, &run)?,
        Err(e) => report.note(format!("glass-to-glass call failed: {e:#}")),
    }

    report.finish(&load_before, tmp, args.keep);
    Ok(())
}

/// The CLI options both ends send the pattern with.
struct VideoArgs(Vec<String>);

impl VideoArgs {
    fn new(size: &str, fps: u32) -> VideoArgs {
        let args = ["--video-source", "pattern", "--video-size", size, "--fps"];
        let mut v: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        v.push(fps.to_string());
        VideoArgs(v)
    }
}

/// One video call alice → bob; with `timing`, both ends keep a timing log
/// (`DIR/TAG-caller.log`, `DIR/TAG-callee.log`).
fn call(
    bins: &Bins,
    dir: &Path,
    size: &str,
    media: &VideoArgs,
    seconds: f64,
    timing: bool,
) -> Result<CallFigures> {
    let tag = format!("{}{}", size, if timing { "-timed" } else { "" });
    let launcher = Launcher::default();
    let server = Server::start(bins, &launcher, dir, &format!("server-{tag}"))?;
    let ctx = Ctx {
        bins,
        launcher: &launcher,
        dir,
        url: &server.url,
    };
    let log = |who: &str| -> Vec<String> {
        if timing {
            let path = dir.join(format!("{tag}-{who}.log"));
            vec!["--timing-log".into(), path.display().to_string()]
        } else {
            Vec::new()
        }
    };
    let mut args = vec!["answer".to_owned(), "--wait".into(), "60".into()];
    args.extend(media.0.iter().cloned());
    args.extend(log("callee"));
    let mut bob = ctx.cli(&format!("{tag}-callee"), "bob", &args)?;
    wait_connected(&mut bob)?;
    let mut args: Vec<String> = [
        "call",
        "bob",
        "--video",
        "--timeout",
        "20",
        "--hangup-after",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.push(format!("{seconds}"));
    args.extend(media.0.iter().cloned());
    args.extend(log("caller"));
    let mut alice = ctx.cli(&format!("{tag}-caller"), "alice", &args)?;
    alice.wait_event("video_started", Duration::from_secs(30), |_| true)?;
    let started = Instant::now();
    std::thread::sleep(WARM_UP);
    let before = cpu_of([&alice, &bob, &server.proc]);
    let window = Instant::now();
    // Stop the window a second before the caller hangs up.
    let left = Duration::from_secs_f64(seconds - 1.0).saturating_sub(started.elapsed());
    std::thread::sleep(left);
    let after = cpu_of([&alice, &bob, &server.proc]);
    let secs = window.elapsed().as_secs_f64();
    let cpu_pct = std::array::from_fn(|i| {
        let (a, b) = (before[i]?, after[i]?);
        Some((b - a) / secs * 100.0)
    });
    let caller = alice.wait_exit(Duration::from_secs(60))?;
    let callee = bob.wait_exit(Duration::from_secs(20))?;
    Ok(CallFigures {
        cpu_pct,
        run: CallRun::checked(&tag, caller, callee)?,
    })
}

fn cpu_of(procs: [&Proc; 3]) -> [Option<f64>; 3] {
    procs.map(Proc::cpu_seconds)
}

/// The `media_stats` lines of an end after the first few (the warm-up),
/// the final one (`last`) left out.
fn steady_stats(exit: &Exit) -> Vec<&Value> {
    let all: Vec<&Value> = exit
        .events_named("media_stats")
        .filter(|e| e["last"] != true)
        .collect();
    all.into_iter().skip(3).collect()
}

/// Mean of a video field over the steady stats (`received` fields: the
/// first remote stream).
fn mean_of(stats: &[&Value], field: &str) -> Option<f64> {
    let values: Vec<f64> = stats
        .iter()
        .filter_map(|s| {
            let v = &s["video"];
            v[field]
                .as_f64()
                .or_else(|| v["received"][0][field].as_f64())
        })
        .collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

fn call_figures(report: &mut Report, size: &str, figures: &CallFigures) {
    let ends = [
        ("caller", &figures.run.caller),
        ("callee", &figures.run.callee),
    ];
    for (i, (who, exit)) in ends.into_iter().enumerate() {
        report.figure(
            &format!("cpu_pct_{who}_{size}"),
            &format!("{size} CPU per endpoint, {who} (% of a core)"),
            figures.cpu_pct[i],
            "%",
            if size == "1280x720" {
                Target::AtMost(CPU_TARGET_PCT)
            } else {
                Target::None
            },
        );
        let stats = steady_stats(exit);
        for (field, label, unit) in [
            ("sent_fps", "frames sent per second", "fps"),
            ("shown_fps", "frames shown per second", "fps"),
            ("send_kbps", "video sent", "kb/s"),
        ] {
            report.figure(
                &format!("{field}_{who}_{size}"),
                &format!("{size} {label}, {who}"),
                mean_of(&stats, field),
                unit,
                Target::None,
            );
        }
        if let Some(last) = stats.last() {
            let v = &last["video"];
            report.value(
                &format!("sent_size_{who}_{size}"),
                json!(format!("{}x{}", v["sent_width"], v["sent_height"])),
            );
            report.value(
                &format!("plis_sent_{who}_{size}"),
                v["received"][0]["plis_sent"].clone(),
            );
        }
    }
    report.figure(
        &format!("cpu_pct_server_{size}"),
        &format!("{size} CPU of the server (% of a core)"),
        figures.cpu_pct[2],
        "%",
        Target::None,
    );
}

fn glass_figures(report: &mut Report, dir: &Path, size: &str, figures: &CallFigures) -> Result<()> {
    let read = |who: &str| -> Result<glass::FrameTimes> {
        let path = dir.join(format!("{size}-timed-{who}.log"));
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Ok(glass::parse(&text))
    };
    let (alice, bob) = (read("caller")?, read("callee")?);
    for (dir_name, from, to, receiver) in [
        ("a_to_b", &alice, &bob, &figures.run.callee),
        ("b_to_a", &bob, &alice, &figures.run.caller),
    ] {
        let ms = glass::latencies_ms(from, to, 2_000_000);
        let s = summarize(&ms);
        report.figure(
            &format!("glass_to_glass_ms_{dir_name}"),
            &format!(
                "{size} glass-to-glass {dir_name}, median of {} frames",
                ms.len()
            ),
            s.map(|s| s.median),
            "ms",
            Target::AtMost(GLASS_TARGET_MS),
        );
        report.figure(
            &format!("glass_to_glass_p95_ms_{dir_name}"),
            &format!("{size} glass-to-glass {dir_name}, p95"),
            s.map(|s| s.p95),
            "ms",
            Target::AtMost(GLASS_TARGET_MS),
        );
        let sync = steady_stats(receiver)
            .last()
            .map(|s| s["video"]["received"][0]["sync_delay_ms"].clone());
        report.value(
            &format!("lip_sync_hold_ms_{dir_name}"),
            sync.unwrap_or(Value::Null),
        );
    }
    report.note(
        "glass-to-glass is capture → shown at the other end, including the lip-sync hold \
         (the audio path's delay); no camera or screen latency (pattern source, no display)"
            .into(),
    );
    Ok(())
}
