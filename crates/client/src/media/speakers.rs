//! Who is speaking in a group call, from the level of each participant's
//! decoded audio (read every 100 ms off the playout thread).
//!
//! A participant speaks while its level is above [`SPEAKING_DBFS`], and
//! for [`HANGOVER`] after, so the pauses between words do not make the
//! list flicker. The first of the list is the active speaker: it stays so
//! until it stops speaking or someone else is [`SWITCH_DB`] louder; the
//! others follow in a stable order. [`Speakers::update`] says when the list
//! changed, which is when the session reports it. A participant who leaves
//! has no stream any more and drops off after the hangover.

use softphone_proto::DeviceAddr;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Speech at a normal level is −35…−15 dBFS RMS; the silence of a muted
/// or quiet microphone, after Opus, is below −60.
pub(crate) const SPEAKING_DBFS: f32 = -45.0;
/// How long a participant stays "speaking" after its level drops.
pub(crate) const HANGOVER: Duration = Duration::from_millis(600);
/// How much louder than the active speaker another must be to take over.
pub(crate) const SWITCH_DB: f32 = 6.0;

#[derive(Debug, Default)]
pub(crate) struct Speakers {
    /// Per participant: when it was last heard above the threshold, and how loud.
    heard: HashMap<DeviceAddr, (Instant, f32)>,
    active: Option<DeviceAddr>,
    /// The list last reported.
    reported: Vec<DeviceAddr>,
}

impl Speakers {
    /// Takes the levels (dBFS) measured since the last call; `Some(list)`
    /// when the list of speakers (active speaker first) changed.
    pub(crate) fn update(
        &mut self,
        now: Instant,
        levels: impl IntoIterator<Item = (DeviceAddr, f32)>,
    ) -> Option<Vec<DeviceAddr>> {
        for (who, db) in levels {
            if db >= SPEAKING_DBFS {
                self.heard.insert(who, (now, db));
            }
        }
        self.heard
            .retain(|_, (at, _)| now.saturating_duration_since(*at) <= HANGOVER);
        let loudest = self
            .heard
            .iter()
            .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1).then_with(|| b.0.cmp(a.0)))
            .map(|(who, (_, db))| (who.clone(), *db));
        let active_db = self
            .active
            .as_ref()
            .and_then(|a| self.heard.get(a))
            .map(|(_, db)| *db);
        self.active = match (loudest, active_db) {
            (Some((who, db)), Some(active_db)) if db > active_db + SWITCH_DB => Some(who),
            (Some(_), Some(_)) => self.active.take(),
            (Some((who, _)), None) => Some(who),
            (None, _) => None,
        };
        let mut others: Vec<&DeviceAddr> = self
            .heard
            .keys()
            .filter(|who| Some(*who) != self.active.as_ref())
            .collect();
        others.sort();
        let list: Vec<DeviceAddr> = self.active.iter().chain(others).cloned().collect();
        if list == self.reported {
            return None;
        }
        self.reported = list.clone();
        Some(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(name: &str) -> DeviceAddr {
        DeviceAddr::new(name, "d1")
    }

    #[test]
    fn speakers_come_and_go_with_a_hangover() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut s = Speakers::default();
        assert_eq!(
            s.update(t0, [(who("bob"), -80.0)]),
            None,
            "silence: no change"
        );
        assert_eq!(
            s.update(at(100), [(who("carol"), -30.0), (who("bob"), -20.0)]),
            Some(vec![who("bob"), who("carol")]),
            "the loudest is the active speaker"
        );
        assert_eq!(
            s.update(at(200), [(who("bob"), -25.0), (who("carol"), -22.0)]),
            None,
            "carol a little louder: bob stays the active speaker"
        );
        assert_eq!(
            s.update(at(300), [(who("bob"), -70.0), (who("carol"), -12.0)]),
            Some(vec![who("carol"), who("bob")]),
            "carol clearly louder takes over; bob pauses but still speaks"
        );
        assert_eq!(s.update(at(700), [(who("carol"), -12.0)]), None);
        assert_eq!(
            s.update(at(900), [(who("bob"), -90.0), (who("carol"), -15.0)]),
            Some(vec![who("carol")]),
            "bob silent for longer than the hangover"
        );
        assert_eq!(s.update(at(1600), []), Some(vec![]), "carol left");
    }

    #[test]
    fn equal_talkers_do_not_flicker() {
        let t0 = Instant::now();
        let mut s = Speakers::default();
        let mut changes = 0;
        for i in 0..100u64 {
            let wobble = if i % 2 == 0 { 1.0 } else { -1.0 };
            let levels = [(who("bob"), -20.0 + wobble), (who("carol"), -20.0 - wobble)];
            if s.update(t0 + Duration::from_millis(100 * i), levels)
                .is_some()
            {
                changes += 1;
            }
        }
        assert_eq!(changes, 1, "one report when both start speaking");
    }
}
