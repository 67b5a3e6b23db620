//! The echo-test contact end to end: the real server (its `demo` users
//! include `echo`), `softphone-cli echo-bot` as `echo`, and alice calling
//! it with speech from a WAV file. Alice's recording must hold her own
//! speech about a second later than the plain round trip.
//!
//! The round trip without the bot's delay is measured in the same test by
//! a second bot (bob, `--delay 0`) called the same way first, so the check
//! is on the delay the bot adds: 1.0 s ± 0.25 s. Nothing coming back, or
//! the speech coming back at once, fails it. Needs `espeak-ng` and `sox`,
//! like `tests/audio.rs`.

#[allow(dead_code)] // `tests/audio.rs` uses the rest (coturn).
mod audio_support;

use audio_support::{path, read_wav, similarity, speech, Score};
use softphone_e2e::{signal, Cli, TestServer, PATIENCE};
use std::path::Path;
use std::time::Duration;

const EXIT: Duration = Duration::from_secs(30);

/// A bot, started and connected.
fn start_bot(server_url: &str, user_device: &str, args: &[&str]) -> Cli {
    let mut argv = vec!["echo-bot"];
    argv.extend_from_slice(args);
    let mut bot = Cli::spawn(server_url, user_device, &argv);
    bot.expect_connected();
    bot
}

/// Alice calls `whom` with `speech` for 6 s and records what comes back;
/// returns the score of her speech in the recording and when media
/// connected after the accept (s).
fn alice_calls(server_url: &str, whom: &str, speech: &Path, record: &Path) -> (Score, f64) {
    let mut alice = Cli::spawn(
        server_url,
        "alice/laptop",
        &[
            "call",
            whom,
            "--input-wav",
            path(speech),
            "--output-wav",
            path(record),
            "--hangup-after",
            "6",
        ],
    );
    let connected = alice.expect_event("media_connected", PATIENCE);
    let exit = alice.wait(EXIT);
    assert_eq!(exit.code, Some(0), "alice calling {whom}: {}", exit.stderr);
    let connect_s = connected["after_ms"].as_f64().unwrap_or(0.0) / 1000.0;
    let score = similarity(&read_wav(speech), &read_wav(record));
    println!("alice → {whom} → alice: {score:?}, media connected after {connect_s:.3} s");
    (score, connect_s)
}

/// Stops a bot with SIGTERM; it must hang up, log out and exit 0.
fn stop_bot(bot: Cli, who: &str) -> Vec<String> {
    signal(bot.pid(), "TERM");
    let exit = bot.wait(EXIT);
    assert_eq!(exit.code, Some(0), "{who}: {}", exit.stderr);
    exit.names()
}

#[test]
fn the_echo_contact_plays_back_what_it_hears_a_second_later() {
    let dir = tempfile::tempdir().expect("temp dir");
    let said = speech(
        dir.path(),
        "said",
        "Testing, one two three. Can you hear me?",
    );
    let server = TestServer::start(&[]);
    let url = server.url();

    // The plain round trip: a bot with no delay (bob, for the occasion).
    let straight = start_bot(&url, "bob/bot", &["--delay", "0"]);
    let (base, base_connect) = alice_calls(&url, "bob", &said, &dir.path().join("straight.wav"));
    stop_bot(straight, "bob's bot");
    base.check("the round trip without delay");
    let base_path = base.offset_s - base_connect;

    // The echo contact, as `echo` by the demo password; `--user` is given
    // because the test harness always passes one.
    let mut echo = start_bot(&url, "echo/bot", &[]);
    let (back, back_connect) = alice_calls(&url, "echo", &said, &dir.path().join("back.wav"));
    let back_path = back.offset_s - back_connect;
    let added = back_path - base_path;
    println!(
        "round trip {:.3} s without delay, {:.3} s through echo: the bot adds {added:.3} s \
         (envelope correlation {:.3}, waveform {:.3}, level {:.1} dB)",
        base_path, back_path, back.envelope, back.samples, back.level_db
    );
    // A recording without the speech in it scores below 0.3.
    assert!(
        back.envelope > 0.8 && back.samples > 0.5,
        "the speech did not come back: {back:?}"
    );
    assert!(
        (added - 1.0).abs() <= 0.25,
        "the echo came back {added:.3} s after the plain round trip, not 1 s: {back:?} vs {base:?}"
    );
    assert!(
        back.level_db.abs() < 6.0,
        "the echo's level is off: {back:?}"
    );

    // It takes the next caller too (carol, briefly), then stops cleanly.
    echo.expect_event("call_ended", PATIENCE);
    let carol = Cli::spawn(&url, "carol", &["call", "echo", "--hangup-after", "1"]).wait(EXIT);
    assert_eq!(carol.code, Some(0), "carol: {}", carol.stderr);
    let names = stop_bot(echo, "the echo bot");
    let answered = names.iter().filter(|n| *n == "call_accepted").count();
    assert_eq!(answered, 2, "{names:?}");
}
