//! The session's microphone and speaker while the call runs: switching on
//! request, and replacing one that fails.
//!
//! The audio threads never open devices (that can take a while); a thread
//! whose device fails carries on with silence and leaves a
//! [`DeviceFailure`](crate::media::audio::DeviceFailure) for the session,
//! which opens the replacement here, off the runtime's threads, hands it
//! over and tells the application with `media_device_changed`. A failed
//! sound device is replaced by the system default; a failed file, or a
//! default that keeps failing, by silence. The call never dies of it.

use super::Session;
use crate::events::CallEvent;
use crate::media::audio::{DeviceFailure, ToPlayout};
use softphone_media::device::{CpalSink, CpalSource, NullSink, NullSource};
use softphone_media::{AudioSink, AudioSource, Pacing};
use std::sync::PoisonError;

/// Replacements by the default device per direction before settling for
/// silence (a default that fails at once each time would loop).
const MAX_FALLBACKS: u32 = 3;

impl Session {
    /// Replaces whatever device failed since the last look.
    pub(super) async fn replace_failed_devices(&mut self) {
        let input_failure = self.sender.as_ref().and_then(|s| {
            s.failure
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
        });
        if let Some(failure) = input_failure {
            self.input_fallbacks += 1;
            let source = fallback_source(&failure, self.input_fallbacks).await;
            let device_id = source.1.clone();
            self.hand_over_source(source.0);
            self.device_changed(true, device_id, Some(failure.reason));
        }
        let output_failure = self
            .playout_state
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(failure) = output_failure {
            self.output_fallbacks += 1;
            let (sink, device_id) = fallback_sink(&failure, self.output_fallbacks).await;
            self.hand_over_sink(sink);
            self.device_changed(false, device_id, Some(failure.reason));
        }
    }

    /// Switches the microphone (`input`) or speaker to `device_id` (`None`:
    /// the system default). On error the current one stays.
    pub(super) async fn switch_device(
        &mut self,
        input: bool,
        device_id: Option<String>,
    ) -> Result<(), String> {
        if input {
            let (source, id) = open_source(device_id).await?;
            self.hand_over_source(source);
            self.device_changed(true, Some(id), None);
        } else {
            let (sink, id) = open_sink(device_id).await?;
            self.hand_over_sink(sink);
            self.device_changed(false, Some(id), None);
        }
        Ok(())
    }

    /// To the send thread, or kept for it if media is not connected yet.
    fn hand_over_source(&mut self, source: Box<dyn AudioSource>) {
        match &self.sender {
            Some(sender) => {
                if sender.swap.send(source).is_err() {
                    tracing::debug!("the send thread is gone; the new microphone is not used");
                }
            }
            None => self.source = Some(source),
        }
    }

    fn hand_over_sink(&mut self, sink: Box<dyn AudioSink>) {
        if let Some(playout) = &self.playout {
            if playout.input.send(ToPlayout::Sink(sink)).is_err() {
                tracing::debug!("the playout thread is gone; the new speaker is not used");
            }
        }
    }

    fn device_changed(&self, input: bool, device_id: Option<String>, failure: Option<String>) {
        self.emit(CallEvent::MediaDeviceChanged {
            session_id: self.sid.clone(),
            input,
            device_id,
            failure,
        });
    }
}

/// Opens a microphone (`None`: the default) off the async threads.
async fn open_source(id: Option<String>) -> Result<(Box<dyn AudioSource>, String), String> {
    tokio::task::spawn_blocking(move || {
        CpalSource::open(id.as_deref()).map(|s| {
            let id = s.device_id().to_owned();
            (Box::new(s) as Box<dyn AudioSource>, id)
        })
    })
    .await
    .map_err(|e| format!("cannot open the microphone: {e}"))?
    .map_err(|e| format!("cannot open the microphone: {e}"))
}

/// Opens a speaker (`None`: the default) off the async threads.
async fn open_sink(id: Option<String>) -> Result<(Box<dyn AudioSink>, String), String> {
    tokio::task::spawn_blocking(move || {
        CpalSink::open(id.as_deref()).map(|s| {
            let id = s.device_id().to_owned();
            (Box::new(s) as Box<dyn AudioSink>, id)
        })
    })
    .await
    .map_err(|e| format!("cannot open the speaker: {e}"))?
    .map_err(|e| format!("cannot open the speaker: {e}"))
}

/// The default microphone, or silence after a file or too many tries.
async fn fallback_source(
    failure: &DeviceFailure,
    tries: u32,
) -> (Box<dyn AudioSource>, Option<String>) {
    if failure.was_device && tries <= MAX_FALLBACKS {
        match open_source(None).await {
            Ok((source, id)) => return (source, Some(id)),
            Err(e) => tracing::warn!("no default microphone to fall back to: {e}"),
        }
    }
    (Box::new(NullSource::new(Pacing::RealTime)), None)
}

/// The default speaker, or nothing after a file or too many tries.
async fn fallback_sink(
    failure: &DeviceFailure,
    tries: u32,
) -> (Box<dyn AudioSink>, Option<String>) {
    if failure.was_device && tries <= MAX_FALLBACKS {
        match open_sink(None).await {
            Ok((sink, id)) => return (sink, Some(id)),
            Err(e) => tracing::warn!("no default speaker to fall back to: {e}"),
        }
    }
    (Box::new(NullSink::default()), None)
}
