//! End to end through a real PulseAudio server with virtual devices:
//! a tone played into the virtual microphone is captured through cpal,
//! encoded, passed through the jitter buffer, decoded, played to the
//! virtual speaker and recorded from its monitor; the recording must hold
//! the tone. Then the server is killed under an open stream: that must be
//! an error and an event, never a panic.
//!
//! Skipped (with a notice) when the `pulseaudio` binary is absent.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use softphone_media::analysis::{goertzel_power, rms, sine};
use softphone_media::device::{list_devices, CpalSink, CpalSource, DeviceWatcher, WavFileSink};
use softphone_media::pipeline::{spawn_sender, MediaClock, ReceivePipeline, SendPipeline};
use softphone_media::processing::{shared, PassThrough};
use softphone_media::{AudioSink, AudioSource, EncoderConfig, JitterConfig, Packet, FRAME_US};

const TONE_HZ: f32 = 880.0;

fn have(binary: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(binary).is_file()))
        .unwrap_or(false)
}

/// A child process killed (by its pid) when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn interrupt(child: &mut Child) {
    // SIGINT so parecord finalises its WAV header.
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_server(dir: &Path) -> (Guard, PathBuf) {
    let runtime = dir.join("run");
    let home = dir.join("home");
    std::fs::create_dir_all(&runtime).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    Command::new("chmod")
        .arg("700")
        .arg(&runtime)
        .status()
        .unwrap();
    let pa = dir.join("default.pa");
    std::fs::write(
        &pa,
        "load-module module-native-protocol-unix auth-anonymous=1\n\
         load-module module-null-sink sink_name=spk\n\
         load-module module-null-sink sink_name=micsink\n\
         load-module module-remap-source source_name=vmic master=micsink.monitor\n\
         set-default-sink spk\n\
         set-default-source vmic\n",
    )
    .unwrap();
    // Everything below (cpal in this process, paplay/parecord) talks to this server only.
    std::env::set_var("XDG_RUNTIME_DIR", &runtime);
    std::env::set_var("HOME", &home);
    let socket = runtime.join("pulse").join("native");
    std::env::set_var("PULSE_SERVER", format!("unix:{}", socket.display()));
    let log = std::fs::File::create(dir.join("pulseaudio.log")).unwrap();
    let child = Command::new("pulseaudio")
        .args(["-n", "-F"])
        .arg(&pa)
        .args(["--exit-idle-time=-1", "--daemonize=no", "--disallow-exit"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let guard = Guard(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(
            Instant::now() < deadline,
            "pulseaudio did not start; see its log"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    (guard, socket)
}

fn write_tone(path: &Path, secs: f32) {
    let mut sink = WavFileSink::create(path).unwrap();
    let tone = sine(TONE_HZ, 0.5, (48_000.0 * secs) as usize);
    for f in tone.chunks(960) {
        let mut frame = [0.0f32; 960];
        frame[..f.len()].copy_from_slice(f);
        sink.write_frame(&frame).unwrap();
    }
    sink.finish().unwrap();
}

#[test]
fn tone_through_pulseaudio_cpal_opus_jitter_buffer_and_back() {
    if !have("pulseaudio") || !have("paplay") || !have("parecord") {
        println!("SKIPPED: pulseaudio/paplay/parecord not installed (apt-get install pulseaudio pulseaudio-utils)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut server, _socket) = start_server(dir.path());

    let devices = list_devices().unwrap();
    println!("devices: {devices:#?}");
    let mic = devices
        .iter()
        .find(|d| d.input && d.id.starts_with("pulseaudio:") && d.id.ends_with("vmic"))
        .expect("the virtual microphone is listed");
    let spk = devices
        .iter()
        .find(|d| d.output && d.id.starts_with("pulseaudio:") && d.id.ends_with("spk"))
        .expect("the virtual speaker is listed");

    // A new device shows up in the watcher's next list.
    let watcher = DeviceWatcher::start(Duration::from_millis(200)).unwrap();
    let first = watcher
        .lists()
        .recv_timeout(Duration::from_secs(5))
        .unwrap();
    assert!(first.iter().any(|d| d.id.ends_with("spk")));
    let status = Command::new("pactl")
        .args(["load-module", "module-null-sink", "sink_name=headset"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let changed = watcher
        .lists()
        .recv_timeout(Duration::from_secs(5))
        .unwrap();
    assert!(
        changed
            .iter()
            .any(|d| d.output && d.id.ends_with("headset")),
        "{changed:?}"
    );
    drop(watcher);

    let tone = dir.path().join("tone.wav");
    write_tone(&tone, 3.0);
    let recording = dir.path().join("out.wav");
    let mut rec = Guard(
        Command::new("parecord")
            .args([
                "--latency-msec=50",
                "--device=spk.monitor",
                "--file-format=wav",
            ])
            .arg(&recording)
            .spawn()
            .unwrap(),
    );

    let source = CpalSource::open(Some(&mic.id)).unwrap();
    assert_eq!(source.device_id(), mic.id);
    let sink = CpalSink::open(Some(&spk.id)).unwrap();
    let processor = shared(PassThrough);
    let sender = spawn_sender(
        SendPipeline::new(source, processor.clone(), EncoderConfig::default()).unwrap(),
    )
    .unwrap();
    let mut receiver = ReceivePipeline::new(sink, processor, JitterConfig::default());

    let mut play = Guard(
        Command::new("paplay")
            .arg("--device=micsink")
            .arg(&tone)
            .spawn()
            .unwrap(),
    );

    // The receive side: every 20 ms take what the sender produced, then play.
    let clock = MediaClock::new();
    let start = Instant::now();
    let mut next = start;
    let mut packets = 0;
    while start.elapsed() < Duration::from_secs(5) {
        while let Ok(frame) = sender.frames().try_recv() {
            let f = frame.expect("capture keeps running");
            let p = Packet {
                seq: f.seq,
                timestamp: f.timestamp,
                payload: f.payload,
            };
            let now = clock.now_us();
            let outcome = receiver.push(1, p, now).unwrap();
            if std::env::var_os("E2E_TRACE").is_some() {
                eprintln!("push {} at {now}: {outcome:?}", f.seq);
            }
            packets += 1;
        }
        let t = Instant::now();
        receiver.tick(clock.now_us()).unwrap();
        if std::env::var_os("E2E_TRACE").is_some() {
            eprintln!(
                "tick {} took {:?}: {:?}",
                clock.now_us(),
                t.elapsed(),
                receiver.stats()[..].first().map(|s| s.1)
            );
        }
        next += Duration::from_micros(FRAME_US);
        if let Some(d) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
    }
    let _ = play.0.wait();
    sender.stop();
    std::thread::sleep(Duration::from_millis(300));
    interrupt(&mut rec.0);
    let stats = receiver.stats();
    println!("packets: {packets}, jitter buffer: {stats:?}");
    drop(receiver);
    assert!(packets >= 200, "capture delivered {packets} frames in 5 s");

    let samples = softphone_media::device::read_wav_48k_mono(&recording).unwrap();
    println!("recorded {} samples", samples.len());
    assert!(samples.len() > 48_000 * 2, "recording too short");
    // The loudest second of the recording must be the tone.
    let best = samples
        .chunks(48_000)
        .max_by(|a, b| rms(a).total_cmp(&rms(b)))
        .unwrap();
    let on = goertzel_power(best, TONE_HZ);
    let others = [440.0, 660.0, 1000.0, 1320.0, 1760.0, 2640.0]
        .iter()
        .map(|&f| goertzel_power(best, f))
        .fold(0.0f64, f64::max);
    println!(
        "loudest second: rms {:.3}, tone {on:.3e}, strongest other {others:.3e}",
        rms(best)
    );
    assert!(rms(best) > 0.05, "the recording is nearly silent");
    assert!(on > 100.0 * others, "tone {on:e} vs others {others:e}");

    // Kill the server under an open capture stream: an error, not a panic.
    let mut source = CpalSource::open(Some(&mic.id)).unwrap();
    let mut frame = [0.0f32; 960];
    let _ = server.0.kill();
    let _ = server.0.wait();
    let deadline = Instant::now() + Duration::from_secs(10);
    let err = loop {
        match source.read_frame(&mut frame) {
            Err(e) => break e,
            Ok(_) => assert!(Instant::now() < deadline, "reads kept succeeding"),
        }
    };
    println!(
        "after the server died: {err}; event: {:?}",
        source.events().try_recv()
    );
}
