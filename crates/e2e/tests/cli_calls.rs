//! Calls between real `softphone-cli` processes through the real server:
//! accept, reject, busy, cancel, unanswered, server-side busy, two devices.

use softphone_e2e::{Cli, TestServer, PATIENCE};
use std::time::Duration;

const EXIT: Duration = Duration::from_secs(20);

/// Starts `answer ARGS` as `who` and waits until it is connected.
fn answerer(server: &TestServer, who: &str, args: &[&str]) -> Cli {
    let mut cli = Cli::spawn(&server.url(), who, &[&["answer"], args].concat());
    cli.expect_connected();
    cli
}

#[test]
fn answered_call_connects_and_either_side_hangs_up() {
    let server = TestServer::start(&[]);
    let bob = answerer(&server, "bob/desk", &["--hangup-after", "1"]);
    let alice = Cli::spawn(&server.url(), "alice/laptop", &["call", "bob"]);
    let alice = alice.wait(EXIT);
    let bob = bob.wait(EXIT);
    assert_eq!(alice.code, Some(0), "alice: {}", alice.stderr);
    assert_eq!(bob.code, Some(0), "bob: {}", bob.stderr);
    let names = alice.names();
    assert!(
        names.contains(&"outgoing_call_accepted".into()),
        "{names:?}"
    );
    assert!(names.contains(&"call_ended".into()), "{names:?}");
    let names = bob.names();
    assert!(
        names.contains(&"incoming_call_received".into()),
        "{names:?}"
    );
    let incoming = bob.event("incoming_call_received");
    let initiated = alice.event("call_initiated");
    assert_eq!(incoming["session_id"], initiated["session_id"]);
}

#[test]
fn callee_rejects() {
    let server = TestServer::start(&[]);
    let bob = answerer(&server, "bob", &["--reject"]);
    let alice = Cli::spawn(&server.url(), "alice", &["call", "bob"]).wait(EXIT);
    assert_ne!(alice.code, Some(0));
    let rejected = alice.event("outgoing_call_rejected");
    assert_eq!(rejected["status"], "rejected");
    assert!(
        alice.stderr.contains("declined"),
        "a sentence: {}",
        alice.stderr
    );
    assert_eq!(bob.wait(EXIT).code, Some(0));
}

#[test]
fn callee_answers_busy() {
    let server = TestServer::start(&[]);
    let bob = answerer(&server, "bob", &["--busy"]);
    let alice = Cli::spawn(&server.url(), "alice", &["call", "bob"]).wait(EXIT);
    assert_ne!(alice.code, Some(0));
    let rejected = alice.event("outgoing_call_rejected");
    assert_eq!(rejected["status"], "busy");
    assert_eq!(bob.wait(EXIT).code, Some(0));
}

#[test]
fn caller_cancels_while_ringing() {
    let server = TestServer::start(&[]);
    let bob = answerer(&server, "bob", &["--answer-after", "30"]);
    let alice = Cli::spawn(
        &server.url(),
        "alice",
        &["call", "bob", "--cancel-after", "1"],
    )
    .wait(EXIT);
    assert_eq!(alice.code, Some(0), "{}", alice.stderr);
    let bob = bob.wait(EXIT);
    assert_ne!(bob.code, Some(0), "the call bob waited to answer went away");
    let cancelled = bob.event("incoming_call_cancelled");
    assert_eq!(cancelled["reason"], "cancelled");
}

#[test]
fn unanswered_after_ring_timeout() {
    let server = TestServer::start(&[]);
    let bob = answerer(&server, "bob", &["--answer-after", "30"]);
    let alice = Cli::spawn(&server.url(), "alice", &["call", "bob", "--timeout", "1"]).wait(EXIT);
    assert_ne!(alice.code, Some(0));
    let rejected = alice.event("outgoing_call_rejected");
    assert_eq!(rejected["status"], "unanswered");
    let bob = bob.wait(EXIT);
    let cancelled = bob.event("incoming_call_cancelled");
    assert_eq!(cancelled["reason"], "unanswered");
    // bob's call log shows it as missed.
    let history = Cli::spawn(&server.url(), "bob", &["history", "--missed"]).wait(EXIT);
    assert_eq!(history.code, Some(0), "{}", history.stderr);
    assert_eq!(history.events.len(), 1, "{:?}", history.events);
    assert_eq!(history.events[0]["initiator"], "alice");
    assert_eq!(history.events[0]["status"], "unanswered");
}

#[test]
fn calling_someone_in_a_call_is_busy_without_ringing() {
    let server = TestServer::start(&[]);
    let dave = answerer(&server, "dave", &["--hangup-after", "8"]);
    let mut carol = Cli::spawn(&server.url(), "carol", &["call", "dave"]);
    carol.expect_event("outgoing_call_accepted", PATIENCE);
    let alice = Cli::spawn(&server.url(), "alice", &["call", "dave"]).wait(EXIT);
    let rejected = alice.event("outgoing_call_rejected");
    assert_eq!(rejected["status"], "busy");
    let dave = dave.wait(EXIT);
    let rings = dave
        .names()
        .iter()
        .filter(|n| *n == "incoming_call_received")
        .count();
    assert_eq!(rings, 1, "dave rang only for carol: {:?}", dave.names());
}

#[test]
fn two_devices_ring_and_the_first_accept_wins() {
    let server = TestServer::start(&[]);
    let first = answerer(&server, "bob/phone", &["--hangup-after", "1"]);
    let second = answerer(&server, "bob/laptop", &["--answer-after", "30"]);
    let alice = Cli::spawn(&server.url(), "alice", &["call", "bob"]).wait(EXIT);
    assert_eq!(alice.code, Some(0), "{}", alice.stderr);
    assert_eq!(first.wait(EXIT).code, Some(0));
    let second = second.wait(EXIT);
    assert!(second.names().contains(&"incoming_call_received".into()));
    let cancelled = second.event("incoming_call_cancelled");
    assert_eq!(cancelled["reason"], "answered_elsewhere");
    assert_ne!(second.code, Some(0), "the laptop did not get to answer");
}

#[test]
fn wrong_password_is_a_sentence_and_a_failure() {
    let server = TestServer::start(&[]);
    let out = std::process::Command::new(softphone_e2e::bin_path("softphone-cli"))
        .args([
            "--server",
            &server.url(),
            "--user",
            "alice",
            "--password",
            "nope",
            "users",
        ])
        .output()
        .expect("run cli");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("wrong username or password"), "{stderr}");
}
