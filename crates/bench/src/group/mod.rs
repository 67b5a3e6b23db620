//! The group bench: the server's forwarder under load and mouth-to-ear
//! through it (see `docs/bench.md`).
//!
//! - [`sim`]: a simulated member (client library for signaling, a webrtc
//!   peer connection of its own, pre-encoded Opus out, packets counted in).
//! - [`load`]: one call of N simulated members against the release
//!   server; the server's CPU and memory over a window.
//! - [`m2e`]: a group call of three real CLIs, one playing markers.
//! - [`profile`]: `--perf`: where the server's time goes under the
//!   largest load (perf samples, bucketed by stack).
//!
//! Shared with the audio bench (`crate::audio`): processes, the server,
//! the marker signal, the latency measurement, WAV files, the report.

pub mod load;
pub mod m2e;
pub mod profile;
pub mod sim;

use crate::audio::call::{last_stats, Bins};
use crate::audio::report::{summarize, Report, Target};
use crate::audio::{latency, load_average, quality, signal, wav};
use anyhow::{Context as _, Result};
use clap::Parser;
use load::LoadRun;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

/// Options.
#[derive(Debug, Parser)]
#[command(
    name = "softphone-group-bench",
    about = "Group calls through the server's forwarder: CPU and memory under load, streams per core, mouth-to-ear"
)]
pub struct Args {
    /// Group sizes for the forwarder load, comma separated (one call each).
    #[arg(long, value_delimiter = ',', default_value = "10,20")]
    pub members: Vec<usize>,
    /// Length of each load window, seconds (once every stream flows).
    #[arg(long, default_value_t = 30.0)]
    pub seconds: f64,
    /// Length of the three-CLI call for mouth-to-ear, seconds after the answer.
    #[arg(long, default_value_t = 30.0)]
    pub call_seconds: f64,
    /// A short smoke run: 4 members for 5 s, a 13 s three-CLI call.
    #[arg(long)]
    pub quick: bool,
    /// Skip the forwarder load.
    #[arg(long)]
    pub no_load: bool,
    /// Skip the three-CLI call.
    #[arg(long)]
    pub no_m2e: bool,
    /// After the largest call's window, sample the server with `perf` for
    /// as long again and print where its time goes.
    #[arg(long)]
    pub perf: bool,
    /// Keep the temp folder (recordings, logs, each process's stderr) and print its path.
    #[arg(long)]
    pub keep: bool,
    /// The members take the forwarder's video sections, as clients that
    /// can send video do, but send no video (without it they reject them,
    /// as audio-only clients do).
    #[arg(long)]
    pub video_sections: bool,
    /// The members also send video: the test pattern at 640×360, VP8
    /// encoded once, at this frame rate (implies --video-sections).
    #[arg(long)]
    pub video_fps: Option<u32>,
}

/// Targets.
const STREAMS_PER_CORE_TARGET: f64 = 2_000.0;
const M2E_TARGET_MS: f64 = 80.0;
/// Below this delivery the machine did not keep up and CPU figures mislead.
const DELIVERY_FLOOR: f64 = 0.95;

fn progress(text: &str) {
    eprintln!("[group-bench] {text}");
}

/// Runs everything and prints the report.
pub fn run(args: &Args) -> Result<()> {
    let (sizes, seconds, call_s) = if args.quick {
        (vec![4], 5.0, 13.0)
    } else {
        (args.members.clone(), args.seconds, args.call_seconds)
    };
    let bins = Bins::beside_me()?;
    let tmp = tempfile::Builder::new()
        .prefix("softphone-group-bench-")
        .tempdir()
        .context("cannot make a temp folder")?;
    let dir = tmp.path();
    let mut report = Report::default();
    let load_before = load_average();
    progress(&format!(
        "load average before: {load_before}; temp folder {}",
        dir.display()
    ));
    let speech = speech_or_tone(dir, &mut report);
    report.value("speech_seconds", json!(speech.len() as f64 / 48_000.0));

    // 1. The forwarder under load.
    if args.no_load {
        report.note("forwarder load: skipped (--no-load)".into());
    } else {
        load_part(&mut report, &bins, dir, &speech, &sizes, seconds, args);
    }

    // 2. Mouth-to-ear through the forwarder.
    if args.no_m2e {
        report.note("mouth-to-ear: skipped (--no-m2e)".into());
    } else {
        progress(&format!("three-CLI group call, {call_s} s"));
        if let Err(e) = m2e_part(&mut report, &bins, dir, &speech, call_s) {
            report.note(format!("mouth-to-ear through the forwarder: n/a: {e:#}"));
        }
    }

    report.finish(&load_before, tmp, args.keep);
    Ok(())
}

/// The audio bench's speech (espeak-ng + sox), or 7 s of a two-tone
/// signal if that cannot be made.
fn speech_or_tone(dir: &Path, report: &mut Report) -> Vec<f32> {
    let speech = quality::make_speech(dir).and_then(|p| wav::read_48k(&p));
    match speech {
        Ok(s) => s,
        Err(e) => {
            report.note(format!(
                "no speech ({e:#}); the members send a tone and the markers follow silence"
            ));
            (0..7 * 48_000)
                .map(|i| {
                    let t = i as f32 / 48_000.0;
                    0.2 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()
                        + 0.1 * (2.0 * std::f32::consts::PI * 1_250.0 * t).sin()
                })
                .collect()
        }
    }
}

fn load_part(
    report: &mut Report,
    bins: &Bins,
    dir: &Path,
    speech: &[f32],
    sizes: &[usize],
    seconds: f64,
    args: &Args,
) {
    let frames = match sim::Frames::encode(speech) {
        Ok(f) => Arc::new(f),
        Err(e) => return report.note(format!("forwarder load: n/a: {e:#}")),
    };
    report.value("opus_frame_mean_bytes", json!(frames.mean_bytes()));
    let video = match args.video_fps {
        Some(fps) => match sim::VideoFrames::encode(fps, 10) {
            Ok(v) => {
                report.value("video_frame_mean_bytes", json!(v.mean_bytes()));
                report.note(format!(
                    "the members send video: the pattern at {}×{}, {fps} fps, {:.0} bytes a frame \
                     on average ({:.0} kb/s)",
                    sim::VideoFrames::WIDTH,
                    sim::VideoFrames::HEIGHT,
                    v.mean_bytes(),
                    v.mean_bytes() * 8.0 * f64::from(fps) / 1000.0
                ));
                load::Video::Send(Arc::new(v))
            }
            Err(e) => return report.note(format!("forwarder load: n/a: {e:#}")),
        },
        None if args.video_sections => {
            report.note("the members take the video sections and send no video".into());
            load::Video::Sections
        }
        None => load::Video::None,
    };
    let perf = args.perf;
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return report.note(format!("forwarder load: n/a: no runtime: {e}")),
    };
    let largest = sizes.iter().copied().max();
    for &n in sizes {
        let profile = perf && Some(n) == largest;
        match load::run(
            bins,
            dir,
            &rt,
            n,
            seconds,
            (frames.clone(), &video),
            profile,
        ) {
            Ok(run) => load_figures(report, &run),
            Err(e) => report.note(format!("forwarder load, {n} members: n/a: {e:#}")),
        }
    }
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
}

fn mb(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn load_figures(report: &mut Report, r: &LoadRun) {
    let n = r.members;
    let key = |name: &str| format!("load{n}_{name}");
    let label = |what: &str| format!("{n} members: {what}");
    report.figure(
        &key("streams"),
        &label("audio streams forwarded"),
        Some(r.streams() as f64),
        "",
        Target::None,
    );
    report.figure(
        &key("delivery_pct"),
        &label("delivery (received / 50 pkt/s per stream)"),
        Some(r.delivery() * 100.0),
        "%",
        Target::None,
    );
    report.figure(
        &key("server_cpu_pct"),
        &label("server CPU"),
        Some(r.server_cores() * 100.0),
        "% of a core",
        Target::None,
    );
    report.figure(
        &key("streams_per_core"),
        &label("forwarded audio streams per core"),
        r.streams_per_core(),
        "",
        Target::AtLeast(STREAMS_PER_CORE_TARGET),
    );
    report.figure(
        &key("server_us_per_packet"),
        &label("server CPU per forwarded packet"),
        r.us_per_packet(),
        "µs",
        Target::None,
    );
    let [before, start, end] = r.memory;
    for (k, what, m) in [
        ("rss_logged_in_mb", "server RSS, members logged in", before),
        ("rss_start_mb", "server RSS, window start", start),
        ("rss_end_mb", "server RSS, window end", end),
    ] {
        report.figure(
            &key(k),
            &label(what),
            m.map(|m| mb(m.rss_kib)),
            "MB",
            Target::None,
        );
    }
    report.figure(
        &key("hwm_mb"),
        &label("server VmHWM (peak RSS)"),
        end.map(|m| mb(m.hwm_kib)),
        "MB",
        Target::None,
    );
    report.figure(
        &key("generator_cpu_pct"),
        &label("load generator CPU (all members)"),
        r.generator_cpu_s.map(|c| c / r.seconds * 100.0),
        "% of a core",
        Target::None,
    );
    report.figure(
        &key("setup_s"),
        &label("call placed → every stream flowing"),
        Some(r.setup_s),
        "s",
        Target::None,
    );
    let per = summarize(&r.per_stream.iter().map(|&p| p as f64).collect::<Vec<_>>());
    report.value(&key("window_s"), json!(r.seconds));
    report.value(&key("server_cpu_s"), json!(r.server_cpu_s));
    report.value(&key("received_packets"), json!(r.received()));
    report.value(&key("received_bytes"), json!(r.received_bytes));
    report.value(&key("sent_packets"), json!(r.sent));
    report.value(&key("offers_answered"), json!(r.answers));
    let min = r.per_stream.iter().copied().min().unwrap_or(0);
    report.value(
        &key("per_stream_packets"),
        json!({"min": min, "median": per.map(|s| s.median), "max": per.map(|s| s.max)}),
    );
    let sent_rate = r.sent as f64 / n as f64 / r.seconds;
    report.note(format!(
        "{n} members, {:.1} s window: members sent {sent_rate:.1} packets/s each; \
         per stream received min {} / median {} / max {} packets (50/s would be {:.0})",
        r.seconds,
        min,
        per.map_or(0.0, |s| s.median),
        per.map_or(0.0, |s| s.max),
        50.0 * r.seconds
    ));
    if let Some(f) = r.forwarder {
        report.value(
            &key("forwarder"),
            json!({"received": f.received, "forwarded": f.forwarded, "dropped": f.dropped, "unsent": f.unsent}),
        );
        report.note(format!(
            "{n} members: the forwarder received {} packets ({:.0}/s), forwarded {} ({:.0}/s), \
             dropped {} (queue full), unsent {} (refused by a connection)",
            f.received,
            f.received as f64 / r.seconds,
            f.forwarded,
            f.forwarded as f64 / r.seconds,
            f.dropped,
            f.unsent
        ));
    } else {
        report.note(format!(
            "{n} members: the server printed no forwarder counters"
        ));
    }
    if !r.video_per_stream.is_empty() {
        video_figures(report, r);
    }
    match &r.profile {
        Some(Ok(p)) => profile_figures(report, r, p),
        Some(Err(e)) => report.note(format!("{n} members: no profile: {e}")),
        None => {}
    }
    if r.delivery() < DELIVERY_FLOOR {
        report.note(format!(
            "{n} members: delivery {:.1} % is well below 100 %: the machine (server and \
             simulated members on the same cores) did not keep up, so the CPU figures \
             of this size are not meaningful",
            r.delivery() * 100.0
        ));
    }
}

fn profile_figures(report: &mut Report, r: &LoadRun, p: &profile::Profile) {
    let n = r.members;
    let us = r.us_per_packet().unwrap_or(0.0);
    let mut lines = Vec::new();
    let mut json_shares = serde_json::Map::new();
    for (name, share) in p.shares() {
        report.figure(
            &format!("load{n}_profile_{}_pct", slug(&name)),
            &format!("{n} members: server time in {name}"),
            Some(share * 100.0),
            "%",
            Target::None,
        );
        lines.push(format!(
            "{name} {:.1} % ≈ {:.2} µs",
            share * 100.0,
            share * us
        ));
        json_shares.insert(name, json!(share));
    }
    for (name, share) in p.inclusive_shares() {
        lines.push(format!(
            "[inclusive] {name} {:.1} % ≈ {:.2} µs",
            share * 100.0,
            share * us
        ));
        json_shares.insert(format!("inclusive: {name}"), json!(share));
    }
    report.value(
        &format!("load{n}_profile"),
        json!({"samples": p.samples, "shares": json_shares}),
    );
    report.note(format!(
        "{n} members: server profile ({} perf samples), per forwarded packet of {us:.2} µs: {}",
        p.samples,
        lines.join("; ")
    ));
}

/// A JSON key from a bucket name: its words before any parenthesis,
/// lower case, joined by `_` ("UDP send syscalls (…)" → `udp_send_syscalls`).
fn slug(name: &str) -> String {
    let head = name.split(" (").next().unwrap_or(name);
    head.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join("_")
}

fn m2e_part(
    report: &mut Report,
    bins: &Bins,
    dir: &Path,
    speech: &[f32],
    seconds: f64,
) -> Result<()> {
    let layout = signal::build_input(speech, seconds + 5.0);
    let shortest = (layout.first_marker as f64 / 48_000.0 + 3.0).ceil();
    if seconds < shortest {
        anyhow::bail!("the call must last at least {shortest} s (the speech and a few markers)");
    }
    let input = dir.join("group-input.wav");
    wav::write(&input, &layout.samples)?;
    let call = m2e::run(bins, dir, &input, seconds)?;
    report.value("m2e_call_seconds", json!(seconds));
    for (to, key) in [("bob", "a2b"), ("carol", "a2c")] {
        let files = latency::Direction {
            from: "alice",
            to,
            sender_log: &m2e::timing_log(dir, "alice"),
            receiver_log: &m2e::timing_log(dir, to),
            recording: &m2e::recording(dir, to),
        };
        latency::report_direction(
            report,
            &format!("group_{key}"),
            files,
            &layout,
            Target::AtMost(M2E_TARGET_MS),
        );
    }
    for (who, exit) in &call.ends {
        let first_audio = last_stats(exit, None).and_then(|s| s["first_audio_ms"].as_f64());
        report.figure(
            &format!("group_accept_to_audio_{who}_ms"),
            &format!("group call: accept → first audio, {who}"),
            first_audio,
            "ms",
            Target::None,
        );
        let connected = exit
            .events_named("media_connected")
            .next()
            .and_then(|e| e["after_ms"].as_f64());
        report.value(
            &format!("group_accept_to_media_connected_{who}_ms"),
            json!(connected),
        );
    }
    Ok(())
}

fn video_figures(report: &mut Report, r: &LoadRun) {
    let n = r.members;
    let key = |name: &str| format!("load{n}_{name}");
    let label = |what: &str| format!("{n} members: {what}");
    let packets: u64 = r.video_per_stream.iter().sum();
    report.figure(
        &key("video_streams"),
        &label("video streams forwarded"),
        Some(r.video_per_stream.len() as f64),
        "",
        Target::None,
    );
    report.figure(
        &key("video_packets_per_s"),
        &label("video packets received per second (all members)"),
        Some(packets as f64 / r.seconds),
        "",
        Target::None,
    );
    report.figure(
        &key("video_kbps_per_stream"),
        &label("video per stream"),
        Some(
            r.video_bytes as f64 * 8.0
                / 1000.0
                / r.seconds
                / r.video_per_stream.len().max(1) as f64,
        ),
        "kb/s",
        Target::None,
    );
    let per = summarize(
        &r.video_per_stream
            .iter()
            .map(|&p| p as f64)
            .collect::<Vec<_>>(),
    );
    let min = r.video_per_stream.iter().copied().min().unwrap_or(0);
    report.value(
        &key("video_per_stream_packets"),
        json!({"min": min, "median": per.map(|s| s.median), "max": per.map(|s| s.max)}),
    );
    report.value(&key("video_frames_sent"), json!(r.video_sent));
    report.value(&key("video_received_packets"), json!(packets));
    if let Some(f) = r.forwarder {
        report.value(
            &key("forwarder_video"),
            json!({"forwarded": f.video_forwarded, "dropped": f.video_dropped, "keyframe_requests": f.keyframe_requests}),
        );
        report.note(format!(
            "{n} members: video packets per stream min {min} / median {} / max {}; the forwarder \
             forwarded {} video packets, dropped {}, asked {} key frames",
            per.map_or(0.0, |s| s.median),
            per.map_or(0.0, |s| s.max),
            f.video_forwarded,
            f.video_dropped,
            f.keyframe_requests
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::slug;

    #[test]
    fn bucket_names_make_short_keys() {
        assert_eq!(
            slug("UDP send syscalls (loopback: incl. …)"),
            "udp_send_syscalls"
        );
        assert_eq!(
            slug("forwarder: LossRelay (feedback.rs)"),
            "forwarder_lossrelay"
        );
        assert_eq!(
            slug("waiting: epoll, futex, park"),
            "waiting_epoll_futex_park"
        );
    }
}
