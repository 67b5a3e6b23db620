//! [`Ringer`]: which call the ringtone (incoming) or ringback (outgoing) is
//! playing for, and stopping it when that call stops ringing for any reason
//! (answered here or elsewhere, declined, cancelled, timed out, ended).

use super::tones::{Tone, TonePlayer};
use crate::state::lock;
use std::collections::VecDeque;
use std::sync::Mutex;

/// Calls whose ring is over are remembered (this many), so that a late
/// start (the reply to `initiate_call` after the accept event) stays silent.
const FINISHED_KEPT: usize = 32;

/// The tone playing now, at most one.
#[derive(Debug, Default)]
pub struct Ringer {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    playing: Option<(String, Tone, TonePlayer)>,
    finished: VecDeque<String>,
}

impl Ringer {
    /// Plays `tone` for call `session_id` on `output` at `volume` unless that
    /// call stopped ringing already; replaces any other tone.
    pub fn start(
        &self,
        session_id: &str,
        tone: Tone,
        output: Option<String>,
        volume: u8,
        on_error: impl FnOnce(String) + Send + 'static,
    ) {
        let mut inner = lock(&self.inner);
        if inner.finished.iter().any(|s| s == session_id) {
            return;
        }
        if matches!(&inner.playing, Some((s, t, _)) if s == session_id && *t == tone) {
            return;
        }
        let player = TonePlayer::start(tone, output, volume, on_error);
        inner.playing = Some((session_id.to_owned(), tone, player));
    }

    /// Call `session_id` no longer rings: its tone stops, and never starts again.
    pub fn stop(&self, session_id: &str) {
        let mut inner = lock(&self.inner);
        if matches!(&inner.playing, Some((s, _, _)) if s == session_id) {
            inner.playing = None;
        }
        if !inner.finished.iter().any(|s| s == session_id) {
            if inner.finished.len() == FINISHED_KEPT {
                inner.finished.pop_front();
            }
            inner.finished.push_back(session_id.to_owned());
        }
    }

    /// Silence, whatever plays (sign-out).
    pub fn stop_all(&self) {
        lock(&self.inner).playing = None;
    }

    /// The call and tone playing now.
    pub fn playing(&self) -> Option<(String, Tone)> {
        lock(&self.inner)
            .playing
            .as_ref()
            .map(|(s, t, _)| (s.clone(), *t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Volume 0: the tone logic runs, no device is opened.
    fn start(r: &Ringer, sid: &str, tone: Tone) {
        r.start(sid, tone, None, 0, |_| {});
    }

    #[test]
    fn a_ring_stops_for_good() {
        let r = Ringer::default();
        start(&r, "s1", Tone::Ringtone);
        assert_eq!(r.playing(), Some(("s1".into(), Tone::Ringtone)));
        r.stop("other");
        assert!(r.playing().is_some(), "another call's stop leaves it");
        r.stop("s1");
        assert_eq!(r.playing(), None);
        start(&r, "s1", Tone::Ringback);
        assert_eq!(r.playing(), None, "a late start stays silent");
    }

    #[test]
    fn a_new_call_replaces_the_tone_and_sign_out_silences() {
        let r = Ringer::default();
        start(&r, "s1", Tone::Ringback);
        start(&r, "s2", Tone::Ringtone);
        assert_eq!(r.playing(), Some(("s2".into(), Tone::Ringtone)));
        r.stop_all();
        assert_eq!(r.playing(), None);
        for i in 0..100 {
            r.stop(&format!("x{i}"));
        }
        assert!(lock(&r.inner).finished.len() <= FINISHED_KEPT);
    }
}
