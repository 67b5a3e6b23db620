//! Key frames for receivers, asked of senders.
//!
//! A VP8 receiver that lost a packet, or that starts in the middle of a
//! stream, can decode nothing until a key frame comes, and only the sender
//! can make one. The forwarder does not decode or cache video, so it
//! relays the asking: a PLI or FIR that a receiver sends about its
//! downtrack of source S becomes a PLI on S's uplink, for the SSRC S sends
//! its video on. The forwarder asks by itself too when a receiver's
//! downtracks start (its connection comes up, or an answer adds a source):
//! `room.rs` calls [`KeyframeBoard::request`]. A source asked before its
//! video arrived is asked as soon as it does: members connect at about the
//! same time, and a sender's first key frame may go out before a
//! receiver's connection is up.
//!
//! **Rate limit and collapsing.** Each video uplink has one requester task
//! ([`request_keyframes`]) waiting on a [`Notify`]: a request is
//! `notify_one`, which stores at most one permit. The task sends a PLI,
//! then sleeps [`KEYFRAME_INTERVAL`]; every request during that sleep,
//! from any number of receivers, lands on the same single permit, so it
//! sends one more PLI when the sleep ends and none in between. A sender
//! thus gets at most one PLI per 400 ms whatever its receivers do (a PLI
//! storm costs the forwarder a `notify_one` per PLI), and a request that
//! arrives just after one went out is still answered, at most 400 ms
//! later. Chrome's and mediasoup's senders and SFUs use a similar floor.
//!
//! Reading receivers' PLI/FIR happens in the connection's interceptor
//! (`feedback.rs`), which looks the downtrack's SSRC up here.

use crate::fanout::MemberId;
use crate::stats::Counters;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;
use webrtc::media_stream::track_remote::TrackRemote;

/// At most one key frame request per sender per this long.
pub(crate) const KEYFRAME_INTERVAL: Duration = Duration::from_millis(400);

#[derive(Debug, Default)]
struct Board {
    /// Video downtracks: SSRC → whose video it carries.
    downtracks: HashMap<u32, MemberId>,
    /// Video uplinks: source → its requester's doorbell.
    uplinks: HashMap<MemberId, Arc<Notify>>,
    /// Sources asked for a key frame before their video arrived (members
    /// connect at about the same time, and a receiver's connection is
    /// often up before the sender's first packet): their requester rings
    /// as it starts.
    wanted: HashSet<MemberId>,
}

/// One room's video downtracks and uplinks. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyframeBoard(Arc<Mutex<Board>>);

impl KeyframeBoard {
    fn board(&self) -> std::sync::MutexGuard<'_, Board> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A video downtrack with `ssrc` carries `source`'s video.
    pub(crate) fn downtrack(&self, ssrc: u32, source: MemberId) {
        self.board().downtracks.insert(ssrc, source);
    }

    /// `source` sends video now: the doorbell its requester waits on (a
    /// new one if its video started again on another track), already rung
    /// if a key frame was asked of it before.
    pub(crate) fn uplink(&self, source: MemberId) -> Arc<Notify> {
        let doorbell = Arc::new(Notify::new());
        let mut board = self.board();
        if board.wanted.remove(&source) {
            doorbell.notify_one();
        }
        board.uplinks.insert(source, doorbell.clone());
        doorbell
    }

    /// `member` left: its uplink and the downtracks of its video go.
    pub(crate) fn forget(&self, member: MemberId) {
        let mut board = self.board();
        board.uplinks.remove(&member);
        board.wanted.remove(&member);
        board.downtracks.retain(|_, source| *source != member);
    }

    /// Asks `source` for a key frame (collapsed with other requests, see
    /// the module docs), now or as soon as its video arrives. False if it
    /// sends no video yet.
    pub(crate) fn request(&self, source: MemberId) -> bool {
        let mut board = self.board();
        match board.uplinks.get(&source) {
            Some(doorbell) => {
                doorbell.notify_one();
                true
            }
            None => {
                board.wanted.insert(source);
                false
            }
        }
    }

    /// A receiver asked for a key frame on the downtrack with `ssrc`.
    /// False if that is no video downtrack of this room (or its source
    /// sends no video).
    pub(crate) fn request_for_downtrack(&self, ssrc: u32) -> bool {
        let board = self.board();
        let Some(source) = board.downtracks.get(&ssrc) else {
            return false;
        };
        match board.uplinks.get(source) {
            Some(doorbell) => {
                doorbell.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Sends a PLI on `track` (a member's video uplink) each time `doorbell`
/// rings, at most once per [`KEYFRAME_INTERVAL`], for the SSRC the
/// uplink's packets last came with (`ssrc`, kept by its reader). Ends when
/// the connection is gone; the reader aborts it when the track ends.
pub(crate) async fn request_keyframes(
    track: Arc<dyn TrackRemote>,
    ssrc: Arc<AtomicU32>,
    doorbell: Arc<Notify>,
    counters: Arc<Counters>,
) {
    at_most_every(&doorbell, KEYFRAME_INTERVAL, || async {
        let pli = PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc: ssrc.load(Ordering::Relaxed),
        };
        let sent = track.write_rtcp(vec![Box::new(pli)]).await.is_ok();
        if sent {
            counters.keyframe_requested();
        }
        sent
    })
    .await;
}

/// Calls `send` each time `doorbell` rings, then waits `interval` before
/// listening again (rings meanwhile leave one permit: one more call). Ends
/// when `send` says false.
async fn at_most_every<F, Fut>(doorbell: &Notify, interval: Duration, mut send: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    loop {
        doorbell.notified().await;
        if !send().await {
            return;
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_reach_the_source_of_a_downtrack() {
        let board = KeyframeBoard::default();
        let alice = 0;
        // Bob's track of alice's video.
        board.downtrack(0xB0B, alice);
        assert!(
            !board.request_for_downtrack(0xB0B),
            "alice sends no video yet"
        );
        let doorbell = board.uplink(alice);
        assert!(board.request_for_downtrack(0xB0B));
        assert!(
            !board.request_for_downtrack(0xDEAD),
            "not a video downtrack"
        );
        board.forget(alice);
        assert!(!board.request(alice));
        assert!(!board.request_for_downtrack(0xB0B));
        drop(doorbell);
    }

    #[tokio::test]
    async fn a_request_before_the_video_arrives_waits_for_it() {
        let board = KeyframeBoard::default();
        assert!(!board.request(1), "bob sends no video yet");
        let doorbell = board.uplink(1);
        let rang = tokio::time::timeout(Duration::from_millis(5), doorbell.notified()).await;
        assert!(rang.is_ok(), "his requester rings as it starts");
        let again = board.uplink(2);
        let rang = tokio::time::timeout(Duration::from_millis(5), again.notified()).await;
        assert!(rang.is_err(), "nobody asked carol");
    }

    #[tokio::test(start_paused = true)]
    async fn many_requests_in_one_interval_make_one_more_pli() {
        let board = KeyframeBoard::default();
        let doorbell = board.uplink(7);
        let plis = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let task = {
            let plis = plis.clone();
            tokio::spawn(async move {
                at_most_every(&doorbell, KEYFRAME_INTERVAL, || async {
                    plis.fetch_add(1, Ordering::Relaxed);
                    true
                })
                .await;
            })
        };
        // A storm: 100 requests over 1 s.
        for _ in 0..100 {
            board.request(7);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        // At 0, 400 and 800 ms, and the requests after 800 ms at 1,200 ms.
        assert_eq!(plis.load(Ordering::Relaxed), 4);
        // One late request: answered at once, the interval having passed.
        board.request(7);
        tokio::task::yield_now().await;
        assert_eq!(plis.load(Ordering::Relaxed), 5);
        task.abort();
    }
}
