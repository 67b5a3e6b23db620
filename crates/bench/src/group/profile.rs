//! Where the server's time goes under load (`--perf`): `perf record`
//! samples the server's threads (`cpu-clock` at 997 Hz, DWARF call graphs,
//! so release builds need no frame pointers) while the call runs on after
//! the measured window, then every sample goes into one [`BUCKETS`] entry
//! by its stack.
//!
//! A sample whose stack holds a UDP send or receive syscall, or an idle
//! wait, is counted there whoever made it. Any other sample is walked from
//! its leaf up, and the first frame that names a part of the stack decides
//! (so `memmove` and `malloc` count for whoever called them). The kernel's
//! half of a `sendmsg` on loopback includes handing the datagram to the
//! receiving socket and waking its reader (the simulated members); on a
//! real network interface that half is the driver's transmit path instead.

use anyhow::{bail, Context as _, Result};
use std::path::Path;
use std::process::{Command, Stdio};

/// A bucket: its name, and the frame names that put a sample in it. A
/// pattern starting with `^` must start a name or follow a character that
/// cannot be part of one (`^rtc::` matches `<rtc::…` but not `webrtc::`).
type Bucket = (&'static str, &'static [&'static str]);

/// Counted wherever they are in the stack.
const ANYWHERE: &[Bucket] = &[
    (
        "UDP send syscalls (loopback: incl. delivery to the receiver)",
        &["sendmsg", "sendto", "__libc_send"],
    ),
    ("UDP receive syscalls", &["recvmsg", "recvfrom", "recvmmsg"]),
    (
        "waiting: epoll, futex, park",
        &["epoll_wait", "futex", "Parker", "park_timeout"],
    ),
];

/// The first frame from the leaf that matches decides.
const FROM_LEAF: &[Bucket] = &[
    (
        "forwarder: feedback relay (feedback.rs, nack.rs, keyframes.rs)",
        &[
            "softphone_forwarder::feedback",
            "softphone_forwarder::nack",
            "softphone_forwarder::keyframes",
        ],
    ),
    (
        "SRTP encryption (rtc_srtp, ring AES-GCM)",
        &["rtc_srtp", "^ring::", "ring_core", "SrtpHandler"],
    ),
    (
        "RTCP SR/RR report interceptors",
        &["rtc_interceptor::report"],
    ),
    (
        "NACK generator and responder (video)",
        &["rtc_interceptor::nack"],
    ),
    (
        "interceptor chain plumbing",
        &["rtc_interceptor", "InterceptorHandler"],
    ),
    (
        "rtc pass-through handlers (ICE, DTLS, SCTP, data channel, endpoint)",
        &[
            "IceHandler",
            "DtlsHandler",
            "SctpHandler",
            "DataChannelHandler",
            "EndpointHandler",
            "rtc_ice",
            "rtc_dtls",
            "rtc_sctp",
        ],
    ),
    (
        "rtc core (RTCRtpSender::write_rtp, pipeline, flush)",
        &["^rtc::", "rtc_rtp", "rtc_rtcp", "rtc_shared"],
    ),
    (
        "forwarder: fan-out (fanout.rs)",
        &["softphone_forwarder::fanout"],
    ),
    ("forwarder: other", &["softphone_forwarder"]),
    (
        "webrtc tracks (write_rtp, poll: channels to the driver)",
        &["webrtc::media_stream"],
    ),
    ("webrtc driver event loop", &["webrtc::"]),
    (
        "tokio runtime (scheduling, wake-ups, channels)",
        &[
            "tokio::",
            "futures_util",
            "futures_core",
            "concurrent_queue",
            "event_listener",
        ],
    ),
    (
        "signaling (axum, WebSocket, hub, SQLite)",
        &[
            "softphone_server",
            "softphone_proto",
            "axum",
            "tungstenite",
            "hyper",
            "sqlx",
        ],
    ),
];

/// Inclusive figures: samples with such a frame anywhere in their stack.
const INCLUSIVE: &[Bucket] = &[
    (
        "forwarder fan-out tasks, with what they call (read_uplink, write_downlink)",
        &["softphone_forwarder::fanout"],
    ),
    (
        "webrtc driver tasks, with what they call (rtc pipeline, syscalls)",
        &["DriverTask"],
    ),
    (
        "memmove (moving messages through the pipeline)",
        &["memmove", "memcpy"],
    ),
];

/// Where the samples went.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    /// Samples taken.
    pub samples: usize,
    /// Bucket name → samples, in [`ANYWHERE`] then [`FROM_LEAF`] order,
    /// then `other`; every sample is in one.
    pub buckets: Vec<(String, usize)>,
    /// [`INCLUSIVE`] name → samples (they overlap the buckets).
    pub inclusive: Vec<(String, usize)>,
}

impl Profile {
    /// Share of the samples in each bucket that has any.
    pub fn shares(&self) -> Vec<(String, f64)> {
        self.share_of(&self.buckets)
    }

    /// Share of the samples with each inclusive frame.
    pub fn inclusive_shares(&self) -> Vec<(String, f64)> {
        self.share_of(&self.inclusive)
    }

    fn share_of(&self, counts: &[(String, usize)]) -> Vec<(String, f64)> {
        counts
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| (name.clone(), *n as f64 / self.samples.max(1) as f64))
            .collect()
    }
}

/// Samples process `pid` for `seconds` into `data` (perf's messages go to
/// `log`).
pub fn record(pid: u32, seconds: f64, data: &Path, log: &Path) -> Result<()> {
    let log = std::fs::File::create(log).context("cannot create perf's log")?;
    let status = Command::new("perf")
        .args(["record", "-F", "997", "-e", "cpu-clock"])
        .args(["--call-graph", "dwarf,16384", "-p", &pid.to_string(), "-o"])
        .arg(data)
        .args(["--", "sleep", &format!("{seconds:.1}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .status()
        .context("cannot run perf (apt-get install linux-perf)")?;
    if !status.success() {
        bail!("perf record failed ({status}); see perf.log with --keep");
    }
    Ok(())
}

/// Reads `data` back (`perf script`) and buckets its samples.
pub fn analyse(data: &Path) -> Result<Profile> {
    let out = Command::new("perf")
        .args(["script", "-F", "ip,sym", "--no-inline", "-i"])
        .arg(data)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .context("cannot run perf script")?;
    if !out.status.success() {
        bail!("perf script failed ({})", out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(bucket(&stacks(&text)))
}

/// The stacks of `perf script -F ip,sym` output, leaf first: one frame
/// (`ADDRESS SYMBOL`) per indented line, a blank line between samples.
fn stacks(text: &str) -> Vec<Vec<&str>> {
    let mut all = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            if !current.is_empty() {
                all.push(std::mem::take(&mut current));
            }
            continue;
        }
        let symbol = line.split_once(char::is_whitespace).map_or("", |(_, s)| s);
        current.push(symbol.trim());
    }
    if !current.is_empty() {
        all.push(current);
    }
    all
}

fn matches(frame: &str, pattern: &str) -> bool {
    let Some(word) = pattern.strip_prefix('^') else {
        return frame.contains(pattern);
    };
    frame.match_indices(word).any(|(at, _)| {
        frame[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
    })
}

fn in_bucket(frame: &str, bucket: &Bucket) -> bool {
    bucket.1.iter().any(|p| matches(frame, p))
}

fn bucket(stacks: &[Vec<&str>]) -> Profile {
    let mut counts: Vec<(String, usize)> = ANYWHERE
        .iter()
        .chain(FROM_LEAF)
        .map(|(name, _)| ((*name).to_owned(), 0))
        .collect();
    let mut other = 0;
    for stack in stacks {
        let anywhere = ANYWHERE
            .iter()
            .position(|b| stack.iter().any(|f| in_bucket(f, b)));
        let from_leaf = || {
            stack.iter().find_map(|f| {
                FROM_LEAF
                    .iter()
                    .position(|b| in_bucket(f, b))
                    .map(|i| i + ANYWHERE.len())
            })
        };
        match anywhere.or_else(from_leaf) {
            Some(i) => counts[i].1 += 1,
            None => other += 1,
        }
    }
    counts.push(("other".to_owned(), other));
    let inclusive = INCLUSIVE
        .iter()
        .map(|b| {
            let n = stacks
                .iter()
                .filter(|stack| stack.iter().any(|f| in_bucket(f, b)))
                .count();
            (b.0.to_owned(), n)
        })
        .collect();
    Profile {
        samples: stacks.len(),
        buckets: counts,
        inclusive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_go_to_the_first_bucket_from_the_leaf() {
        let text = "\
\t  16d90d __memmove_avx512_unaligned_erms
\t  955ac7 <rtc::peer_connection::handler::sctp::SctpHandler as sansio::Protocol>::handle_write
\t  7cc1a6 webrtc::peer_connection::driver::PeerConnectionDriver<A>::poll_writes::{{closure}}

\tffffffff81 udp_sendmsg
\t  8d88f1 <rtc::peer_connection::RTCPeerConnection>::poll_write

\t  7c5faa webrtc::peer_connection::driver::PeerConnectionDriver<A>::event_loop::{{closure}}
\t  c9a5e3 tokio::runtime::scheduler::multi_thread::worker::Context::run_task

\t  123 <core::string::String as core::clone::Clone>::clone
\t  124 <rtc::rtp::packet::Packet as core::clone::Clone>::clone
\t  125 softphone_forwarder::fanout::read_uplink::{{closure}}
";
        let profile = bucket(&stacks(text));
        assert_eq!(profile.samples, 4);
        let count = |name: &str| {
            profile
                .buckets
                .iter()
                .find(|(n, _)| n.starts_with(name))
                .map(|(_, c)| *c)
        };
        assert_eq!(
            count("rtc pass-through"),
            Some(1),
            "memmove counts for its caller"
        );
        assert_eq!(count("UDP send"), Some(1));
        assert_eq!(count("webrtc driver"), Some(1), "webrtc:: is not rtc::");
        assert_eq!(
            count("rtc core"),
            Some(1),
            "String:: is not ring::; a packet clone is rtc's, whoever asked"
        );
        assert_eq!(count("other"), Some(0));
        let fanout = &profile.inclusive[0];
        assert!(fanout.0.starts_with("forwarder fan-out"));
        assert_eq!(fanout.1, 1, "inclusive: the clone under read_uplink");
    }
}
