//! A microphone that fails mid-call does not end the call: alice (the
//! client library with media, through the real server) talks from a source
//! that fails after a second; her session replaces it (with silence, as it
//! was not a sound device), says so with `MediaDeviceChanged`, and the call
//! goes on until she hangs up. Bob (a real `softphone-cli`) records: the
//! first second is alice's tone, the rest silence.

#[allow(dead_code)] // `tests/audio.rs` uses the rest (coturn).
mod audio_support;

use audio_support::read_wav;
use softphone_client::media::{MediaConfig, MediaDevices};
use softphone_client::CallEvent;
use softphone_e2e::{audio_call, Cli, Party, TestServer, PATIENCE};
use softphone_media::analysis::{goertzel_power, sine};
use softphone_media::device::NullSink;
use softphone_media::{AudioSource, MediaError, ReadStatus, FRAME_SAMPLES};
use std::time::{Duration, Instant};

/// A 660 Hz tone paced in real time that fails after `fail_after` frames.
struct FailingTone {
    tone: Vec<f32>,
    frames: usize,
    fail_after: usize,
    next: Instant,
}

impl AudioSource for FailingTone {
    fn read_frame(&mut self, frame: &mut [f32]) -> softphone_media::Result<ReadStatus> {
        let now = Instant::now();
        if self.next > now {
            std::thread::sleep(self.next - now);
        }
        self.next += Duration::from_millis(20);
        if self.frames >= self.fail_after {
            return Err(MediaError::StreamClosed("the test unplugged it".into()));
        }
        let at = (self.frames * FRAME_SAMPLES) % (self.tone.len() - FRAME_SAMPLES);
        frame.copy_from_slice(&self.tone[at..at + FRAME_SAMPLES]);
        self.frames += 1;
        Ok(ReadStatus::Frame)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_microphone_is_replaced_and_the_call_goes_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let heard = dir.path().join("bob_heard.wav");
    let server = TestServer::start(&["--ring-timeout", "5"]);
    let heard_arg = heard.to_str().expect("utf-8 path").to_owned();
    let url = server.url();
    let bob = tokio::task::spawn_blocking(move || {
        let mut bob = Cli::spawn(&url, "bob/desk", &["answer", "--output-wav", &heard_arg]);
        bob.expect_connected();
        bob
    })
    .await
    .expect("join");

    let mut alice = Party::login(&server.url(), "alice/laptop").await;
    let media = alice.client.enable_media(MediaConfig::new(|_call| {
        Ok(MediaDevices {
            source: Box::new(FailingTone {
                tone: sine(660.0, 0.5, 48_000),
                frames: 0,
                fail_after: 50,
                next: Instant::now(),
            }),
            sink: Box::new(NullSink::default()),
            echo_cancellation: false,
            video: None,
        })
    }));
    let call = alice
        .client
        .initiate_call(audio_call("bob"))
        .await
        .expect("alice calls bob");
    alice
        .expect("media connected", |e| {
            matches!(e, CallEvent::MediaConnected { .. })
        })
        .await;
    let changed = alice
        .expect("the microphone replaced", |e| {
            matches!(e, CallEvent::MediaDeviceChanged { input: true, .. })
        })
        .await;
    match &changed {
        CallEvent::MediaDeviceChanged {
            device_id, failure, ..
        } => {
            assert_eq!(device_id, &None, "not a sound device: silence takes over");
            assert!(
                failure.as_deref().is_some_and(|f| f.contains("unplugged")),
                "{changed:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    // The call is still on two seconds later, and ends when alice hangs up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        alice.client.active_call().is_some(),
        "the call should go on without a microphone"
    );
    alice
        .client
        .end_call(&call.session_id)
        .await
        .expect("alice hangs up");
    media.shutdown().await;
    let bob = tokio::task::spawn_blocking(move || bob.wait(PATIENCE))
        .await
        .expect("join");
    assert_eq!(bob.code, Some(0), "bob: {}", bob.stderr);
    assert!(
        !bob.names().contains(&"media_failed".to_owned()),
        "{:?}",
        bob.names()
    );

    let samples = read_wav(&heard);
    let second =
        |from: usize| &samples[from.min(samples.len())..(from + 48_000).min(samples.len())];
    let tone_at = |s: &[f32]| goertzel_power(s, 660.0);
    let loudest = (0..samples.len().saturating_sub(48_000))
        .step_by(4_800)
        .map(|i| tone_at(second(i)))
        .fold(0.0f64, f64::max);
    let end = tone_at(second(samples.len().saturating_sub(48_000)));
    println!("bob heard the tone at {loudest:.3e}; in the last second {end:.3e}");
    // A second of the 0.5-amplitude tone measures about 6e-2 here; silence 0.
    assert!(loudest > 1e-3, "bob never heard alice's tone ({loudest:e})");
    assert!(
        end < loudest / 1000.0,
        "after the failure bob should hear silence ({end:e} vs {loudest:e})"
    );
}
