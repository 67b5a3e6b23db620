//! The forwarder under load: one group call of N simulated members
//! ([`super::sim`]) through the real release server, measured over a
//! window once every member hears every other.
//!
//! ```text
//!  fresh DB: users m00..m(N-1), group gN ─► serve --media-udp 127.0.0.1:0 --stats-every 1
//!  N members log in ─► m00 calls gN ─► the others accept when it rings
//!  wait: every member gets packets from each of the N-1 others
//!  window (`--seconds`, from one forwarder_stats line to a later one):
//!     server CPU (utime+stime), RSS and VmHWM at both ends, our own CPU,
//!     packets each member got per remote stream, the forwarder's counters
//!  members leave; the server is killed
//! ```

use super::profile::{self, Profile};
use super::sim::{send_loop, video_send_loop, Frames, Member, VideoFrames};
use crate::audio::call::{Bins, Server};
use crate::audio::procs::{self, Launcher, Memory};
use anyhow::{bail, Result};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use tokio::sync::watch;

/// The forwarder's counters at one moment (`--stats-every` lines).
#[derive(Debug, Clone, Copy, Default)]
pub struct Forwarded {
    /// Packets from members.
    pub received: u64,
    /// Packets handed to members' connections.
    pub forwarded: u64,
    /// Dropped: a member's queue was full.
    pub dropped: u64,
    /// Refused by a member's connection.
    pub unsent: u64,
    /// Of `forwarded`, video packets.
    pub video_forwarded: u64,
    /// Of `dropped`, video packets.
    pub video_dropped: u64,
    /// Key frames asked of senders.
    pub keyframe_requests: u64,
}

impl Forwarded {
    fn from_line(v: &Value) -> Self {
        let n = |k: &str| v[k].as_u64().unwrap_or(0);
        Forwarded {
            received: n("received"),
            forwarded: n("forwarded"),
            dropped: n("dropped"),
            unsent: n("unsent"),
            video_forwarded: n("video_forwarded"),
            video_dropped: n("video_dropped"),
            keyframe_requests: n("keyframe_requests"),
        }
    }

    fn minus(self, earlier: Forwarded) -> Forwarded {
        Forwarded {
            received: self.received.saturating_sub(earlier.received),
            forwarded: self.forwarded.saturating_sub(earlier.forwarded),
            dropped: self.dropped.saturating_sub(earlier.dropped),
            unsent: self.unsent.saturating_sub(earlier.unsent),
            video_forwarded: self.video_forwarded.saturating_sub(earlier.video_forwarded),
            video_dropped: self.video_dropped.saturating_sub(earlier.video_dropped),
            keyframe_requests: self
                .keyframe_requests
                .saturating_sub(earlier.keyframe_requests),
        }
    }
}

/// Video in a load run.
#[derive(Debug, Clone, Default)]
pub enum Video {
    /// Audio-only members (they reject the forwarder's video sections).
    #[default]
    None,
    /// Members take the video sections but send no video.
    Sections,
    /// Members send these frames.
    Send(Arc<VideoFrames>),
}

/// What one load run measured.
#[derive(Debug, Clone)]
pub struct LoadRun {
    /// Members in the call.
    pub members: usize,
    /// The window's length, seconds (wall clock).
    pub seconds: f64,
    /// Call placed → every member hears every other, seconds.
    pub setup_s: f64,
    /// Server CPU in the window, seconds.
    pub server_cpu_s: f64,
    /// This process's CPU (the simulated members) in the window, seconds.
    pub generator_cpu_s: Option<f64>,
    /// Server memory before the call (members logged in), at the start
    /// and at the end of the window.
    pub memory: [Option<Memory>; 3],
    /// Packets each member received from each other member in the window
    /// (N × (N-1) values; a stream that never came counts 0).
    pub per_stream: Vec<u64>,
    /// Payload bytes received by all members in the window.
    pub received_bytes: u64,
    /// Video packets each member received from each other member in the
    /// window (empty without video).
    pub video_per_stream: Vec<u64>,
    /// Video payload bytes received by all members in the window.
    pub video_bytes: u64,
    /// Video frames the members sent in the window.
    pub video_sent: u64,
    /// Packets the members sent in the window.
    pub sent: u64,
    /// The forwarder's counters over the window (none if the server does
    /// not print them).
    pub forwarder: Option<Forwarded>,
    /// Offers answered, all members together (initial and re-offers).
    pub answers: u64,
    /// Where the server's time went (`--perf`, after the window), or why
    /// that is not known.
    pub profile: Option<std::result::Result<Profile, String>>,
}

impl LoadRun {
    /// Streams forwarded: each member's audio to each other member.
    pub fn streams(&self) -> usize {
        self.members * self.members.saturating_sub(1)
    }

    /// Packets received, all streams.
    pub fn received(&self) -> u64 {
        self.per_stream.iter().sum()
    }

    /// Received / (50 packets/s × streams × seconds).
    pub fn delivery(&self) -> f64 {
        self.received() as f64 / (50.0 * self.streams() as f64 * self.seconds)
    }

    /// Server CPU as a fraction of one core.
    pub fn server_cores(&self) -> f64 {
        self.server_cpu_s / self.seconds
    }

    /// Forwarded audio streams per core of server CPU.
    pub fn streams_per_core(&self) -> Option<f64> {
        (self.server_cpu_s > 0.0).then(|| self.streams() as f64 / self.server_cores())
    }

    /// Server CPU per packet a member received, microseconds.
    pub fn us_per_packet(&self) -> Option<f64> {
        let received = self.received();
        (received > 0).then(|| self.server_cpu_s * 1e6 / received as f64)
    }
}

fn progress(text: &str) {
    eprintln!("[group-bench] {text}");
}

/// Runs one call of `n` members for `seconds`, the members sending
/// `frames` of audio and `video`, and measures it; with `perf`, then
/// samples the server for as long again.
pub fn run(
    bins: &Bins,
    dir: &Path,
    rt: &Runtime,
    n: usize,
    seconds: f64,
    (frames, video): (Arc<Frames>, &Video),
    perf: bool,
) -> Result<LoadRun> {
    if n < 2 {
        bail!("a group call needs at least 2 members, not {n}");
    }
    let db = dir.join(format!("load{n}.db"));
    let users: Vec<String> = (0..n).map(|i| format!("m{i:02}")).collect();
    progress(&format!("{n} members: creating users and group g{n}"));
    for user in &users {
        Server::admin(bins, &db, &["user", "add", user, "--password", user])?;
    }
    let group = format!("g{n}");
    Server::admin(
        bins,
        &db,
        &["group", "add", &group, "--members", &users.join(",")],
    )?;
    let mut server = Server::serve(
        bins,
        &Launcher::default(),
        dir,
        &format!("load{n}-server"),
        &db,
        &["--media-udp", "127.0.0.1:0", "--stats-every", "1"],
    )?;
    let pid = server.proc.pid();

    // Log everyone in.
    let url = server.url.clone();
    let members: Vec<Arc<Member>> = rt
        .block_on(async {
            let with_video = !matches!(video, Video::None);
            let logins = users
                .iter()
                .map(|u| Member::login(&url, u, u, "load", with_video));
            futures_util::future::try_join_all(logins).await
        })?
        .into_iter()
        .map(Arc::new)
        .collect();
    let memory_before = procs::memory(pid);
    let (stop_tx, stop) = watch::channel(false);
    for (i, m) in members.iter().enumerate() {
        rt.spawn(m.clone().run(i != 0, stop.clone()));
    }
    rt.spawn(send_loop(members.clone(), frames, stop.clone()));
    if let Video::Send(video) = video {
        rt.spawn(video_send_loop(
            members.clone(),
            video.clone(),
            stop.clone(),
        ));
    }

    // Place the call and wait until every stream flows.
    progress(&format!("{n} members: m00 calls g{n}"));
    let placed = Instant::now();
    let result = (|| -> Result<LoadRun> {
        rt.block_on(members[0].call_group(&group))?;
        let patience = Duration::from_secs(30 + n as u64);
        rt.block_on(wait_flowing(&members, patience))?;
        let setup_s = placed.elapsed().as_secs_f64();
        progress(&format!(
            "{n} members: all {} streams flow after {setup_s:.1} s; measuring {seconds} s",
            n * (n - 1)
        ));
        let mut run = measure(&mut server, &members, seconds, setup_s, memory_before)?;
        if perf {
            progress(&format!(
                "{n} members: sampling the server with perf for {seconds} s"
            ));
            let data = dir.join(format!("perf-{n}.data"));
            let sampled = profile::record(pid, seconds, &data, &dir.join(format!("perf-{n}.log")))
                .and_then(|()| profile::analyse(&data));
            run.profile = Some(sampled.map_err(|e| format!("{e:#}")));
        }
        Ok(run)
    })();

    let _ = stop_tx.send(true);
    rt.block_on(async {
        let leaving = members.iter().map(|m| m.leave());
        let _ = tokio::time::timeout(
            Duration::from_secs(10),
            futures_util::future::join_all(leaving),
        )
        .await;
    });
    drop(server);
    result
}

/// Packets received so far: member → source → packets.
fn snapshot(members: &[Arc<Member>]) -> Vec<HashMap<String, u64>> {
    members.iter().map(|m| m.state.heard()).collect()
}

/// Video packets received so far: member → source → packets.
fn video_snapshot(members: &[Arc<Member>]) -> Vec<HashMap<String, u64>> {
    members.iter().map(|m| m.state.seen()).collect()
}

/// Packets per stream between two snapshots (N × (N-1) values).
fn per_stream(
    names: &[String],
    start: &[HashMap<String, u64>],
    end: &[HashMap<String, u64>],
) -> Vec<u64> {
    let mut streams = Vec::new();
    for (i, (h0, h1)) in start.iter().zip(end).enumerate() {
        for (j, source) in names.iter().enumerate() {
            if i != j {
                let got = h1.get(source).copied().unwrap_or(0);
                streams.push(got.saturating_sub(h0.get(source).copied().unwrap_or(0)));
            }
        }
    }
    streams
}

/// Until every member has received packets from each of the others in
/// the last 500 ms.
async fn wait_flowing(members: &[Arc<Member>], patience: Duration) -> Result<()> {
    let until = Instant::now() + patience;
    let others = members.len() - 1;
    let mut before = snapshot(members);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = snapshot(members);
        let flowing: Vec<usize> = now
            .iter()
            .zip(&before)
            .map(|(n, b)| {
                n.iter()
                    .filter(|(k, v)| **v > b.get(*k).copied().unwrap_or(0))
                    .count()
            })
            .collect();
        if flowing.iter().all(|&f| f >= others) {
            return Ok(());
        }
        if Instant::now() > until {
            let errors: Vec<String> = members
                .iter()
                .filter_map(|m| m.state.error().map(|e| format!("{}: {e}", m.state.name)))
                .take(3)
                .collect();
            let connected = members
                .iter()
                .filter(|m| m.state.connected.load(Ordering::Relaxed))
                .count();
            bail!(
                "not every stream flowed within {:.0} s: streams heard per member {flowing:?} \
                 (of {others} each), {connected} of {} connected{}",
                patience.as_secs_f64(),
                members.len(),
                if errors.is_empty() {
                    String::new()
                } else {
                    format!("; {}", errors.join("; "))
                }
            );
        }
        before = now;
    }
}

/// One reading at an end of the window.
struct Reading {
    at: Instant,
    server_cpu: Option<f64>,
    own_cpu: Option<f64>,
    memory: Option<Memory>,
    heard: Vec<HashMap<String, u64>>,
    heard_bytes: u64,
    sent: u64,
    seen: Vec<HashMap<String, u64>>,
    seen_bytes: u64,
    video_sent: u64,
    forwarder: Option<Forwarded>,
}

fn read(pid: u32, members: &[Arc<Member>], stats: Option<&Value>) -> Reading {
    Reading {
        at: Instant::now(),
        server_cpu: procs::cpu_seconds(pid),
        own_cpu: procs::cpu_seconds(std::process::id()),
        memory: procs::memory(pid),
        heard: snapshot(members),
        heard_bytes: members.iter().map(|m| m.state.heard_bytes()).sum(),
        sent: members
            .iter()
            .map(|m| m.state.sent.packets.load(Ordering::Relaxed))
            .sum(),
        seen: video_snapshot(members),
        seen_bytes: members.iter().map(|m| m.state.seen_bytes()).sum(),
        video_sent: members
            .iter()
            .map(|m| m.state.video_sent.packets.load(Ordering::Relaxed))
            .sum(),
        forwarder: stats.map(Forwarded::from_line),
    }
}

/// The window: from a `forwarder_stats` line to the first one `seconds`
/// later (or plain sleeping, if the server prints none).
fn measure(
    server: &mut Server,
    members: &[Arc<Member>],
    seconds: f64,
    setup_s: f64,
    memory_before: Option<Memory>,
) -> Result<LoadRun> {
    let pid = server.proc.pid();
    let stats_line = |server: &mut Server| {
        server
            .proc
            .wait_event("forwarder_stats", Duration::from_secs(5), |_| true)
            .ok()
    };
    server.proc.skip_pending();
    let first = stats_line(server);
    let start = read(pid, members, first.as_ref());
    let end = if first.is_some() {
        loop {
            let line = stats_line(server);
            if line.is_none() || start.at.elapsed().as_secs_f64() >= seconds - 0.5 {
                break read(pid, members, line.as_ref());
            }
        }
    } else {
        std::thread::sleep(Duration::from_secs_f64(seconds));
        read(pid, members, None)
    };
    let wall = end.at.duration_since(start.at).as_secs_f64();
    let (Some(c0), Some(c1)) = (start.server_cpu, end.server_cpu) else {
        bail!("the server's CPU time could not be read (has it stopped?)");
    };
    let names: Vec<String> = members.iter().map(|m| m.state.name.clone()).collect();
    let video = end.seen.iter().any(|s| !s.is_empty());
    let received_bytes = end.heard_bytes - start.heard_bytes;
    Ok(LoadRun {
        members: members.len(),
        seconds: wall,
        setup_s,
        server_cpu_s: c1 - c0,
        generator_cpu_s: start.own_cpu.zip(end.own_cpu).map(|(a, b)| b - a),
        memory: [memory_before, start.memory, end.memory],
        per_stream: per_stream(&names, &start.heard, &end.heard),
        received_bytes,
        sent: end.sent - start.sent,
        video_per_stream: if video {
            per_stream(&names, &start.seen, &end.seen)
        } else {
            Vec::new()
        },
        video_bytes: end.seen_bytes - start.seen_bytes,
        video_sent: end.video_sent - start.video_sent,
        forwarder: start.forwarder.zip(end.forwarder).map(|(a, b)| b.minus(a)),
        answers: members
            .iter()
            .map(|m| m.state.answers.load(Ordering::Relaxed))
            .sum(),
        profile: None,
    })
}
