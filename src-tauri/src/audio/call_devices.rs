//! Opening a call's microphone and speaker from the settings, with a
//! fallback instead of a failed call: a chosen device that is gone gives the
//! system default, no device at all gives silence (microphone) or nothing
//! (speaker); each fallback is a sentence for the UI. The microphone is
//! wrapped in the media crate's mute switch, kept in [`CallMute`].

use super::level::{LevelMeter, MeteredSink, MeteredSource};
use crate::settings::AudioSettings;
use crate::state::lock;
use softphone_client::media::{MediaDevices, MediaHandle};
use softphone_media::device::{CpalSink, CpalSource, MuteHandle, Muted, NullSink, NullSource};
use softphone_media::{AudioSink, AudioSource, MediaError, Pacing};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Mute for the call in progress: the wanted state, the switch of the
/// microphone opened for that call (none before its media starts), and the
/// client's own switch, which also holds for a microphone the client puts
/// in when this one fails.
#[derive(Debug, Default)]
pub struct CallMute {
    muted: AtomicBool,
    handle: Mutex<Option<MuteHandle>>,
    client: Mutex<Option<MediaHandle>>,
}

impl CallMute {
    /// Mutes or unmutes; applies at once if the call's microphone is open,
    /// else when it opens. Answers the state now.
    pub fn set(&self, muted: bool) -> bool {
        self.muted.store(muted, Ordering::Relaxed);
        if let Some(h) = lock(&self.handle).as_ref() {
            h.set_muted(muted);
        }
        if let Some(media) = lock(&self.client).as_ref() {
            media.set_muted(muted);
        }
        muted
    }

    /// The signed-in client's media (set at sign-in).
    pub fn attach_client(&self, media: &MediaHandle) {
        media.set_muted(self.is_muted());
        *lock(&self.client) = Some(media.clone());
    }

    /// Whether muted.
    pub fn is_muted(&self) -> bool {
        self.muted.load(Ordering::Relaxed)
    }

    /// A new call starts unmuted.
    pub fn reset(&self) {
        self.set(false);
    }

    fn attach(&self, handle: MuteHandle) {
        handle.set_muted(self.is_muted());
        *lock(&self.handle) = Some(handle);
    }
}

/// The devices for one call, and what the person should be told about them.
pub struct OpenedDevices {
    /// For the client's media session.
    pub devices: MediaDevices,
    /// Sentences about fallbacks ("Microphone unavailable: …").
    pub warnings: Vec<String>,
    /// Microphone and speaker levels.
    pub levels: (LevelMeter, LevelMeter),
}

/// Opens the microphone and speaker of `audio` through `open` (cpal in the
/// app, fakes in tests), the microphone behind `mute`'s switch.
pub fn open_call_devices(
    audio: &AudioSettings,
    mute: &CallMute,
    open: &dyn Opener,
) -> OpenedDevices {
    let mut warnings = Vec::new();
    let (source, real_in) = match with_fallback(audio.input_device.as_deref(), |id| open.input(id))
    {
        Ok((source, note)) => {
            warnings.extend(note.map(|e| {
                format!(
                    "Microphone unavailable: {}; using the system default.",
                    describe(&e)
                )
            }));
            (source, true)
        }
        Err(e) => {
            warnings.push(format!(
                "Microphone unavailable: {}. The other side hears silence.",
                describe(&e)
            ));
            (
                Box::new(NullSource::new(Pacing::RealTime)) as Box<dyn AudioSource>,
                false,
            )
        }
    };
    let (sink, real_out) = match with_fallback(audio.output_device.as_deref(), |id| open.output(id))
    {
        Ok((sink, note)) => {
            warnings.extend(note.map(|e| {
                format!(
                    "Speaker unavailable: {}; using the system default.",
                    describe(&e)
                )
            }));
            (sink, true)
        }
        Err(e) => {
            warnings.push(format!(
                "Speaker unavailable: {}. You will not hear the other side.",
                describe(&e)
            ));
            (Box::new(NullSink::default()) as Box<dyn AudioSink>, false)
        }
    };
    let levels = (LevelMeter::default(), LevelMeter::default());
    let muted = Muted::new(MeteredSource(source, levels.0.clone()));
    mute.attach(muted.handle());
    OpenedDevices {
        levels: levels.clone(),
        devices: MediaDevices {
            source: Box::new(muted),
            sink: Box::new(MeteredSink(sink, levels.1)),
            echo_cancellation: audio.echo_cancellation && real_in && real_out,
            // The camera is opened beside (`audio::media_config`).
            video: None,
        },
        warnings,
    }
}

/// What went wrong with a device, for a sentence that already names it.
fn describe(e: &MediaError) -> String {
    match e {
        MediaError::DeviceNotFound(id) => format!("{id} is not connected"),
        other => other.to_string(),
    }
}

/// `open(Some(id))`, else `open(None)` with the first error as a note.
fn with_fallback<T>(
    id: Option<&str>,
    open: impl Fn(Option<&str>) -> Result<T, MediaError>,
) -> Result<(T, Option<MediaError>), MediaError> {
    match (open(id), id) {
        (Ok(dev), _) => Ok((dev, None)),
        (Err(e), Some(_)) => open(None).map(|dev| (dev, Some(e))),
        (Err(e), None) => Err(e),
    }
}

/// Opens devices by id (`None`: the system default).
pub trait Opener {
    /// A microphone.
    fn input(&self, id: Option<&str>) -> Result<Box<dyn AudioSource>, MediaError>;
    /// A speaker.
    fn output(&self, id: Option<&str>) -> Result<Box<dyn AudioSink>, MediaError>;
}

/// The real devices, through cpal (PulseAudio, then ALSA).
pub struct Cpal;

impl Opener for Cpal {
    fn input(&self, id: Option<&str>) -> Result<Box<dyn AudioSource>, MediaError> {
        Ok(Box::new(CpalSource::open(id)?))
    }
    fn output(&self, id: Option<&str>) -> Result<Box<dyn AudioSink>, MediaError> {
        Ok(Box::new(CpalSink::open(id)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use softphone_media::{ReadStatus, FRAME_SAMPLES};

    /// Only the devices named exist ("default" is the system default).
    struct Fake(&'static [&'static str]);

    struct Loud;
    impl AudioSource for Loud {
        fn read_frame(&mut self, frame: &mut [f32]) -> softphone_media::Result<ReadStatus> {
            frame.iter_mut().for_each(|s| *s = 0.5);
            Ok(ReadStatus::Frame)
        }
    }

    impl Fake {
        fn check(&self, id: Option<&str>) -> Result<(), MediaError> {
            let id = id.unwrap_or("default");
            match self.0.contains(&id) {
                true => Ok(()),
                false => Err(MediaError::DeviceNotFound(id.to_owned())),
            }
        }
    }

    impl Opener for Fake {
        fn input(&self, id: Option<&str>) -> Result<Box<dyn AudioSource>, MediaError> {
            self.check(id)
                .map(|()| Box::new(Loud) as Box<dyn AudioSource>)
        }
        fn output(&self, id: Option<&str>) -> Result<Box<dyn AudioSink>, MediaError> {
            self.check(id)
                .map(|()| Box::new(NullSink::default()) as Box<dyn AudioSink>)
        }
    }

    fn settings(input: Option<&str>, output: Option<&str>) -> AudioSettings {
        AudioSettings {
            input_device: input.map(Into::into),
            output_device: output.map(Into::into),
            ..AudioSettings::default()
        }
    }

    fn level(devices: &mut MediaDevices) -> f32 {
        let mut f = [0.0f32; FRAME_SAMPLES];
        devices.source.read_frame(&mut f).unwrap();
        f[0]
    }

    #[test]
    fn the_chosen_devices_open_with_echo_cancellation() {
        let mute = CallMute::default();
        let mut opened = open_call_devices(
            &settings(Some("mic"), Some("spk")),
            &mute,
            &Fake(&["mic", "spk"]),
        );
        assert!(opened.warnings.is_empty(), "{:?}", opened.warnings);
        assert!(opened.devices.echo_cancellation);
        assert_eq!(level(&mut opened.devices), 0.5);
        let headset = AudioSettings {
            echo_cancellation: false,
            ..settings(Some("mic"), Some("spk"))
        };
        assert!(
            !open_call_devices(&headset, &mute, &Fake(&["mic", "spk"]))
                .devices
                .echo_cancellation
        );
    }

    #[test]
    fn mute_silences_the_microphone_at_once_and_a_new_call_starts_unmuted() {
        let mute = CallMute::default();
        mute.set(true); // before the media starts
        let mut opened = open_call_devices(&settings(None, None), &mute, &Fake(&["default"]));
        assert_eq!(level(&mut opened.devices), 0.0);
        assert!(!mute.set(false));
        assert_eq!(level(&mut opened.devices), 0.5);
        assert!(mute.set(true));
        assert_eq!(level(&mut opened.devices), 0.0);
        mute.reset();
        assert!(!mute.is_muted());
        assert_eq!(level(&mut opened.devices), 0.5);
    }

    #[test]
    fn a_device_that_is_gone_falls_back_to_the_default_and_says_so() {
        let mute = CallMute::default();
        let opened = open_call_devices(
            &settings(Some("usb-headset"), None),
            &mute,
            &Fake(&["default"]),
        );
        assert_eq!(opened.warnings.len(), 1);
        let w = &opened.warnings[0];
        assert_eq!(
            w,
            "Microphone unavailable: usb-headset is not connected; using the system default."
        );
    }

    #[test]
    fn no_devices_at_all_is_a_call_with_sentences_not_a_failure() {
        let mute = CallMute::default();
        let mut opened = open_call_devices(&settings(Some("mic"), None), &mute, &Fake(&[]));
        assert_eq!(opened.warnings.len(), 2, "{:?}", opened.warnings);
        assert!(opened.warnings[0].starts_with("Microphone unavailable: "));
        assert!(opened.warnings[1].starts_with("Speaker unavailable: "));
        assert!(!opened.devices.echo_cancellation);
        assert_eq!(level(&mut opened.devices), 0.0);
    }

    #[test]
    fn real_devices_never_panic() {
        // With or without a sound server: devices or sentences.
        let opened = open_call_devices(
            &settings(Some("alsa:nope-42"), Some("nosuch:x")),
            &CallMute::default(),
            &Cpal,
        );
        assert!(!opened.warnings.is_empty());
    }
}
