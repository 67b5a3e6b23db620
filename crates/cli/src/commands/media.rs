//! Audio for calls: `--input-wav`, `--output-wav`, `--input-device`,
//! `--output-device`, `--timing-log` (shared by `call`, `answer` and
//! `join`), the video options of `video.rs`, and `devices`.
//!
//! Without any of them a call still negotiates media, with silence in and
//! nothing out. Files and devices are checked before logging in, so a bad
//! path or an unknown device id is a sentence and exit 1, not a failed call.

use super::output;
use super::timing::{TimedSink, TimedSource, TimingLog};
use super::video::{VideoArgs, VideoRecorder};
use anyhow::{bail, Context as _};
use clap::Args;
use serde_json::json;
use softphone_client::media::{MediaConfig, MediaDevices, VideoFrame, VideoSink};
use softphone_client::CallType;
use softphone_media::device::{
    list_all_devices, read_wav_48k_mono, CpalSink, CpalSource, DeviceInfo, NullSink, NullSource,
    WavFileSink, WavFileSource,
};
use softphone_media::{AudioSink, AudioSource, Pacing};
use softphone_video::read_counter;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Where a call's audio comes from and goes to.
#[derive(Debug, Clone, Default, Args)]
pub struct MediaArgs {
    /// Play this WAV file (any rate, mono or stereo, PCM or float) as the
    /// microphone, paced in real time from the moment media connects.
    #[arg(long, value_name = "PATH", conflicts_with = "input_device")]
    pub input_wav: Option<PathBuf>,
    /// Record what the other side says into this WAV file (48 kHz mono 16-bit).
    #[arg(long, value_name = "PATH", conflicts_with = "output_device")]
    pub output_wav: Option<PathBuf>,
    /// Capture from this audio device (an id from `softphone-cli devices`).
    #[arg(long, value_name = "ID")]
    pub input_device: Option<String>,
    /// Play to this audio device (an id from `softphone-cli devices`).
    #[arg(long, value_name = "ID")]
    pub output_device: Option<String>,
    /// Send media only through the server's TURN relay (ICE transport
    /// policy `relay`), for example to check a TURN set-up.
    #[arg(long)]
    pub relay_only: bool,
    /// Start with the microphone muted (the other participants are told).
    #[arg(long)]
    pub muted: bool,
    /// Local UDP address for the media (repeatable; port 0 picks a free
    /// one). Default: every interface, plus loopback.
    #[arg(long = "media-addr", value_name = "IP:PORT")]
    pub media_addrs: Vec<String>,
    /// Append the wall-clock time (unix µs) of every 20 ms frame the
    /// source gives and the sink takes to this file, one line each
    /// (`source|sink INDEX UNIX_US`), for measuring mouth-to-ear latency.
    #[arg(long, value_name = "PATH")]
    pub timing_log: Option<PathBuf>,
    /// Video for the call.
    #[command(flatten)]
    pub video: VideoArgs,
}

/// The input chosen, checked.
#[derive(Clone)]
enum Input {
    Null,
    Wav(Arc<Vec<f32>>),
    Device(String),
}

/// The output chosen, checked.
#[derive(Clone)]
enum Output {
    Null,
    Wav(PathBuf),
    Device(String),
}

impl MediaArgs {
    /// Checks the files and devices and builds the client's media config.
    #[cfg(test)]
    pub fn config(&self) -> anyhow::Result<MediaConfig> {
        self.build().map(|(config, _)| config)
    }

    /// [`MediaArgs::config`], with the video recorder (`--record-video`) to
    /// finish when done; received video goes to it, and with
    /// `--timing-log` the times of test-pattern frames go to the log.
    pub fn build(&self) -> anyhow::Result<(MediaConfig, Option<Arc<VideoRecorder>>)> {
        let input = match (&self.input_wav, &self.input_device) {
            (Some(path), _) => {
                let samples = read_wav_48k_mono(path)
                    .with_context(|| format!("cannot play {} as the microphone", path.display()))?;
                Input::Wav(Arc::new(samples))
            }
            (None, Some(id)) => Input::Device(known_device(id, true)?),
            (None, None) => Input::Null,
        };
        let output = match (&self.output_wav, &self.output_device) {
            (Some(path), _) => {
                // Fail now, not mid-call, if the file cannot be written.
                WavFileSink::create(path)
                    .with_context(|| format!("cannot record into {}", path.display()))?;
                Output::Wav(path.clone())
            }
            (None, Some(id)) => Output::Device(known_device(id, false)?),
            (None, None) => Output::Null,
        };
        let echo_cancellation =
            matches!(input, Input::Device(_)) && matches!(output, Output::Device(_));
        let timing = self
            .timing_log
            .as_deref()
            .map(TimingLog::create)
            .transpose()?;
        self.video.check()?;
        let recorder = self.video.recorder()?;
        let video_sink = video_sink(recorder.clone(), timing.clone());
        let video = self.video.clone();
        let video_settings = video.settings();
        let mut config = MediaConfig::new(move |call| {
            let source: Box<dyn AudioSource> = match &input {
                Input::Null => Box::new(NullSource::new(Pacing::RealTime)),
                Input::Wav(samples) => Box::new(WavFileSource::from_samples(
                    samples.as_ref().clone(),
                    Pacing::RealTime,
                )),
                Input::Device(id) => Box::new(CpalSource::open(Some(id))?),
            };
            let sink: Box<dyn AudioSink> = match &output {
                Output::Null => Box::new(NullSink::default()),
                Output::Wav(path) => Box::new(WavFileSink::create(path)?),
                Output::Device(id) => Box::new(CpalSink::open(Some(id))?),
            };
            let (source, sink): (Box<dyn AudioSource>, Box<dyn AudioSink>) = match &timing {
                Some(log) => (
                    Box::new(TimedSource::new(source, log.clone())),
                    Box::new(TimedSink::new(sink, log.clone())),
                ),
                None => (source, sink),
            };
            let video = (call.call_type == CallType::Video && !video.no_camera)
                .then(|| video.open(&video_settings))
                .flatten();
            Ok(MediaDevices {
                source,
                sink,
                echo_cancellation,
                video,
            })
        });
        config.video = video_settings;
        // Our own frames too, for their capture times.
        config.video.preview = self.timing_log.is_some();
        config.video_sink = video_sink;
        config.relay_only = self.relay_only;
        if !self.media_addrs.is_empty() {
            config.udp_addrs = self.media_addrs.clone();
        }
        Ok((config, recorder))
    }
}

/// Where video frames go: the recorder, the timing log (test-pattern
/// counters), both or neither.
fn video_sink(
    recorder: Option<Arc<VideoRecorder>>,
    timing: Option<TimingLog>,
) -> Option<VideoSink> {
    if recorder.is_none() && timing.is_none() {
        return None;
    }
    let record = recorder.map(|r| r.sink());
    Some(Arc::new(move |frame: &VideoFrame<'_>| {
        if let Some(record) = &record {
            record(frame);
        }
        if let Some(log) = &timing {
            if let Some(counter) = read_counter(frame.frame) {
                log.note_video(frame.local, counter);
            }
        }
    }))
}

/// `id` if some host lists it as an input (or output) device.
fn known_device(id: &str, input: bool) -> anyhow::Result<String> {
    let kind = if input { "input" } else { "output" };
    let devices = list_all_devices().context("cannot list the audio devices")?;
    let fits = |d: &DeviceInfo| d.id == id && if input { d.input } else { d.output };
    if devices.iter().any(fits) {
        return Ok(id.to_owned());
    }
    let ids: Vec<&str> = devices
        .iter()
        .filter(|d| if input { d.input } else { d.output })
        .map(|d| d.id.as_str())
        .collect();
    if ids.is_empty() {
        bail!("there is no audio {kind} device with id {id:?} (this machine lists none); leave the option out to use silence, or use a WAV file");
    }
    bail!(
        "there is no audio {kind} device with id {id:?}; `softphone-cli devices` lists them (the {kind}s are: {})",
        ids.join(", ")
    );
}

/// `devices`: every audio device, then every video source, one JSON object
/// per line (`kind` says which).
pub fn devices() -> anyhow::Result<ExitCode> {
    let devices = list_all_devices().context("cannot list the audio devices")?;
    if devices.is_empty() {
        output::sentence("no audio devices found (WAV files and the null devices still work)");
    }
    for d in devices {
        output::line(&json!({
            "id": d.id,
            "name": d.name,
            "kind": "audio",
            "input": d.input,
            "output": d.output,
            "default_input": d.default_input,
            "default_output": d.default_output,
        }));
    }
    super::video::list_lines();
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unplayable_wav_is_a_sentence() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("not.wav");
        std::fs::write(&bad, b"this is not audio").unwrap();
        let args = MediaArgs {
            input_wav: Some(bad.clone()),
            ..MediaArgs::default()
        };
        let err = format!("{:#}", args.config().unwrap_err());
        assert!(
            err.contains("cannot play") && err.contains("not.wav"),
            "{err}"
        );
        let missing = MediaArgs {
            input_wav: Some(dir.path().join("missing.wav")),
            ..MediaArgs::default()
        };
        assert!(missing.config().is_err());
    }

    #[test]
    fn an_unknown_device_is_a_sentence() {
        let args = MediaArgs {
            output_device: Some("nosuch:device".into()),
            ..MediaArgs::default()
        };
        let err = format!("{:#}", args.config().unwrap_err());
        assert!(
            err.contains("no audio output device with id \"nosuch:device\""),
            "{err}"
        );
    }

    #[test]
    fn no_options_is_silence_and_nothing() {
        assert!(MediaArgs::default().config().is_ok());
    }
}
