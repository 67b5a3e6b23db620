//! Glass-to-glass latency from two `--timing-log` files.
//!
//! With the test pattern as the source, a CLI's timing log has a
//! `video-source COUNTER UNIX_US` line when a frame is captured (before
//! encoding) and a `video-sink COUNTER UNIX_US` line when a remote frame is
//! handed to the sink (after decoding and the lip-sync hold), the counter
//! read off the decoded picture. Both ends run on one machine, so the wall
//! clocks agree: a counter's sink time at one end minus its source time at
//! the other is that frame's glass-to-glass latency (minus the camera and
//! the screen, which the pattern and a file sink do not have).

use std::collections::HashMap;

/// Pattern counters and the unix µs each was first captured or shown.
#[derive(Debug, Default, PartialEq)]
pub struct FrameTimes {
    /// Counter → captured here.
    pub captured: HashMap<u64, u64>,
    /// Counter → shown here.
    pub shown: HashMap<u64, u64>,
}

/// Reads the video lines of a timing log; audio lines and anything
/// malformed are skipped.
pub fn parse(text: &str) -> FrameTimes {
    let mut t = FrameTimes::default();
    for line in text.lines() {
        let mut parts = line.split(' ');
        let (Some(kind), Some(counter), Some(us), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let (Ok(counter), Ok(us)) = (counter.parse::<u64>(), us.parse::<u64>()) else {
            continue;
        };
        let map = match kind {
            "video-source" => &mut t.captured,
            "video-sink" => &mut t.shown,
            _ => continue,
        };
        map.entry(counter).or_insert(us);
    }
    t
}

/// Latencies (ms) of the frames captured at `sender` no earlier than
/// `skip_us` after its first frame and shown at `receiver`, in counter order.
pub fn latencies_ms(sender: &FrameTimes, receiver: &FrameTimes, skip_us: u64) -> Vec<f64> {
    let Some(first) = sender.captured.values().min() else {
        return Vec::new();
    };
    let from = first + skip_us;
    let mut matched: Vec<(u64, f64)> = sender
        .captured
        .iter()
        .filter(|(_, &at)| at >= from)
        .filter_map(|(counter, &at)| {
            let shown = *receiver.shown.get(counter)?;
            Some((*counter, (shown as f64 - at as f64) / 1000.0))
        })
        .collect();
    matched.sort_by_key(|(counter, _)| *counter);
    matched.into_iter().map(|(_, ms)| ms).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_video_lines_and_skips_the_rest() {
        let t = parse(
            "source 0 1000\nvideo-source 7 2000\nvideo-source 7 2500\n\
             video-sink 3 4000\nvideo-sink x 1\ngarbage\nvideo-sink 4 5 6\n",
        );
        assert_eq!(t.captured, HashMap::from([(7, 2000)]));
        assert_eq!(t.shown, HashMap::from([(3, 4000)]));
    }

    #[test]
    fn matches_counters_across_ends_after_the_warm_up() {
        let alice =
            parse("video-source 1 1000000\nvideo-source 2 1033000\nvideo-source 3 2100000\n");
        let bob = parse("video-sink 3 2125000\nvideo-sink 2 1070000\nvideo-sink 9 1\n");
        assert_eq!(latencies_ms(&alice, &bob, 0), vec![37.0, 25.0]);
        assert_eq!(latencies_ms(&alice, &bob, 1_000_000), vec![25.0]);
        assert!(latencies_ms(&bob, &alice, 0).is_empty());
    }
}
