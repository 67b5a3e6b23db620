//! ICE restart after a reconnect: alice (a real `softphone-cli`) talks to
//! bob through the real server, her signaling connection going through a
//! TCP relay the test cuts. When it comes back inside the grace period the
//! server sends her `ice_servers` again, her media session sends an offer
//! with fresh ICE credentials, bob answers it, and the speech she sends
//! after the restart still reaches bob's recording.

#[allow(dead_code)] // `tests/audio.rs` uses the rest (coturn).
mod audio_support;

use audio_support::{path, read_wav, similarity, speech};
use softphone_e2e::{Cli, TcpProxy, TestServer, PATIENCE};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn reconnecting_restarts_ice_and_the_audio_goes_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Long enough to be still talking after the cut and the restart.
    let to_bob = speech(
        dir.path(),
        "to_bob",
        "One, two, three, four, five. The signal came back and the call goes on. \
         Six, seven, eight, nine, ten. Can you still hear me clearly now?",
    );
    let bob_rec = dir.path().join("bob_heard.wav");
    let server = TestServer::start(&["--ring-timeout", "5", "--reconnect-grace", "10"]);
    let proxy = TcpProxy::start(server.addr()).await;

    let mut bob = Cli::spawn(
        &server.url(),
        "bob/desk",
        &["answer", "--output-wav", path(&bob_rec)],
    );
    let bob = tokio::task::spawn_blocking(move || {
        bob.expect_connected();
        bob
    })
    .await
    .expect("join");
    let mut alice = Cli::spawn(
        &proxy.url(),
        "alice/laptop",
        &[
            "call",
            "bob",
            "--input-wav",
            path(&to_bob),
            "--hangup-after",
            "14",
        ],
    );
    let alice = tokio::task::spawn_blocking(move || {
        alice.expect_event("media_connected", PATIENCE);
        alice
    })
    .await
    .expect("join");

    // Signaling down for a second, then back inside the grace period.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.restore();

    let (caller, callee) = tokio::task::spawn_blocking(move || {
        let caller = alice.wait(Duration::from_secs(40));
        (caller, bob.wait(Duration::from_secs(40)))
    })
    .await
    .expect("join");
    assert_eq!(caller.code, Some(0), "alice: {}", caller.stderr);
    assert_eq!(callee.code, Some(0), "bob: {}", callee.stderr);

    let names = caller.names();
    let resumed = names
        .iter()
        .position(|n| n == "call_resumed")
        .unwrap_or_else(|| panic!("alice never resumed the call: {names:?}"));
    // The restart: alice offered again after resuming, and bob answered.
    let answers_after = caller.events[resumed..]
        .iter()
        .filter(|e| e["event"] == "signal" && e["data"]["kind"] == "answer")
        .count();
    assert_eq!(
        answers_after, 1,
        "bob should answer alice's ICE-restart offer once: {names:?}"
    );
    let offers_to_bob = callee
        .events
        .iter()
        .filter(|e| e["event"] == "signal" && e["data"]["kind"] == "offer")
        .count();
    assert_eq!(offers_to_bob, 2, "the first offer and the restart");
    let ufrags: Vec<&str> = callee
        .events
        .iter()
        .filter(|e| e["event"] == "signal" && e["data"]["kind"] == "offer")
        .filter_map(|e| e["data"]["sdp"].as_str())
        .filter_map(|sdp| sdp.lines().find(|l| l.starts_with("a=ice-ufrag:")))
        .collect();
    assert_eq!(ufrags.len(), 2, "{ufrags:?}");
    assert_ne!(ufrags[0], ufrags[1], "a restart uses fresh ICE credentials");
    assert!(
        !callee.names().contains(&"media_failed".to_owned()),
        "bob: {:?}",
        callee.names()
    );

    let score = similarity(&read_wav(&to_bob), &read_wav(&bob_rec));
    println!("alice → bob across the restart: {score:?}");
    score.check("alice → bob across the ICE restart");
}
