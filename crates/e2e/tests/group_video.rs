//! Group video through the server's forwarder, with simulated members
//! (`softphone_e2e::video_member`: raw webrtc peers in this process,
//! logged in through the real server binary) that send the test pattern,
//! each from a counter range of its own, and decode what they get.
//!
//! The tests run one at a time (each has three VP8 encoders and six
//! decoders going; two cores).
//!
//! The `cli_` tests are the same calls with real `softphone-cli` processes
//! (`--video-source pattern --record-video DIR`): each prints a
//! `video_received` line per received stream and second, with whose
//! stream it is and the pattern counter read off the decoded picture.

use softphone_e2e::video_member::Received;
use softphone_e2e::{Cli, TestServer, VideoMember, PATIENCE};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

/// Each member's pattern counts from its own million.
const MEMBERS: [(&str, u32); 3] = [
    ("alice", 1_000_000),
    ("bob", 2_000_000),
    ("carol", 3_000_000),
];

/// The member whose pattern shows `counter`.
fn owner(counter: u32) -> Option<&'static str> {
    MEMBERS
        .iter()
        .find(|(_, first)| (*first..first + 1_000_000).contains(&counter))
        .map(|(name, _)| *name)
}

/// Waits until `done` holds, checking every 50 ms; on failure says what
/// `members` sent and got.
async fn eventually(
    what: &str,
    within: Duration,
    members: &[&VideoMember],
    mut done: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + within;
    while !done() {
        if Instant::now() >= deadline {
            let summaries: Vec<String> = members.iter().map(|m| m.summary()).collect();
            panic!("{what}: not within {within:?}\n{}", summaries.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn fail_on_errors(members: &[&VideoMember]) {
    for m in members {
        assert!(m.error().is_none(), "{}: {:?}", m.name(), m.error());
    }
}

/// Frames `to` decoded from `from` so far.
fn frames_from(to: &VideoMember, from: &VideoMember) -> usize {
    to.received()
        .get(from.name())
        .map_or(0, |r| r.counters().len())
}

/// Logs the members in; the first calls the group `team` (alice, bob and
/// carol), the others accept. Returns once everyone decodes everyone.
async fn call(url: &str) -> Vec<VideoMember> {
    let mut members = Vec::new();
    for (user, first) in MEMBERS {
        let member = VideoMember::login(url, user, first).await.expect("log in");
        members.push(member);
    }
    members[0].call_group("team").await.expect("call");
    for m in &mut members[1..] {
        m.accept().await.expect("accept");
    }
    let refs: Vec<&VideoMember> = members.iter().collect();
    eventually("everyone sees everyone", PATIENCE, &refs, || {
        members.iter().all(|to| {
            members
                .iter()
                .filter(|from| from.name() != to.name())
                .all(|from| frames_from(to, from) > 0)
        })
    })
    .await;
    members
}

/// Checks what `who` received: video and audio under each other member's
/// stream id and nothing else, its pattern's counters in that member's
/// range and increasing, at least `min_frames` of them.
fn check_sees_the_others(
    who: &VideoMember,
    received: &HashMap<String, Received>,
    others: &[&VideoMember],
    min_frames: usize,
) {
    let mut sources: Vec<&String> = received.keys().collect();
    sources.sort();
    let mut expected: Vec<String> = others.iter().map(|o| o.name().to_owned()).collect();
    expected.sort();
    assert_eq!(
        sources,
        expected.iter().collect::<Vec<_>>(),
        "{} receives exactly the others' streams",
        who.name()
    );
    for (source, r) in received {
        let user = source.split('/').next().unwrap_or_default();
        let counters = r.counters();
        assert!(
            counters.len() >= min_frames,
            "{} decoded {} frames of {source} (at least {min_frames} expected): {r:?}",
            who.name(),
            counters.len()
        );
        assert!(
            counters.iter().all(|&c| owner(c) == Some(user)),
            "{} got frames of another pattern under {source}: {counters:?}",
            who.name()
        );
        assert!(
            counters.windows(2).all(|w| w[0] < w[1]),
            "{}: {source}'s counters increase: {counters:?}",
            who.name()
        );
        assert!(
            r.audio_packets > 0,
            "{} receives {source}'s audio under the same stream id",
            who.name()
        );
    }
}

/// The forwarder's part of `cli_a_group_of_three_sees_each_others_patterns`,
/// with a check the CLIs cannot make: their patterns all count from 0, the
/// simulated members' from ranges of their own, so this shows that each
/// stream carries the pictures of the member its stream id names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_each_see_the_other_two_and_not_themselves() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start(&[]);
    let members = call(&server.url()).await;
    let counted_from = Instant::now();
    let before: Vec<HashMap<String, Received>> = members.iter().map(|m| m.received()).collect();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let refs: Vec<&VideoMember> = members.iter().collect();
    fail_on_errors(&refs);
    for (i, who) in members.iter().enumerate() {
        let others: Vec<&VideoMember> = refs
            .iter()
            .copied()
            .filter(|m| m.name() != who.name())
            .collect();
        let received = who.received();
        // At 15 fps, 4 s: 60 frames; ask for 45.
        let min = |source: &str| {
            received[source].counters().len()
                - before[i].get(source).map_or(0, |r| r.counters().len())
        };
        check_sees_the_others(who, &received, &others, 45);
        for other in &others {
            let frames = min(other.name());
            println!(
                "{} decoded {frames} frames of {} in {:.1} s",
                who.name(),
                other.name(),
                counted_from.elapsed().as_secs_f64()
            );
            assert!(
                frames >= 45,
                "{} decoded {frames} of {} in 4 s",
                who.name(),
                other.name()
            );
        }
    }
    for m in &members {
        m.leave().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pli_on_a_downtrack_reaches_the_source_and_a_key_frame_comes_back() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start(&[]);
    let members = call(&server.url()).await;
    let (alice, bob) = (&members[0], &members[1]);
    // Let the requests of the joins pass (one per 400 ms at most).
    tokio::time::sleep(Duration::from_secs(1)).await;

    let asked = Instant::now();
    assert!(
        bob.send_pli(alice.name()).await,
        "bob has alice's video track"
    );
    let refs: Vec<&VideoMember> = members.iter().collect();
    eventually(
        "alice gets a PLI for her video",
        Duration::from_secs(2),
        &refs,
        || {
            alice
                .keyframe_requests()
                .iter()
                .any(|(at, ssrc)| *at >= asked && *ssrc == alice.video_ssrc())
        },
    )
    .await;
    let relayed = alice
        .keyframe_requests()
        .iter()
        .find(|(at, _)| *at >= asked)
        .map(|(at, _)| at.duration_since(asked))
        .unwrap_or_default();
    eventually(
        "a key frame from alice reaches bob",
        Duration::from_secs(2),
        &refs,
        || {
            bob.received()
                .get(alice.name())
                .is_some_and(|r| r.keyframes.iter().any(|at| *at > asked))
        },
    )
    .await;
    let keyframe = bob.received()[alice.name()]
        .keyframes
        .iter()
        .find(|at| **at > asked)
        .map(|at| at.duration_since(asked))
        .unwrap_or_default();
    println!(
        "bob's PLI reached alice after {relayed:?}; her key frame reached bob after {keyframe:?}"
    );
    fail_on_errors(&refs);
    for m in &members {
        m.leave().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_joiner_sees_the_others_within_a_second() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start(&[]);
    let url = server.url();
    let login = |(user, first): (&'static str, u32)| VideoMember::login(&url, user, first);
    let alice = login(MEMBERS[0]).await.expect("alice logs in");
    let mut bob = login(MEMBERS[1]).await.expect("bob logs in");
    let mut carol = login(MEMBERS[2]).await.expect("carol logs in");
    alice.call_group("team").await.expect("call");
    bob.accept().await.expect("bob accepts");
    let (alice, bob) = (&alice, &bob);
    eventually(
        "alice and bob see each other",
        PATIENCE,
        &[alice, bob],
        || frames_from(alice, bob) > 0 && frames_from(bob, alice) > 0,
    )
    .await;
    // Two seconds in, long after their encoders' first key frames (the
    // next would come 3,000 frames later unless asked for).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let requests_before = (
        alice.keyframe_requests().len(),
        bob.keyframe_requests().len(),
    );

    carol.accept().await.expect("carol accepts late");
    eventually(
        "carol sees alice and bob",
        PATIENCE,
        &[alice, bob, &carol],
        || frames_from(&carol, alice) > 0 && frames_from(&carol, bob) > 0,
    )
    .await;
    let connected = carol.connected_at().expect("carol connected");
    let received = carol.received();
    for source in [alice, bob] {
        let first = received[source.name()].frames[0].at;
        let after = first.saturating_duration_since(connected);
        println!(
            "carol decoded {}'s first frame {} ms after her connection came up",
            source.name(),
            after.as_millis()
        );
        assert!(
            after < Duration::from_millis(1_500),
            "carol waited {after:?} for {}'s video",
            source.name()
        );
    }
    assert!(
        alice.keyframe_requests().len() > requests_before.0
            && bob.keyframe_requests().len() > requests_before.1,
        "the forwarder asked alice and bob for key frames for carol"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let carol = &carol;
    let refs = [alice, bob, carol];
    fail_on_errors(&refs);
    check_sees_the_others(carol, &carol.received(), &[alice, bob], 10);
    check_sees_the_others(alice, &alice.received(), &[bob, carol], 10);
    for m in refs {
        m.leave().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_video_and_a_pli_storm_from_one_member_stop_nobody_else() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start(&[]);
    let members = call(&server.url()).await;
    let (alice, bob, carol) = (&members[0], &members[1], &members[2]);
    tokio::time::sleep(Duration::from_secs(1)).await;

    // For 2 s carol sends random bytes as her video and 50 PLIs a second
    // about her track of alice's video.
    let (alice_at_bob, bob_at_alice) = (frames_from(bob, alice), frames_from(alice, bob));
    let storm = Instant::now();
    carol.send_garbage(true);
    let mut plis = 0;
    while storm.elapsed() < Duration::from_secs(2) {
        if carol.send_pli(alice.name()).await {
            plis += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    carol.send_garbage(false);
    let storm_took = storm.elapsed();

    // Alice and bob kept seeing each other: ≈ 30 frames in 2 s.
    let (a, b) = (
        frames_from(bob, alice) - alice_at_bob,
        frames_from(alice, bob) - bob_at_alice,
    );
    assert!(
        a >= 20 && b >= 20,
        "during the storm bob decoded {a} frames of alice, alice {b} of bob"
    );
    // Alice was asked at most once per 400 ms.
    let asked = alice
        .keyframe_requests()
        .iter()
        .filter(|(at, _)| *at >= storm)
        .count();
    println!("carol sent {plis} PLIs in {storm_took:?}; alice got {asked} key frame requests");
    assert!(plis >= 50, "carol sent {plis} PLIs");
    assert!(
        asked <= 2 + (storm_took.as_millis() / 400) as usize,
        "alice got {asked} key frame requests in {storm_took:?}"
    );
    // Carol's pattern comes back (her next frame is a key frame).
    let carol_at_bob = frames_from(bob, carol);
    let refs: Vec<&VideoMember> = members.iter().collect();
    eventually(
        "bob decodes carol again",
        Duration::from_secs(3),
        &refs,
        || frames_from(bob, carol) > carol_at_bob,
    )
    .await;
    fail_on_errors(&refs);
    for m in &members {
        m.leave().await;
    }
}

/// Debug builds of three CLIs, the server and a build next door on two
/// cores: small frames.
const CLI_SIZE: &str = "320x180";
const CLI_FPS: u32 = 30;

fn cli_video_args(dir: &std::path::Path) -> Vec<String> {
    let fps = CLI_FPS.to_string();
    let dir = dir.to_string_lossy().into_owned();
    [
        "--video-source",
        "pattern",
        "--video-size",
        CLI_SIZE,
        "--fps",
        &fps,
        "--record-video",
        &dir,
    ]
    .map(str::to_owned)
    .to_vec()
}

fn cli_spawn(url: &str, who: &str, args: &[&str], dir: &std::path::Path) -> softphone_e2e::Cli {
    let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    all.extend(cli_video_args(&dir.join(who)));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    softphone_e2e::Cli::spawn(url, who, &all)
}

/// What one member was shown of another's stream, from its
/// `video_received` lines.
#[derive(Debug)]
struct Shown {
    /// Frames shown per second over the steady part (lines after the first two).
    fps: f64,
    /// Pattern counters advanced per second over the same part.
    counter_fps: f64,
    /// The counters read, one per line.
    counters: Vec<u64>,
    /// When the first picture was shown (unix ms): the first line covers
    /// the time since then (its frames at its frame rate).
    first_picture_ms: u64,
}

/// How long a `video_received` line's window was (ms).
fn window_ms(line: &serde_json::Value) -> u64 {
    let frames = line["frames"].as_f64().unwrap_or(0.0);
    let fps = line["fps"].as_f64().unwrap_or(0.0);
    if fps > 0.0 {
        (frames / fps * 1000.0) as u64
    } else {
        0
    }
}

/// `exit`'s `video_received` lines, by the owner's user id.
fn shown_by_owner(exit: &softphone_e2e::cli::Exit) -> HashMap<String, Shown> {
    let mut lines: HashMap<String, Vec<&serde_json::Value>> = HashMap::new();
    for e in exit
        .events
        .iter()
        .filter(|e| e["event"] == "video_received")
    {
        let owner = e["owner"]["user_id"].as_str().unwrap_or("?").to_owned();
        lines.entry(owner).or_default().push(e);
    }
    lines
        .into_iter()
        .map(|(owner, lines)| {
            let ms = |v: &serde_json::Value| v["unix_ms"].as_u64().unwrap_or(0);
            let steady = &lines[2.min(lines.len() - 1)..];
            let (first, last) = (steady[0], steady[steady.len() - 1]);
            let secs = (ms(last).saturating_sub(ms(first)) as f64 / 1000.0).max(0.001);
            let frames =
                last["frames"].as_u64().unwrap_or(0) - first["frames"].as_u64().unwrap_or(0);
            let counters: Vec<u64> = steady
                .iter()
                .filter_map(|v| v["counter"].as_u64())
                .collect();
            let advanced = counters.last().unwrap_or(&0) - counters.first().unwrap_or(&0);
            let shown = Shown {
                fps: frames as f64 / secs,
                counter_fps: advanced as f64 / secs,
                counters,
                first_picture_ms: ms(lines[0]).saturating_sub(window_ms(lines[0])),
            };
            (owner, shown)
        })
        .collect()
}

/// `who` was shown each of `others`' patterns (and nothing of its own),
/// counters going up, at `min_fps` or more.
fn check_cli_sees(who: &str, exit: &softphone_e2e::cli::Exit, others: &[&str], min_fps: f64) {
    assert_eq!(exit.code, Some(0), "{who} failed: {}", exit.stderr);
    let shown = shown_by_owner(exit);
    assert!(!shown.contains_key(who), "{who} was shown its own video");
    for other in others {
        let s = shown.get(*other).unwrap_or_else(|| {
            panic!(
                "{who} was shown nothing of {other}; printed {:?}",
                exit.names()
            )
        });
        eprintln!(
            "{who} <- {other}: {:.1} fps shown, the counter advanced {:.1}/s, {} lines",
            s.fps,
            s.counter_fps,
            s.counters.len()
        );
        assert!(
            s.counters.len() >= 3,
            "{who} <- {other}: too few lines: {s:?}"
        );
        assert!(
            s.counters.windows(2).all(|w| w[0] < w[1]),
            "{who} <- {other}: the counters must go up: {s:?}"
        );
        assert!(s.fps >= min_fps, "{who} <- {other}: {:.1} fps shown", s.fps);
        assert!(
            s.fps >= 0.8 * s.counter_fps,
            "{who} <- {other}: shown {:.1} fps of the {:.1} sent",
            s.fps,
            s.counter_fps
        );
    }
}

/// The "a group of three sees each other's patterns", with real
/// CLIs through the real server's forwarder.
#[test]
fn cli_a_group_of_three_sees_each_others_patterns() {
    let _one = ONE_AT_A_TIME.blocking_lock();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(&[]);
    let url = server.url();
    let mut answerers = Vec::new();
    for who in ["bob", "carol"] {
        let mut cli = cli_spawn(&url, who, &["answer", "--hangup-after", "10"], dir.path());
        cli.expect_connected();
        answerers.push((who, cli));
    }
    let mut alice = cli_spawn(&url, "alice", &["call", "team", "--video"], dir.path());
    alice.expect_event("media_connected", PATIENCE);
    let exits: Vec<_> = answerers
        .into_iter()
        .map(|(who, cli)| (who, cli.wait(Duration::from_secs(40))))
        .collect();
    // The others hung up: alice, alone, hangs up by herself.
    let alice = alice.wait(Duration::from_secs(20));
    let users = ["alice", "bob", "carol"];
    for (who, exit) in exits
        .iter()
        .map(|(w, e)| (*w, e))
        .chain([("alice", &alice)])
    {
        let others: Vec<&str> = users.iter().copied().filter(|u| *u != who).collect();
        check_cli_sees(who, exit, &others, 0.5 * f64::from(CLI_FPS));
    }
}

/// A member who joins a video call in progress is shown the others'
/// pictures within a couple of seconds: the forwarder asks each sender
/// for a key frame (the senders' key frames are 10 s apart otherwise).
#[test]
fn cli_a_late_joiner_gets_pictures_at_once() {
    let _one = ONE_AT_A_TIME.blocking_lock();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(&[]);
    let url = server.url();
    let mut bob = cli_spawn(&url, "bob", &["answer", "--hangup-after", "14"], dir.path());
    bob.expect_connected();
    let mut carol = Cli::spawn(&url, "carol", &["answer", "--reject"]);
    carol.expect_connected();
    let mut alice = cli_spawn(&url, "alice", &["call", "team", "--video"], dir.path());
    alice.expect_event("media_connected", PATIENCE);
    assert_eq!(carol.wait(PATIENCE).code, Some(0), "carol declined");
    // Alice and bob see each other well before carol comes.
    alice.expect_event("video_started", PATIENCE);
    std::thread::sleep(Duration::from_secs(3));
    let joined_ms = unix_ms();
    let carol = cli_spawn(
        &url,
        "carol",
        &["join", "team", "--hangup-after", "7"],
        dir.path(),
    );
    let carol = carol.wait(Duration::from_secs(30));
    check_cli_sees("carol", &carol, &["alice", "bob"], 0.5 * f64::from(CLI_FPS));
    for (other, s) in shown_by_owner(&carol) {
        let first_picture = s.first_picture_ms.saturating_sub(joined_ms);
        eprintln!("carol was first shown {other} about {first_picture} ms after `join` started");
        assert!(
            first_picture < 3_000,
            "carol waited {first_picture} ms for {other}"
        );
    }
    // Key frames are 3,000 frames apart otherwise: carol's first pictures
    // came from key frames the senders were asked for.
    let carol_video = last_video_stats(&carol);
    for stream in carol_video["received"].as_array().into_iter().flatten() {
        eprintln!(
            "carol <- {}: {} key frames received, {} PLIs sent",
            stream["owner"]["user_id"], stream["keyframes_received"], stream["plis_sent"]
        );
        assert!(stream["keyframes_received"].as_u64() >= Some(1), "{stream}");
    }
    drop(carol);
    let (alice, bob) = (
        alice.wait(Duration::from_secs(30)),
        bob.wait(Duration::from_secs(30)),
    );
    for (who, exit) in [("alice", &alice), ("bob", &bob)] {
        assert_eq!(exit.code, Some(0), "{who} failed: {}", exit.stderr);
        // Carol left before the end: her picture stopped for the others.
        let stopped = exit
            .events
            .iter()
            .any(|e| e["event"] == "video_stopped" && e["owner"]["user_id"] == "carol");
        assert!(
            stopped,
            "{who} was not told carol's video stopped: {:?}",
            exit.names()
        );
        let video = last_video_stats(exit);
        eprintln!(
            "{who}: {} PLIs received, {} key frames sent on request",
            video["plis_received"], video["keyframes_on_request"]
        );
        assert!(video["plis_received"].as_u64() >= Some(1), "{video}");
        assert!(video["keyframes_on_request"].as_u64() >= Some(1), "{video}");
    }
}

/// The `video` part of `exit`'s last `media_stats` line.
fn last_video_stats(exit: &softphone_e2e::cli::Exit) -> serde_json::Value {
    exit.events
        .iter()
        .rev()
        .find(|e| e["event"] == "media_stats")
        .map(|s| s["video"].clone())
        .unwrap_or_else(|| panic!("no media_stats; printed {:?}", exit.names()))
}

/// An audio group call in which one member turns its camera on after 2 s
/// (`--video-after`): no new negotiation is needed (every member's offer
/// has video sections), and the two others are shown its pattern.
#[test]
fn cli_a_camera_turned_on_in_an_audio_group_call_is_seen() {
    let _one = ONE_AT_A_TIME.blocking_lock();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(&[]);
    let url = server.url();
    let record = |who: &str| dir.path().join(who).to_string_lossy().into_owned();
    let (bob_dir, carol_dir, alice_dir) = (record("bob"), record("carol"), record("alice"));
    let mut bob = Cli::spawn(
        &url,
        "bob",
        &["answer", "--hangup-after", "9", "--video-source", "pattern"]
            .into_iter()
            .chain(["--video-size", CLI_SIZE, "--video-after", "2"])
            .chain(["--record-video", &bob_dir])
            .collect::<Vec<_>>(),
    );
    bob.expect_connected();
    let mut carol = Cli::spawn(
        &url,
        "carol",
        &[
            "answer",
            "--hangup-after",
            "9",
            "--record-video",
            &carol_dir,
        ],
    );
    carol.expect_connected();
    let alice = Cli::spawn(
        &url,
        "alice",
        &["call", "team", "--record-video", &alice_dir],
    );
    let (bob, carol) = (
        bob.wait(Duration::from_secs(30)),
        carol.wait(Duration::from_secs(30)),
    );
    let alice = alice.wait(Duration::from_secs(20));
    for (who, exit) in [("alice", &alice), ("carol", &carol)] {
        check_cli_sees(who, exit, &["bob"], 0.5 * f64::from(CLI_FPS));
        let owners: Vec<String> = shown_by_owner(exit).into_keys().collect();
        assert_eq!(owners, ["bob"], "{who} was shown only bob's video");
    }
    assert_eq!(bob.code, Some(0), "bob failed: {}", bob.stderr);
    assert!(shown_by_owner(&bob).is_empty(), "nobody else sent video");
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
