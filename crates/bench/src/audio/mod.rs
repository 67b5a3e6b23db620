//! The audio bench: one run, four figures (see `docs/bench.md`).
//!
//! - [`call`]: the real server and a real two-CLI call (alice calls bob).
//! - [`latency`]: mouth-to-ear latency from markers and the CLIs'
//!   `--timing-log` frame times (a common wall clock).
//! - [`setup`]: accept → media connected / first decoded audio over N calls.
//! - [`baresip`]: the same call between two baresip instances, for CPU.
//! - [`quality`]: espeak-ng speech and its PESQ-WB score.
//! - [`netns`]: a network namespace with random UDP loss (nftables).
//! - [`signal`]: the input file (speech + chirp markers) and the locator.
//! - [`procs`]: child processes (stdout lines, CPU from /proc, kill by pid).
//! - [`wav`]: reading and writing 16-bit WAV.
//! - [`report`]: percentiles, the table and the JSON line.
//!
//! Order of a run: the main call (`--call-seconds`, both ends with the
//! input file, recordings and timing logs) gives mouth-to-ear latency,
//! clean PESQ-WB and CPU; then `--calls` short calls give setup times;
//! then baresip; then the two lossy calls. A part that fails is reported
//! as n/a with the reason; the rest still runs.

mod baresip;
pub mod call;
pub mod latency;
mod netns;
pub mod procs;
pub mod quality;
pub mod report;
mod setup;
pub mod signal;
pub mod wav;

use anyhow::{Context as _, Result};
use call::{two_party_call, Bins, CallRun, Ctx, Media, Server};
use clap::Parser;
use procs::Launcher;
use quality::Scorer;
use report::{summarize, Report, Target};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Options.
#[derive(Debug, Parser)]
#[command(
    name = "softphone-audio-bench",
    about = "Audio figures of real softphone-cli calls over loopback"
)]
pub struct Args {
    /// Length of the main call (latency, clean PESQ, CPU), seconds after the answer.
    #[arg(long, default_value_t = 60.0)]
    pub call_seconds: f64,
    /// Calls for the accept → audio figures.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub calls: u32,
    /// Length of each lossy call, seconds.
    #[arg(long, default_value_t = 14.0)]
    pub loss_seconds: f64,
    /// A short smoke run: 12 s calls, 2 setup calls.
    #[arg(long)]
    pub quick: bool,
    /// Skip the baresip reference call.
    #[arg(long)]
    pub no_baresip: bool,
    /// Skip the lossy calls.
    #[arg(long)]
    pub no_loss: bool,
    /// `scripts/speech_score.py` [default: found from the current folder up].
    #[arg(long, value_name = "PATH")]
    pub score_script: Option<PathBuf>,
    /// Keep the temp folder (recordings, logs) and print its path.
    #[arg(long)]
    pub keep: bool,
}

/// Milliseconds targets and limits.
const M2E_TARGET_MS: f64 = 60.0;
const SETUP_TARGET_MS: f64 = 150.0;

fn progress(text: &str) {
    eprintln!("[audio-bench] {text}");
}

/// The load average (1, 5 and 15 min), as `/proc/loadavg` has it.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Runs everything and prints the report.
pub fn run(args: &Args) -> Result<()> {
    let (call_s, calls, loss_s) = if args.quick {
        (13.0, 2, 12.0)
    } else {
        (args.call_seconds, args.calls as usize, args.loss_seconds)
    };
    let bins = Bins::beside_me()?;
    let tmp = tempfile::Builder::new()
        .prefix("softphone-audio-bench-")
        .tempdir()
        .context("cannot make a temp folder")?;
    let dir = tmp.path();
    let mut report = Report::default();
    let load_before = load_average();
    progress(&format!(
        "load average before: {load_before}; temp folder {}",
        dir.display()
    ));

    let speech_path = quality::make_speech(dir)?;
    let speech = wav::read_48k(&speech_path)?;
    let layout = signal::build_input(&speech, call_s + 5.0);
    let input = dir.join("input.wav");
    wav::write(&input, &layout.samples)?;
    // The speech of the first block and a few markers must fit in a call.
    let shortest = (layout.first_marker as f64 / 48_000.0 + 3.0).ceil();
    if call_s < shortest || loss_s < shortest {
        anyhow::bail!("--call-seconds and --loss-seconds must be at least {shortest} (the speech and a few markers)");
    }
    let scorer = match Scorer::find(args.score_script.as_deref()) {
        Ok(s) => Some(s),
        Err(e) => {
            report.note(format!("PESQ skipped: {e:#}"));
            None
        }
    };
    report.value("call_seconds", json!(call_s));
    report.value("speech_seconds", json!(speech.len() as f64 / 48_000.0));

    // 1. The main call: latency, clean PESQ, CPU.
    progress(&format!("main call, {call_s} s"));
    let mut ours_cpu = None;
    match main_call(&bins, dir, &input, call_s) {
        Ok((run, server_cpu)) => {
            latency_figures(&mut report, dir, &layout);
            pesq_figures(
                &mut report,
                scorer.as_ref(),
                &speech_path,
                dir,
                "clean",
                Target::AtLeast(4.0),
            );
            ours_cpu = cpu_figures(&mut report, &run, server_cpu, call_s);
            for (who, exit) in [("caller", &run.caller), ("callee", &run.callee)] {
                let last = call::last_stats(exit, None);
                report.value(
                    &format!("main_playout_delay_ms_{who}"),
                    json!(last.and_then(|s| s["playout_delay_ms"].as_f64())),
                );
                for field in ["loss_pct", "concealed", "late", "send_kbps"] {
                    report.value(
                        &format!("main_{field}_{who}"),
                        last.map_or(Value::Null, |s| s[field].clone()),
                    );
                }
            }
        }
        Err(e) => report.note(format!("main call failed, no latency/PESQ/CPU: {e:#}")),
    }

    // 2. Setup times.
    progress(&format!("{calls} calls for accept → audio"));
    match setup_calls(&bins, dir, &speech_path, calls) {
        Ok(t) => setup_figures(&mut report, &t),
        Err(e) => report.note(format!("setup calls failed: {e:#}")),
    }

    // 3. baresip.
    if args.no_baresip {
        report.note("baresip: skipped (--no-baresip)".into());
    } else {
        progress(&format!("baresip call, {call_s} s"));
        match baresip::run(dir, &input, call_s) {
            Ok(b) => baresip_figures(&mut report, &b, ours_cpu, scorer.as_ref(), &speech_path),
            Err(e) => report.note(format!("baresip: skipped: {e:#}")),
        }
    }

    // 4. Loss.
    for (pct, one_in, target) in [(10, 10, 3.5), (20, 5, 3.0)] {
        let tag = format!("loss{pct}");
        if args.no_loss {
            report.note(format!("{pct} % loss: skipped (--no-loss)"));
            continue;
        }
        progress(&format!("call with {pct} % random UDP loss, {loss_s} s"));
        match lossy_call(&bins, dir, &input, loss_s, &tag, one_in) {
            Ok(run) => {
                for (who, exit) in [("caller", &run.caller), ("callee", &run.callee)] {
                    let loss = call::last_stats(exit, None).and_then(|s| s["loss_pct"].as_f64());
                    report.value(&format!("{tag}_measured_loss_pct_{who}"), json!(loss));
                    for field in ["concealed", "fec_recovered", "red_recovered"] {
                        report.value(
                            &format!("{tag}_{field}_{who}"),
                            call::last_stats(exit, None).map_or(Value::Null, |s| s[field].clone()),
                        );
                    }
                }
                pesq_figures(
                    &mut report,
                    scorer.as_ref(),
                    &speech_path,
                    dir,
                    &tag,
                    Target::AtLeast(target),
                );
            }
            Err(e) => report.note(format!("{pct} % loss: skipped: {e:#}")),
        }
    }

    report.finish(&load_before, tmp, args.keep);
    Ok(())
}

/// The main call on the host: both ends play `input`, record and log frame times.
fn main_call(
    bins: &Bins,
    dir: &Path,
    input: &Path,
    seconds: f64,
) -> Result<(CallRun, Option<f64>)> {
    let launcher = Launcher::default();
    let server = Server::start(bins, &launcher, dir, "server")?;
    let ctx = Ctx {
        bins,
        launcher: &launcher,
        dir,
        url: &server.url,
    };
    let before = server.proc.cpu_seconds();
    let run = two_party_call(
        &ctx,
        "main",
        &media(dir, input, "clean", "alice"),
        &media(dir, input, "clean", "bob"),
        seconds,
        None,
    )?;
    let after = server.proc.cpu_seconds();
    let server_cpu = before.zip(after).map(|(b, a)| a - b);
    Ok((run, server_cpu))
}

fn media(dir: &Path, input: &Path, tag: &str, who: &str) -> Media {
    Media {
        input: Some(input.to_path_buf()),
        output: Some(dir.join(format!("{tag}-{who}-heard.wav"))),
        timing: Some(dir.join(format!("{tag}-{who}.timing"))),
    }
}

fn latency_figures(report: &mut Report, dir: &Path, layout: &signal::Layout) {
    for (from, to, key) in [("alice", "bob", "a2b"), ("bob", "alice", "b2a")] {
        let files = latency::Direction {
            from,
            to,
            sender_log: &dir.join(format!("clean-{from}.timing")),
            receiver_log: &dir.join(format!("clean-{to}.timing")),
            recording: &dir.join(format!("clean-{to}-heard.wav")),
        };
        latency::report_direction(report, key, files, layout, Target::AtMost(M2E_TARGET_MS));
    }
}

fn pesq_figures(
    report: &mut Report,
    scorer: Option<&Scorer>,
    sent: &Path,
    dir: &Path,
    tag: &str,
    target: Target,
) {
    let Some(scorer) = scorer else { return };
    for (from, to, key) in [("alice", "bob", "a2b"), ("bob", "alice", "b2a")] {
        let received = dir.join(format!("{tag}-{to}-heard.wav"));
        let label = format!("PESQ-WB {tag} {from}→{to}");
        match scorer.score(sent, &received) {
            Ok(s) => {
                report.figure(
                    &format!("pesq_{tag}_{key}"),
                    &label,
                    Some(s.pesq_wb),
                    "",
                    target,
                );
                report.value(
                    &format!("pesq_{tag}_{key}_correlation"),
                    json!(s.correlation),
                );
                report.value(&format!("pesq_{tag}_{key}_offset_s"), json!(s.offset_s));
            }
            Err(e) => {
                report.figure(&format!("pesq_{tag}_{key}"), &label, None, "", target);
                report.note(format!("{label}: {e:#}"));
            }
        }
    }
}

/// Ours: (caller, callee) CPU seconds.
fn cpu_figures(
    report: &mut Report,
    run: &CallRun,
    server_cpu: Option<f64>,
    seconds: f64,
) -> Option<(f64, f64)> {
    report.figure(
        "cpu_caller_s",
        &format!("CPU caller, {seconds} s call"),
        run.caller.cpu_s,
        "s",
        Target::None,
    );
    report.figure(
        "cpu_callee_s",
        &format!("CPU callee, {seconds} s call"),
        run.callee.cpu_s,
        "s",
        Target::None,
    );
    report.figure(
        "cpu_server_s",
        "CPU server during the call",
        server_cpu,
        "s",
        Target::None,
    );
    run.caller.cpu_s.zip(run.callee.cpu_s)
}

fn setup_calls(bins: &Bins, dir: &Path, speech: &Path, calls: usize) -> Result<setup::SetupTimes> {
    let launcher = Launcher::default();
    let server = Server::start(bins, &launcher, dir, "setup-server")?;
    let ctx = Ctx {
        bins,
        launcher: &launcher,
        dir,
        url: &server.url,
    };
    setup::run(&ctx, speech, calls)
}

fn setup_figures(report: &mut Report, t: &setup::SetupTimes) {
    for (who, connected, audio) in [
        ("caller", &t.caller_connected, &t.caller_audio),
        ("callee", &t.callee_connected, &t.callee_audio),
    ] {
        let a = summarize(audio);
        let c = summarize(connected);
        report.figure(
            &format!("accept_to_audio_{who}_median_ms"),
            &format!("accept→first audio {who} median"),
            a.map(|s| s.median),
            "ms",
            Target::AtMost(SETUP_TARGET_MS),
        );
        report.figure(
            &format!("accept_to_audio_{who}_max_ms"),
            &format!("accept→first audio {who} max"),
            a.map(|s| s.max),
            "ms",
            Target::AtMost(SETUP_TARGET_MS),
        );
        report.figure(
            &format!("accept_to_media_connected_{who}_median_ms"),
            &format!("accept→media connected {who} median"),
            c.map(|s| s.median),
            "ms",
            Target::None,
        );
        report.value(
            &format!("accept_to_audio_{who}_samples_ms"),
            Value::from(audio.clone()),
        );
        report.value(
            &format!("accept_to_audio_{who}_calls"),
            json!(a.map_or(0, |s| s.n)),
        );
    }
}

fn baresip_figures(
    report: &mut Report,
    b: &baresip::BaresipRun,
    ours: Option<(f64, f64)>,
    scorer: Option<&Scorer>,
    speech: &Path,
) {
    report.figure(
        "baresip_cpu_caller_s",
        "CPU baresip caller",
        Some(b.caller_cpu_s),
        "s",
        Target::None,
    );
    report.figure(
        "baresip_cpu_callee_s",
        "CPU baresip callee",
        Some(b.callee_cpu_s),
        "s",
        Target::None,
    );
    let ratio = |o: f64, r: f64| (r > 0.0).then(|| o / r);
    report.figure(
        "cpu_ratio_caller",
        "CPU ratio ours/baresip caller",
        ours.and_then(|(c, _)| ratio(c, b.caller_cpu_s)),
        "",
        Target::AtMost(1.0),
    );
    report.figure(
        "cpu_ratio_callee",
        "CPU ratio ours/baresip callee",
        ours.and_then(|(_, c)| ratio(c, b.callee_cpu_s)),
        "",
        Target::AtMost(1.0),
    );
    report.value("baresip_call_seconds", json!(b.seconds));
    if let (Some(scorer), Some(heard)) = (scorer, &b.callee_heard) {
        match scorer.score(speech, heard) {
            Ok(s) => report.figure(
                "baresip_pesq_clean_a2b",
                "PESQ-WB baresip clean (reference)",
                Some(s.pesq_wb),
                "",
                Target::None,
            ),
            Err(e) => report.note(format!("baresip PESQ: {e:#}")),
        }
    }
}

fn lossy_call(
    bins: &Bins,
    dir: &Path,
    input: &Path,
    seconds: f64,
    tag: &str,
    one_in: u32,
) -> Result<CallRun> {
    let ns = netns::LossyNetns::create(&format!("spbench-{}-{tag}", std::process::id()))?;
    let launcher = Launcher {
        netns: Some(ns.name.clone()),
    };
    let server = Server::start(bins, &launcher, dir, &format!("{tag}-server"))?;
    let ctx = Ctx {
        bins,
        launcher: &launcher,
        dir,
        url: &server.url,
    };
    let alice = Media {
        timing: None,
        ..media(dir, input, tag, "alice")
    };
    let bob = Media {
        timing: None,
        ..media(dir, input, tag, "bob")
    };
    // Loss starts once the media is up: the figure is the call's steady
    // state (under loss, ICE/DTLS setup itself can take seconds and the
    // speech would be sent before there is a connection to carry it).
    let drop_now = || ns.start_dropping(one_in);
    let run = two_party_call(&ctx, tag, &alice, &bob, seconds, Some(&drop_now));
    drop(server);
    drop(ns);
    run
}
