//! Video calls between real `softphone-cli` processes through the real
//! server: the test pattern both ways, its burned-in frame counter read off
//! the decoded pictures (`--record-video` prints a `video_received` line per
//! stream and second with the frames shown and the last counter).

use serde_json::Value;
use softphone_e2e::cli::Exit;
use softphone_e2e::{Cli, Netns, TestServer, PATIENCE};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const EXIT: Duration = Duration::from_secs(40);

/// Debug builds on two shared cores: small frames, the full frame rate.
const SIZE: &str = "320x180";
const FPS: u32 = 30;

/// One call at a time: four endpoints sharing two cores would measure
/// each other.
static ONE_CALL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The `video_received` lines of a run.
fn video_lines(exit: &Exit) -> Vec<&Value> {
    exit.events
        .iter()
        .filter(|e| e["event"] == "video_received")
        .collect()
}

/// The last `media_stats` line.
fn last_stats(exit: &Exit) -> &Value {
    exit.events
        .iter()
        .rev()
        .find(|e| e["event"] == "media_stats")
        .unwrap_or_else(|| panic!("no media_stats; printed {:?}", exit.names()))
}

/// What one direction delivered over its steady part (after the first
/// `skip` lines): frames shown per second, counters advanced per second,
/// and whether the counters only went up.
#[derive(Debug)]
struct Delivery {
    shown_fps: f64,
    counter_fps: f64,
    increasing: bool,
    #[allow(dead_code)] // printed
    lines: usize,
}

fn delivery(lines: &[&Value], skip: usize) -> Delivery {
    assert!(
        lines.len() > skip + 2,
        "too few video_received lines: {lines:?}"
    );
    let steady = &lines[skip..];
    let (first, last) = (steady[0], steady[steady.len() - 1]);
    let secs =
        (last["unix_ms"].as_u64().unwrap() - first["unix_ms"].as_u64().unwrap()) as f64 / 1000.0;
    let frames = (last["frames"].as_u64().unwrap() - first["frames"].as_u64().unwrap()) as f64;
    let counter = |v: &Value| v["counter"].as_u64();
    let counters: Vec<u64> = steady.iter().filter_map(|v| counter(v)).collect();
    let increasing = counters.len() == steady.len() && counters.windows(2).all(|w| w[0] < w[1]);
    let advanced = counters.last().unwrap_or(&0) - counters.first().unwrap_or(&0);
    Delivery {
        shown_fps: frames / secs,
        counter_fps: advanced as f64 / secs,
        increasing,
        lines: lines.len(),
    }
}

fn video_args<'a>(dir: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--video-source",
        "pattern",
        "--video-size",
        SIZE,
        "--fps",
        "30",
        "--record-video",
        dir,
    ];
    args.extend_from_slice(extra);
    args
}

/// A call on a fresh server: bob answers with `bob_args`; once he is
/// connected, alice runs `call bob` with `alice_args`. Both must exit 0.
fn call_bob(alice_args: &[&str], bob_args: &[&str]) -> (Exit, Exit) {
    let server = TestServer::start(&[]);
    let mut bob = Cli::spawn(
        &server.url(),
        "bob/desk",
        &[&["answer"][..], bob_args].concat(),
    );
    bob.expect_connected();
    let alice = Cli::spawn(
        &server.url(),
        "alice/laptop",
        &[&["call", "bob"][..], alice_args].concat(),
    );
    let alice = alice.wait(EXIT);
    let bob = bob.wait(EXIT);
    assert_eq!(alice.code, Some(0), "alice: {}", alice.stderr);
    assert_eq!(bob.code, Some(0), "bob: {}", bob.stderr);
    (alice, bob)
}

#[test]
fn a_video_call_shows_each_side_the_others_pattern() {
    let _one = ONE_CALL.lock().unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let (dir_a, dir_b) = (tmp.path().join("alice"), tmp.path().join("bob"));
    let (dir_a, dir_b) = (dir_a.to_str().unwrap(), dir_b.to_str().unwrap());
    let (alice, bob) = call_bob(
        &[
            &["--video", "--hangup-after", "9"][..],
            &video_args(dir_a, &[]),
        ]
        .concat(),
        &video_args(dir_b, &[]),
    );
    for (who, exit, from) in [("alice", &alice, "bob"), ("bob", &bob, "alice")] {
        let started = exit.event("video_started");
        assert_eq!(started["owner"]["user_id"], from, "{started}");
        let lines = video_lines(exit);
        let d = delivery(&lines, 2);
        let stats = last_stats(exit);
        let sent = &stats["video"];
        eprintln!(
            "{who} saw {from}'s pattern: {d:?}; {who} sent {} frames, {} key frames; received {}",
            sent["frames_sent"], sent["keyframes_sent"], sent["received"]
        );
        assert!(d.increasing, "{who}: counters must go up: {lines:?}");
        assert!(
            d.shown_fps >= 0.9 * f64::from(FPS),
            "{who} was shown {:.1} fps of {from}'s {FPS}",
            d.shown_fps
        );
        assert!(
            d.shown_fps >= 0.9 * d.counter_fps,
            "{who} was shown {:.1} fps of the {:.1} {from} sent",
            d.shown_fps,
            d.counter_fps
        );
        let file = lines[0]["file"].as_str().unwrap();
        let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "{who}'s recording {file} has {size} bytes");
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Everything UDP dropped for a second mid-call (both ways): NACK cannot
/// bring that back in time, so each receiver asks for a key frame and its
/// sender sends one; the pictures come back and their counters go on.
/// Needs root (`ip netns`) and nftables.
#[test]
fn a_key_frame_request_after_an_outage_brings_the_picture_back() {
    let _one = ONE_CALL.lock().unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let (dir_a, dir_b) = (tmp.path().join("alice"), tmp.path().join("bob"));
    let (dir_a, dir_b) = (dir_a.to_str().unwrap(), dir_b.to_str().unwrap());
    // Declared before the processes, so dropped after them.
    let netns = Netns::new();
    let launch = netns.launch();
    let server = TestServer::start_via(launch.clone(), &[]);
    let mut bob = Cli::spawn_via(
        &launch,
        &server.url(),
        "bob/desk",
        &[&["answer"][..], &video_args(dir_b, &[])].concat(),
    );
    bob.expect_connected();
    let mut alice = Cli::spawn_via(
        &launch,
        &server.url(),
        "alice/laptop",
        &[
            &["call", "bob", "--video", "--hangup-after", "11"][..],
            &video_args(dir_a, &[]),
        ]
        .concat(),
    );
    bob.expect_event("video_started", PATIENCE);
    alice.expect_event("video_started", PATIENCE);
    std::thread::sleep(Duration::from_secs(3));
    let blocked = unix_ms();
    netns.block_udp();
    std::thread::sleep(Duration::from_secs(1));
    netns.unblock_udp();
    let unblocked = unix_ms();
    let alice = alice.wait(EXIT);
    let bob = bob.wait(EXIT);
    assert_eq!(alice.code, Some(0), "alice: {}", alice.stderr);
    assert_eq!(bob.code, Some(0), "bob: {}", bob.stderr);
    for (who, exit, sender, from) in [
        ("bob", &bob, &alice, "alice"),
        ("alice", &alice, &bob, "bob"),
    ] {
        let lines = video_lines(exit);
        let at = |v: &Value| v["unix_ms"].as_u64().unwrap_or(0);
        let before = lines
            .iter()
            .rev()
            .find(|l| at(l) < blocked)
            .and_then(|l| l["counter"].as_u64())
            .expect("counters before the outage");
        let resumed = lines
            .iter()
            .find(|l| at(l) > blocked && l["max_gap_ms"].as_u64() >= Some(500))
            .unwrap_or_else(|| panic!("{who}: no frozen picture came back: {lines:?}"));
        let recovery_ms = at(resumed).saturating_sub(unblocked);
        let after: Vec<&Value> = lines
            .iter()
            .copied()
            .filter(|l| at(l) > at(resumed) + 1000)
            .collect();
        let d = delivery(&after, 0);
        let received = &last_stats(exit)["video"]["received"][0];
        let sent = &last_stats(sender)["video"];
        eprintln!(
            "{who} saw {from}'s picture again {recovery_ms} ms after the outage (frozen {} ms); then {d:?}; \
             {who} sent {} PLIs, {from} got {} and sent {} key frames on request",
            resumed["max_gap_ms"], received["plis_sent"], sent["plis_received"], sent["keyframes_on_request"]
        );
        assert!(
            resumed["counter"].as_u64() > Some(before),
            "{who}: the counters go on after the outage"
        );
        assert!(d.increasing, "{who}: counters must go up: {after:?}");
        assert!(
            d.shown_fps >= 0.9 * f64::from(FPS),
            "{who} was shown {:.1} fps after the outage",
            d.shown_fps
        );
        assert!(
            recovery_ms < 2000,
            "{who}: took {recovery_ms} ms to recover"
        );
        assert!(
            received["plis_sent"].as_u64() >= Some(1),
            "{who}: {received}"
        );
        assert!(sent["plis_received"].as_u64() >= Some(1), "{from}: {sent}");
        assert!(
            sent["keyframes_on_request"].as_u64() >= Some(1),
            "{from}: {sent}"
        );
    }
}

/// `call` without `--video` is an audio call; `--video-after` turns the
/// pattern on in it and the other side starts showing it, with no new
/// negotiation.
#[test]
fn an_audio_call_becomes_a_video_call() {
    let _one = ONE_CALL.lock().unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let dir_b = tmp.path().join("bob");
    let dir_b = dir_b.to_str().unwrap();
    let (alice, bob) = call_bob(
        &[
            "--hangup-after",
            "9",
            "--video-after",
            "2",
            "--video-source",
            "pattern",
            "--video-size",
            SIZE,
        ],
        &["--record-video", dir_b],
    );
    assert_eq!(alice.event("call_initiated")["call_type"], "audio");
    let changed = alice.event("video_source_changed");
    assert_eq!(changed["source"], "pattern", "{changed}");
    let accepted = alice.event("outgoing_call_accepted");
    let started = bob.event("video_started");
    assert_eq!(started["owner"]["user_id"], "alice");
    let names = bob.names();
    let (i_accept, i_started) = (
        names.iter().position(|n| n == "media_connected"),
        names.iter().position(|n| n == "video_started"),
    );
    assert!(i_accept < i_started, "{names:?}");
    let d = delivery(&video_lines(&bob), 1);
    eprintln!("bob saw alice's pattern after the upgrade: {d:?}");
    assert!(d.increasing, "counters must go up");
    assert!(
        d.shown_fps >= 0.9 * f64::from(FPS),
        "bob was shown {:.1} fps",
        d.shown_fps
    );
    assert!(
        video_lines(&alice).is_empty() && !alice.names().contains(&"video_started".into()),
        "bob sent no video"
    );
    let _ = accepted;
}

/// One end's `--timing-log`: audio frame times and test-pattern counters.
#[derive(Debug, Default)]
struct Times {
    /// Unix µs of audio source frame i.
    source: Vec<u64>,
    /// Unix µs of audio sink frame i.
    sink: Vec<u64>,
    /// Pattern counter → unix µs it was captured here.
    video_source: std::collections::HashMap<u64, u64>,
    /// Pattern counter → unix µs it was shown here.
    video_sink: std::collections::HashMap<u64, u64>,
}

fn read_times(path: &std::path::Path) -> Times {
    let text = std::fs::read_to_string(path).expect("timing log");
    let mut t = Times::default();
    for line in text.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        let [kind, index, us] = parts[..] else {
            panic!("bad timing line {line:?}");
        };
        let (index, us): (u64, u64) = (index.parse().unwrap(), us.parse().unwrap());
        match kind {
            "source" if index as usize == t.source.len() => t.source.push(us),
            "sink" if index as usize == t.sink.len() => t.sink.push(us),
            "video-source" => {
                t.video_source.entry(index).or_insert(us);
            }
            "video-sink" => {
                t.video_sink.entry(index).or_insert(us);
            }
            _ => {}
        }
    }
    t
}

fn median(mut v: Vec<f64>) -> f64 {
    assert!(!v.is_empty(), "nothing to take the median of");
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Lip sync: a beep every second goes out with the pattern; on the other
/// side, the time from capture to playing is measured for each beep (the
/// audio timing log and the recording) and for each frame (its counter in
/// both timing logs). Picture and sound captured together must play
/// within 80 ms of each other.
#[test]
fn sound_and_picture_captured_together_play_together() {
    use softphone_media::device::{read_wav_48k_mono, WavFileSink};
    use softphone_media::AudioSink as _;
    let _one = ONE_CALL.lock().unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (beeps, heard) = (dir.join("beeps.wav"), dir.join("heard.wav"));
    let (log_a, log_b) = (dir.join("alice.log"), dir.join("bob.log"));
    // 14 s: a 40 ms beep (1 kHz) at 0.5 s, 1.5 s, …
    const RATE: usize = 48_000;
    let mut wav = WavFileSink::create(&beeps).unwrap();
    let samples: Vec<f32> = (0..14 * RATE)
        .map(|i| {
            let in_second = i % RATE;
            if (RATE / 2..RATE / 2 + RATE / 25).contains(&in_second) {
                0.5 * (i as f32 * 2.0 * std::f32::consts::PI * 1000.0 / RATE as f32).sin()
            } else {
                0.0
            }
        })
        .collect();
    for frame in samples.chunks(960) {
        wav.write_frame(frame).unwrap();
    }
    wav.finish().unwrap();
    let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    let (log_b_s, heard_s) = (path(&log_b), path(&heard));
    let (log_a_s, beeps_s) = (path(&log_a), path(&beeps));
    let (_alice, bob) = call_bob(
        &[
            "--video",
            "--hangup-after",
            "12",
            "--video-source",
            "pattern",
            "--video-size",
            SIZE,
            "--input-wav",
            &beeps_s,
            "--timing-log",
            &log_a_s,
        ],
        &[
            "--video-source",
            "pattern",
            "--video-size",
            SIZE,
            "--output-wav",
            &heard_s,
            "--timing-log",
            &log_b_s,
        ],
    );
    let (a, b) = (read_times(&log_a), read_times(&log_b));

    // Audio: each beep's onset, sent and heard, on the common clock.
    let at = |frames: &[u64], sample: usize| -> Option<f64> {
        let t = *frames.get(sample / 960)?;
        Some(t as f64 + (sample % 960) as f64 * 1e6 / RATE as f64)
    };
    let recording = read_wav_48k_mono(&heard).unwrap();
    let mut onsets = Vec::new();
    let mut quiet = 0usize;
    for (i, x) in recording.iter().enumerate() {
        if x.abs() > 0.1 && quiet >= RATE / 10 {
            onsets.push(i);
        }
        quiet = if x.abs() > 0.1 { 0 } else { quiet + 1 };
    }
    let mut audio = Vec::new();
    for k in 2..14 {
        let Some(sent) = at(&a.source, k * RATE + RATE / 2) else {
            continue;
        };
        let heard = onsets
            .iter()
            .filter_map(|&q| at(&b.sink, q))
            .find(|&t| t > sent && t < sent + 600_000.0);
        if let Some(heard) = heard {
            audio.push((heard - sent) / 1000.0);
        }
    }
    // Video: every counter captured at alice and shown at bob, after the
    // first two seconds.
    let first = a.video_source.values().min().copied().unwrap_or(0) + 2_000_000;
    let video: Vec<f64> = a
        .video_source
        .iter()
        .filter(|(_, &t)| t > first)
        .filter_map(|(c, &sent)| {
            b.video_sink
                .get(c)
                .map(|&shown| (shown as f64 - sent as f64) / 1000.0)
        })
        .collect();
    assert!(audio.len() >= 8, "beeps heard: {audio:?}");
    assert!(video.len() >= 200, "frames matched: {}", video.len());
    let (audio_ms, video_ms) = (median(audio.clone()), median(video.clone()));
    let offset = video_ms - audio_ms;
    let sync_delay = last_stats(&bob)["video"]["received"][0]["sync_delay_ms"].clone();
    eprintln!(
        "mouth-to-ear {audio_ms:.1} ms (beeps {audio:.0?}), glass-to-glass {video_ms:.1} ms \
         ({} frames, min {:.1}, max {:.1}); video plays {offset:+.1} ms after the audio \
         captured with it; lip-sync delay applied {sync_delay} ms",
        video.len(),
        video.iter().copied().fold(f64::MAX, f64::min),
        video.iter().copied().fold(f64::MIN, f64::max),
    );
    assert!(offset.abs() <= 80.0, "A/V offset {offset:.1} ms");
}

/// CPU time (s) of process `pid`, all its threads (`/proc/PID/stat`,
/// utime + stime in clock ticks of 1/100 s).
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after ")".
    (ticks(11) + ticks(12)) / 100.0
}

/// The figures of `docs/video.md`: a video call with the pattern both ways
/// at each size in `SOFTPHONE_VIDEO_SIZES` (default 640x360,1280x720),
/// 30 fps: CPU per endpoint over 8 steady seconds, frame rates, bitrates.
/// Run it against release binaries:
/// `cargo build --release --bins -p softphone-server -p softphone-cli &&
/// cargo test --release -p softphone-e2e --test video -- --ignored --nocapture`
#[test]
#[ignore = "prints figures; run with --release --ignored --nocapture"]
fn figures_per_size() {
    let _one = ONE_CALL.lock().unwrap_or_else(|p| p.into_inner());
    let sizes =
        std::env::var("SOFTPHONE_VIDEO_SIZES").unwrap_or_else(|_| "640x360,1280x720".into());
    for size in sizes.split(',') {
        let server = TestServer::start(&[]);
        let args = ["--video-source", "pattern", "--video-size", size];
        let mut bob = Cli::spawn(
            &server.url(),
            "bob/desk",
            &[&["answer"][..], &args].concat(),
        );
        bob.expect_connected();
        let mut alice = Cli::spawn(
            &server.url(),
            "alice/laptop",
            &[
                &["call", "bob", "--video", "--hangup-after", "14"][..],
                &args,
            ]
            .concat(),
        );
        alice.expect_event("video_started", PATIENCE);
        std::thread::sleep(Duration::from_secs(3));
        let (pa, pb) = (alice.pid(), bob.pid());
        let (a0, b0) = (cpu_secs(pa), cpu_secs(pb));
        std::thread::sleep(Duration::from_secs(8));
        let (a1, b1) = (cpu_secs(pa), cpu_secs(pb));
        let alice = alice.wait(EXIT);
        let bob = bob.wait(EXIT);
        for (who, exit, cpu) in [("alice", &alice, a1 - a0), ("bob", &bob, b1 - b0)] {
            let stats = exit
                .events
                .iter()
                .rev()
                .find(|e| e["event"] == "media_stats" && e["last"] == false)
                .unwrap_or_else(|| last_stats(exit));
            let v = &stats["video"];
            let r = &v["received"][0];
            eprintln!(
                "{size} {who}: CPU {:.1} % of a core; sent {} fps {}x{} at {} kb/s; \
                 received {} fps decoded, {} shown, {} kb/s, {} PLIs",
                cpu / 8.0 * 100.0,
                v["sent_fps"],
                v["sent_width"],
                v["sent_height"],
                v["send_kbps"],
                r["decoded_fps"],
                r["shown_fps"],
                r["recv_kbps"],
                r["plis_sent"],
            );
        }
    }
}

/// Figures under random loss: one UDP packet in `SOFTPHONE_VIDEO_LOSS_ONE_IN`
/// (default 10) dropped both ways for the whole call, 640×360 at 30 fps:
/// what the receivers show, how often they asked for key frames, where the
/// senders' adaptation went.
#[test]
#[ignore = "prints figures; run with --release --ignored --nocapture"]
fn figures_under_random_loss() {
    let _one = ONE_CALL.lock().unwrap_or_else(|p| p.into_inner());
    let one_in: u32 = std::env::var("SOFTPHONE_VIDEO_LOSS_ONE_IN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let tmp = tempfile::tempdir().unwrap();
    let (dir_a, dir_b) = (tmp.path().join("alice"), tmp.path().join("bob"));
    let (dir_a, dir_b) = (dir_a.to_str().unwrap(), dir_b.to_str().unwrap());
    let netns = Netns::new();
    let launch = netns.launch();
    let server = TestServer::start_via(launch.clone(), &[]);
    let args = |dir| {
        vec![
            "--video-source",
            "pattern",
            "--video-size",
            "640x360",
            "--record-video",
            dir,
        ]
    };
    let mut bob = Cli::spawn_via(
        &launch,
        &server.url(),
        "bob/desk",
        &[&["answer"][..], &args(dir_b)].concat(),
    );
    bob.expect_connected();
    let mut alice = Cli::spawn_via(
        &launch,
        &server.url(),
        "alice/laptop",
        &[
            &["call", "bob", "--video", "--hangup-after", "20"][..],
            &args(dir_a),
        ]
        .concat(),
    );
    alice.expect_event("media_connected", PATIENCE);
    netns.drop_udp(one_in);
    let alice = alice.wait(EXIT);
    let bob = bob.wait(EXIT);
    for (who, exit) in [("alice", &alice), ("bob", &bob)] {
        let lines = video_lines(exit);
        let d = delivery(&lines, 3);
        let stats = exit
            .events
            .iter()
            .rev()
            .find(|e| e["event"] == "media_stats" && e["last"] == false)
            .unwrap_or_else(|| last_stats(exit));
        let v = &stats["video"];
        let r = &v["received"][0];
        let freezes = lines
            .iter()
            .filter(|l| l["max_gap_ms"].as_u64() >= Some(200))
            .count();
        eprintln!(
            "1/{one_in} loss, {who}: shown {:.1} fps (counters {:.1}/s, increasing {}), \
             {freezes} seconds with a freeze ≥ 200 ms; received: {} undecodable, {} PLIs sent, \
             {} kb/s; sent: target {} kb/s, step {}, {}x{} at {} fps, {} key frames ({} on request), \
             remote loss {} %; audio loss {} %, MOS {}",
            d.shown_fps,
            d.counter_fps,
            d.increasing,
            r["frames_undecodable"],
            r["plis_sent"],
            r["recv_kbps"],
            v["target_kbps"],
            v["resolution_step"],
            v["sent_width"],
            v["sent_height"],
            v["sent_fps"],
            v["keyframes_sent"],
            v["keyframes_on_request"],
            v["remote_loss_pct"],
            stats["loss_pct"],
            stats["mos"],
        );
    }
}

/// `call --video --no-camera`: a video call where the caller starts with
/// its camera off; it still shows the callee's video and sends none.
#[test]
fn a_video_call_can_start_with_the_camera_off() {
    let _one = ONE_CALL.lock().unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let (dir_a, dir_b) = (tmp.path().join("alice"), tmp.path().join("bob"));
    let (dir_a, dir_b) = (dir_a.to_str().unwrap(), dir_b.to_str().unwrap());
    let (alice, bob) = call_bob(
        &[
            &["--video", "--hangup-after", "5"][..],
            &video_args(dir_a, &["--no-camera"]),
        ]
        .concat(),
        &video_args(dir_b, &[]),
    );
    assert_eq!(alice.event("call_initiated")["call_type"], "video");
    assert!(delivery(&video_lines(&alice), 1).increasing);
    assert!(video_lines(&bob).is_empty(), "alice sent no video");
    assert_eq!(last_stats(&alice)["video"]["frames_sent"], 0);
}
