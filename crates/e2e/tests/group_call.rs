//! Group calls through the server's forwarder, with real processes: the
//! server binary and one `softphone-cli` per member, each sending a tone of
//! its own from a WAV file and recording what it hears. A recording must
//! hold every other member's tone and not its own (checked by spectrum).

#[allow(dead_code)] // the speech and coturn helpers are for other tests
mod audio_support;

use audio_support::{path, read_wav};
use softphone_e2e::cli::Exit;
use softphone_e2e::{signal, Cli, Netns, TestServer, PATIENCE};
use softphone_media::analysis::goertzel_power;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const RATE: usize = 48_000;

/// A WAV file of a steady tone (48 kHz mono 16-bit, sox).
fn tone(dir: &Path, hz: u32, secs: u32) -> PathBuf {
    let file = dir.join(format!("tone{hz}.wav"));
    let status = Command::new("sox")
        .args(["-n", "-r", "48000", "-c", "1", "-b", "16", path(&file)])
        .args(["synth", &secs.to_string(), "sine", &hz.to_string()])
        .args(["vol", &AMPLITUDE.to_string()])
        .status()
        .expect("run sox (scripts/install-deps.sh installs it)");
    assert!(status.success(), "sox failed to make a {hz} Hz tone");
    file
}

/// Power of each of `tones` in `seconds` (start, end) of a recording.
fn powers(samples: &[f32], seconds: (f32, f32), tones: &[u32]) -> Vec<f64> {
    let from = ((seconds.0 * RATE as f32) as usize).min(samples.len());
    let to = ((seconds.1 * RATE as f32) as usize).min(samples.len());
    tones
        .iter()
        .map(|&hz| goertzel_power(&samples[from..to], hz as f32))
        .collect()
}

/// A sent tone's amplitude, and the power `goertzel_power` gives a tone of
/// it (A²/4).
const AMPLITUDE: f64 = 0.25;
const TONE_POWER: f64 = AMPLITUDE * AMPLITUDE / 4.0;

/// Asserts that in `window` of `who`'s recording every tone in `heard` is
/// present at no less than half its sent amplitude and every tone in
/// `not_heard` is at least 20 dB below each of them.
fn check_hears(who: &str, recording: &Path, window: (f32, f32), heard: &[u32], not_heard: &[u32]) {
    let samples = read_wav(recording);
    let all: Vec<u32> = heard.iter().chain(not_heard).copied().collect();
    let p = powers(&samples, window, &all);
    let (present, absent) = p.split_at(heard.len());
    let loudest_absent = absent.iter().copied().fold(0.0, f64::max);
    for (hz, power) in heard.iter().zip(present) {
        assert!(
            *power > TONE_POWER / 4.0 && *power > 100.0 * loudest_absent,
            "{who} should hear {hz} Hz and not {not_heard:?} in {window:?} s: powers of \
             {all:?} = {p:?} (a tone as sent: {TONE_POWER}; {} s recorded)",
            samples.len() as f32 / RATE as f32
        );
    }
}

fn expect_success(who: &str, exit: &Exit) {
    assert_eq!(
        exit.code,
        Some(0),
        "{who} failed: {}\nprinted {:?}",
        exit.stderr,
        exit.names()
    );
}

#[test]
fn four_members_each_hear_the_other_three_and_not_themselves() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(&[]);
    server.admin(&["group", "add", "quad", "--members", "alice,bob,carol,dave"]);
    let url = server.url();
    let members = [("alice", 450), ("bob", 650), ("carol", 950), ("dave", 1350)];
    let tones: Vec<u32> = members.iter().map(|(_, hz)| *hz).collect();
    let recording = |who: &str| dir.path().join(format!("{who}_heard.wav"));

    let mut answerers = Vec::new();
    for (who, hz) in &members[1..] {
        let input = tone(dir.path(), *hz, 30);
        let mut cli = Cli::spawn(
            &url,
            who,
            &[
                "answer",
                "--input-wav",
                path(&input),
                "--output-wav",
                path(&recording(who)),
                "--hangup-after",
                "9",
            ],
        );
        cli.expect_connected();
        answerers.push((*who, cli));
    }
    let input = tone(dir.path(), members[0].1, 30);
    let mut alice = Cli::spawn(
        &url,
        "alice",
        &[
            "call",
            "quad",
            "--input-wav",
            path(&input),
            "--output-wav",
            path(&recording("alice")),
        ],
    );
    alice.expect_event("media_connected", PATIENCE);
    let speakers = alice.expect_event("active_speakers", PATIENCE);
    assert!(
        speakers["speakers"]
            .as_array()
            .is_some_and(|s| !s.is_empty()),
        "alice hears someone speak: {speakers}"
    );

    for (who, cli) in answerers {
        let exit = cli.wait(Duration::from_secs(30));
        expect_success(who, &exit);
        assert!(
            exit.names().contains(&"media_connected".to_owned()),
            "{who}: {:?}",
            exit.names()
        );
    }
    // The others hung up: alice, alone, hangs up by herself.
    let exit = alice.wait(Duration::from_secs(15));
    expect_success("alice", &exit);

    // Everyone is in from about 1 s after the answers; check 3–8 s.
    for (who, hz) in &members {
        let others: Vec<u32> = tones.iter().copied().filter(|t| t != hz).collect();
        check_hears(who, &recording(who), (3.0, 8.0), &others, &[*hz]);
    }
}

#[test]
fn late_joiner_decliner_dropper_and_the_last_to_leave() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A dropped member is removed 1 s after its connection goes.
    let server = TestServer::start(&["--reconnect-grace", "1"]);
    server.admin(&["user", "add", "erin", "--password", "erin"]);
    server.admin(&[
        "group",
        "add",
        "five",
        "--members",
        "alice,bob,carol,dave,erin",
    ]);
    let url = server.url();
    let (a, b, d, e) = (450, 650, 1350, 1750);
    let recording = |who: &str| dir.path().join(format!("{who}_heard.wav"));
    let answer = |who: &str, hz: u32, extra: &[&str]| {
        let input = tone(dir.path(), hz, 40);
        let mut args = vec![
            "answer".to_owned(),
            "--input-wav".to_owned(),
            path(&input).to_owned(),
            "--output-wav".to_owned(),
            path(&recording(who)).to_owned(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut cli = Cli::spawn(&url, who, &args);
        cli.expect_connected();
        cli
    };

    let bob = answer("bob", b, &["--hangup-after", "14"]);
    let mut carol = Cli::spawn(&url, "carol", &["answer", "--reject"]);
    carol.expect_connected();
    let mut erin = answer("erin", e, &[]);
    let input = tone(dir.path(), a, 40);
    let mut alice = Cli::spawn(
        &url,
        "alice",
        &[
            "call",
            "five",
            "--input-wav",
            path(&input),
            "--output-wav",
            path(&recording("alice")),
        ],
    );
    alice.expect_event("media_connected", PATIENCE);
    let declined = alice.expect_event_seen("participant_declined", PATIENCE);
    assert_eq!(declined["user_id"], "carol");
    expect_success("carol", &carol.wait(PATIENCE));

    // 0–4 s: alice, bob, erin. Then dave comes online and joins (his
    // device rings as it connects while the call is still ringing for him).
    std::thread::sleep(Duration::from_secs(4));
    let dave = answer("dave", d, &["--hangup-after", "10"]);
    alice.expect_event_seen("participant_joined", PATIENCE);

    // ~6 s: erin's process dies; after the 1 s grace she is removed.
    std::thread::sleep(Duration::from_secs(2));
    erin.expect_event("media_connected", PATIENCE);
    signal(erin.pid(), "KILL");
    let left = loop {
        let left = alice.expect_event("participant_left", PATIENCE);
        if left["participant"]["user_id"] == "erin" {
            break left;
        }
    };
    assert_eq!(left["reason"], "connection_lost");

    // Bob hangs up at ~14 s after his answer, dave 10 s after his; alice
    // is then alone and hangs up, which ends the call.
    expect_success("bob", &bob.wait(Duration::from_secs(30)));
    expect_success("dave", &dave.wait(Duration::from_secs(30)));
    let exit = alice.wait(Duration::from_secs(15));
    expect_success("alice", &exit);
    assert_eq!(exit.event("call_ended")["status"], "ended");
    drop(erin);

    // The late joiner hears the others and is heard (dave answered ~4 s in).
    check_hears("dave", &recording("dave"), (4.0, 9.0), &[a, b], &[d]);
    check_hears("alice", &recording("alice"), (1.5, 3.5), &[b, e], &[d, a]);
    // After erin is gone (~7 s on) alice still hears bob and dave, not erin.
    check_hears("alice", &recording("alice"), (9.0, 12.0), &[b, d], &[e, a]);
    check_hears("bob", &recording("bob"), (9.0, 12.0), &[a, d], &[e, b]);

    // The call log lists every participant with joined and left times.
    let out = Command::new(softphone_e2e::bin_path("softphone-cli"))
        .args(["--server", &url, "--user", "alice", "--password", "alice"])
        .args(["history", "--group", "five"])
        .output()
        .expect("softphone-cli history");
    assert!(
        out.status.success(),
        "history: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let call: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .expect("one call in the log"),
    )
    .expect("a JSON line");
    assert_eq!(call["status"], "ended", "{call}");
    let participants = call["participants"].as_array().expect("participants");
    for who in ["alice", "bob", "dave", "erin"] {
        let p = participants
            .iter()
            .find(|p| p["user_id"] == who)
            .unwrap_or_else(|| panic!("{who} is not in the log: {call}"));
        assert!(
            p["joined_at"].as_u64().is_some() && p["left_at"].as_u64().is_some(),
            "{who} has joined and left times: {p}"
        );
    }
    let erin = participants.iter().find(|p| p["user_id"] == "erin");
    assert_eq!(
        erin.map(|p| p["left_reason"].clone()),
        Some(serde_json::json!("connection_lost"))
    );
    assert!(
        !participants.iter().any(|p| p["user_id"] == "carol"),
        "carol declined: {call}"
    );
    let carol = call["invitees"]
        .as_array()
        .and_then(|i| i.iter().find(|i| i["user_id"] == "carol"))
        .map(|i| i["response"].clone());
    assert_eq!(carol, Some(serde_json::json!("declined")));
}

/// The `media_stats` lines a CLI printed.
fn media_stats(exit: &Exit) -> Vec<&serde_json::Value> {
    exit.events
        .iter()
        .filter(|e| e["event"] == "media_stats")
        .collect()
}

#[test]
fn one_members_bad_network_spoils_nobody_elses_audio() {
    let dir = tempfile::tempdir().expect("temp dir");
    let recording = |who: &str| dir.path().join(format!("{who}_heard.wav"));
    let (a, b, c) = (450, 650, 950);
    // Everyone on loopback in a namespace of the test's own; carol's media
    // lives on 127.0.0.9, where a quarter of the UDP packets get lost.
    let netns = Netns::new();
    let launch = netns.launch();
    let server = TestServer::start_via(launch.clone(), &["--media-udp", "127.0.0.1:0"]);
    let url = server.url();
    let member = |who: &str, hz: u32, addr: &str, action: &[&str]| {
        let input = tone(dir.path(), hz, 40);
        let mut args: Vec<String> = action.iter().map(|s| s.to_string()).collect();
        args.extend(
            [
                "--input-wav",
                path(&input),
                "--output-wav",
                path(&recording(who)),
                "--media-addr",
                addr,
            ]
            .map(str::to_owned),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Cli::spawn_via(&launch, &url, who, &args)
    };
    let mut bob = member("bob", b, "127.0.0.1:0", &["answer", "--hangup-after", "14"]);
    bob.expect_connected();
    let mut carol = member(
        "carol",
        c,
        "127.0.0.9:0",
        &["answer", "--hangup-after", "14"],
    );
    carol.expect_connected();
    let mut alice = member("alice", a, "127.0.0.1:0", &["call", "team"]);
    alice.expect_event("media_connected", PATIENCE);
    bob.expect_event("media_connected", PATIENCE);
    carol.expect_event("media_connected", PATIENCE);
    netns.drop_udp_to("127.0.0.9", 4);

    let bob = bob.wait(Duration::from_secs(40));
    let carol = carol.wait(Duration::from_secs(40));
    let alice = alice.wait(Duration::from_secs(40));
    for (who, exit) in [("alice", &alice), ("bob", &bob), ("carol", &carol)] {
        expect_success(who, exit);
    }
    let last = |exit: &Exit| {
        media_stats(exit)
            .last()
            .map(|s| (*s).clone())
            .expect("media_stats")
    };
    let loss = |exit: &Exit| last(exit)["loss_pct"].as_f64().expect("loss_pct");
    for (who, exit) in [("alice", &alice), ("bob", &bob), ("carol", &carol)] {
        eprintln!("{who}: last media_stats {}", last(exit));
    }
    assert!(
        (15.0..35.0).contains(&loss(&carol)),
        "carol's downlink loses a quarter: {}",
        last(&carol)
    );
    for (who, exit) in [("alice", &alice), ("bob", &bob)] {
        assert!(
            loss(exit) < 1.0,
            "{who}'s audio is untouched: {}",
            last(exit)
        );
    }
    // Carol's loss reaches the senders (the forwarder relays it in its
    // receiver reports): they add redundancy for her.
    let adapted = media_stats(&alice).iter().any(|s| {
        s["remote_loss_pct"].as_f64() >= Some(10.0) && s["redundancy"].as_u64() >= Some(1)
    });
    assert!(
        adapted,
        "alice should see carol's loss and send redundancy: {:?}",
        media_stats(&alice)
    );
    drop(server);
    drop(netns);

    check_hears("alice", &recording("alice"), (4.0, 11.0), &[b, c], &[a]);
    check_hears("bob", &recording("bob"), (4.0, 11.0), &[a, c], &[b]);
    // Through 25 % loss, with the senders' redundancy, carol still hears both.
    check_hears("carol", &recording("carol"), (4.0, 11.0), &[a, b], &[c]);
}

#[test]
fn a_decliner_joins_later_muted_and_everyone_is_told() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(&[]);
    let url = server.url();
    let recording = dir.path().join("carol_heard.wav");
    let (a, b) = (450, 650);
    let alice_tone = tone(dir.path(), a, 30);
    let bob_tone = tone(dir.path(), b, 30);
    let mut bob = Cli::spawn(&url, "bob", &["answer", "--input-wav", path(&bob_tone)]);
    bob.expect_connected();
    let mut carol = Cli::spawn(&url, "carol", &["answer", "--reject"]);
    carol.expect_connected();
    let mut alice = Cli::spawn(
        &url,
        "alice",
        &["call", "team", "--input-wav", path(&alice_tone)],
    );
    alice.expect_event("media_connected", PATIENCE);
    expect_success("carol (declining)", &carol.wait(PATIENCE));

    // Carol changes her mind: she joins the call in progress, muted.
    let carol = Cli::spawn(
        &url,
        "carol",
        &[
            "join",
            "team",
            "--muted",
            "--output-wav",
            path(&recording),
            "--hangup-after",
            "6",
        ],
    );
    let joined = alice.expect_event_seen("participant_joined", PATIENCE);
    assert_eq!(joined["participant"]["user_id"], "carol");
    let muted = alice.expect_event("participant_muted", PATIENCE);
    assert_eq!(
        (&muted["participant"]["user_id"], &muted["muted"]),
        (&serde_json::json!("carol"), &serde_json::json!(true))
    );
    let muted = bob.expect_event("participant_muted", PATIENCE);
    assert_eq!(muted["participant"]["user_id"], "carol");
    let carol = carol.wait(Duration::from_secs(20));
    expect_success("carol (joining)", &carol);
    assert!(
        carol.names().contains(&"media_connected".to_owned()),
        "{:?}",
        carol.names()
    );
    let speakers = carol.event("active_speakers");
    assert!(
        speakers["speakers"]
            .as_array()
            .is_some_and(|s| !s.is_empty()),
        "carol hears someone: {speakers}"
    );
    // Alice and bob kept talking with each other all along, and carol heard both.
    check_hears("carol", &recording, (2.0, 5.0), &[a, b], &[]);
    drop(alice);
    drop(bob);
}

#[test]
fn without_a_forwarder_group_media_fails_with_a_sentence() {
    let server = TestServer::start(&["--no-forwarder"]);
    let url = server.url();
    let mut bob = Cli::spawn(&url, "bob", &["answer"]);
    bob.expect_connected();
    let alice = Cli::spawn(&url, "alice", &["call", "team"]);
    // Whoever gives up first leaves; the other, then alone, hangs up.
    let exits = [
        ("alice", alice.wait(Duration::from_secs(30))),
        ("bob", bob.wait(Duration::from_secs(30))),
    ];
    let failed: Vec<&serde_json::Value> = exits
        .iter()
        .flat_map(|(_, exit)| exit.events.iter().filter(|e| e["event"] == "media_failed"))
        .collect();
    assert!(
        !failed.is_empty()
            && failed.iter().all(|f| f["reason"]
                .as_str()
                .is_some_and(|r| r.contains("offered no group-call media"))),
        "a sentence saying why: {failed:?}; {:?}",
        exits
            .iter()
            .map(|(w, e)| (w, e.names()))
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_whose_signaling_drops_comes_back_with_an_ice_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(&["--reconnect-grace", "10"]);
    let proxy = softphone_e2e::TcpProxy::start(server.addr()).await;
    let (a, c) = (450, 950);
    let alice_tone = tone(dir.path(), a, 40);
    let carol_tone = tone(dir.path(), c, 40);
    let bob_rec = dir.path().join("bob_heard.wav");
    let url = server.url();
    let bob_args = [
        "answer",
        "--output-wav",
        path(&bob_rec),
        "--hangup-after",
        "13",
    ]
    .map(str::to_owned);
    let carol_args = [
        "answer",
        "--input-wav",
        path(&carol_tone),
        "--hangup-after",
        "13",
    ]
    .map(str::to_owned);
    let alice_args = [
        "call",
        "team",
        "--input-wav",
        path(&alice_tone),
        "--hangup-after",
        "12",
    ]
    .map(str::to_owned);
    let proxy_url = proxy.url();
    let (bob, carol, alice) = tokio::task::spawn_blocking(move || {
        let spawn = |url: &str, who: &str, args: &[String]| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Cli::spawn(url, who, &args)
        };
        let mut bob = spawn(&url, "bob", &bob_args);
        bob.expect_connected();
        let mut carol = spawn(&url, "carol", &carol_args);
        carol.expect_connected();
        // Alice's signaling goes through the relay the test cuts.
        let mut alice = spawn(&proxy_url, "alice", &alice_args);
        alice.expect_event("media_connected", PATIENCE);
        (bob, carol, alice)
    })
    .await
    .expect("join");

    // Signaling down for a second at ~2 s, back inside the grace period.
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.restore();

    let (alice, bob, carol) = tokio::task::spawn_blocking(move || {
        let alice = alice.wait(Duration::from_secs(40));
        (
            alice,
            bob.wait(Duration::from_secs(40)),
            carol.wait(Duration::from_secs(40)),
        )
    })
    .await
    .expect("join");
    for (who, exit) in [("alice", &alice), ("bob", &bob), ("carol", &carol)] {
        expect_success(who, exit);
    }
    let names = alice.names();
    let resumed = names
        .iter()
        .position(|n| n == "call_resumed")
        .unwrap_or_else(|| panic!("alice never resumed the call: {names:?}"));
    let ufrag = |e: &serde_json::Value| {
        e["data"]["sdp"]
            .as_str()
            .and_then(|sdp| sdp.lines().find(|l| l.starts_with("a=ice-ufrag:")))
            .map(str::to_owned)
    };
    let offers = |events: &[serde_json::Value]| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["event"] == "signal" && e["data"]["kind"] == "offer")
            .filter_map(ufrag)
            .collect()
    };
    let before = offers(&alice.events[..resumed]);
    let after = offers(&alice.events[resumed..]);
    assert!(
        !before.is_empty() && after.iter().any(|u| !before.contains(u)),
        "the forwarder restarts ICE with fresh credentials: before {before:?}, after {after:?}"
    );
    // Alice is still heard after the restart (from ~5 s on), with carol.
    check_hears("bob", &bob_rec, (5.0, 10.0), &[a, c], &[]);
}
