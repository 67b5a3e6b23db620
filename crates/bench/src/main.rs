//! Signaling benchmarks against the real server binary (built in the same
//! profile, next to this one), over loopback WebSockets:
//!
//! 1. ring latency: `initiate_call` sent → the callee's `incoming_call`
//!    received, one call at a time, p50/p99;
//! 2. call setups per second: many concurrent caller/callee pairs each
//!    looping initiate → accept → end, with the p50/p99 of one whole setup;
//! 3. server memory per idle connection, at 1k and 10k connections.
//!
//! Run: `cargo build --release -p softphone-server -p softphone-bench &&
//! target/release/softphone-bench`. Prints figures; asserts nothing.

use anyhow::{Context, Result};
use clap::Parser;
use softphone_e2e::raw::{http, login, RawSocket};
use softphone_e2e::TestServer;
use softphone_proto::{CallStatus, CallType, ClientMessage, ReceiverType, ServerMessage};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Barrier;

#[derive(Parser)]
struct Args {
    /// Calls in the latency run.
    #[arg(long, default_value_t = 2000)]
    latency_calls: usize,
    /// Concurrent caller/callee pairs in each throughput run.
    #[arg(long, value_delimiter = ',', default_value = "10,25,100")]
    pairs: Vec<usize>,
    /// Seconds the throughput run lasts.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Idle connection counts to measure memory at.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    idle: Vec<usize>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let limit = rlimit::increase_nofile_limit(65_536).context("raising the open-file limit")?;
    println!("open-file limit: {limit}");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let server = TestServer::start(&[]);
    let most = args.pairs.iter().copied().max().unwrap_or(0);
    let users: Vec<String> = (0..most * 2).map(|i| format!("u{i}")).collect();
    let started = Instant::now();
    for user in &users {
        server.admin(&["user", "add", user, "--password", user]);
    }
    println!(
        "created {} users in {:.1} s",
        users.len(),
        started.elapsed().as_secs_f64()
    );
    let pid = server.pid().context("server pid")?;
    println!(
        "server RSS after start: {:.1} MB",
        rss_kib(pid)? as f64 / 1024.0
    );
    runtime.block_on(async {
        idle_memory(&server, &args.idle).await?;
        ring_latency(&server, args.latency_calls).await?;
        for &pairs in &args.pairs {
            setups(
                &server,
                &users[..pairs * 2],
                Duration::from_secs(args.seconds),
            )
            .await?;
        }
        println!(
            "server RSS at the end: {:.1} MB",
            rss_kib(pid)? as f64 / 1024.0
        );
        Ok(())
    })
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn text(m: &ClientMessage) -> String {
    serde_json::to_string(m).unwrap_or_default()
}

fn initiate(id: u64, to: &str) -> String {
    text(&ClientMessage::InitiateCall {
        id,
        receiver_id: to.into(),
        receiver_type: ReceiverType::User,
        call_type: CallType::Audio,
        timeout_secs: None,
    })
}

async fn ring_latency(server: &TestServer, calls: usize) -> Result<()> {
    let mut alice = RawSocket::connect(server.addr(), "alice", "bench").await;
    let mut bob = RawSocket::connect(server.addr(), "bob", "bench").await;
    let mut samples = Vec::with_capacity(calls);
    for i in 0..calls as u64 {
        let t0 = Instant::now();
        alice.send_text(&initiate(i, "bob")).await;
        let sid = match bob
            .recv_until(|m| matches!(m, ServerMessage::IncomingCall { .. }))
            .await
        {
            ServerMessage::IncomingCall { call } => call.session_id,
            _ => unreachable!(),
        };
        samples.push(t0.elapsed());
        bob.send_text(&text(&ClientMessage::RejectCall {
            id: i,
            session_id: sid,
            status: CallStatus::Rejected,
        }))
        .await;
        bob.recv_until(|m| matches!(m, ServerMessage::CallReply { .. }))
            .await;
        alice
            .recv_until(|m| matches!(m, ServerMessage::OutgoingCallRejected { .. }))
            .await;
    }
    samples.sort();
    println!(
        "ring latency (initiate -> callee's incoming_call), {} calls: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        percentile(&samples, 1.0)
    );
    Ok(())
}

/// One pair logs in, waits for every pair, then loops initiate → accept → end
/// for `duration`; returns each setup's duration.
async fn pair_loop(
    addr: String,
    caller: String,
    callee: String,
    ready: Arc<Barrier>,
    duration: Duration,
) -> Vec<Duration> {
    let mut a = RawSocket::connect(&addr, &caller, "bench").await;
    let mut b = RawSocket::connect(&addr, &callee, "bench").await;
    ready.wait().await;
    let until = Instant::now() + duration;
    let mut samples = Vec::new();
    let mut id = 0u64;
    while Instant::now() < until {
        id += 2;
        let t0 = Instant::now();
        a.send_text(&initiate(id, &callee)).await;
        let sid = match b
            .recv_until(|m| matches!(m, ServerMessage::IncomingCall { .. }))
            .await
        {
            ServerMessage::IncomingCall { call } => call.session_id,
            _ => unreachable!(),
        };
        b.send_text(&text(&ClientMessage::AcceptCall {
            id,
            session_id: sid.clone(),
        }))
        .await;
        a.recv_until(|m| matches!(m, ServerMessage::OutgoingCallAccepted { .. }))
            .await;
        let end_id = id + 1;
        a.send_text(&text(&ClientMessage::EndCall {
            id: end_id,
            session_id: sid,
        }))
        .await;
        a.recv_until(|m| matches!(m, ServerMessage::CallReply { id, .. } if *id == end_id))
            .await;
        b.recv_until(|m| matches!(m, ServerMessage::CallEnded { .. }))
            .await;
        samples.push(t0.elapsed());
    }
    samples
}

async fn setups(server: &TestServer, users: &[String], duration: Duration) -> Result<()> {
    let pairs = users.len() / 2;
    // Everyone logs in first (argon2 is deliberately slow), then the clock starts.
    let ready = Arc::new(Barrier::new(pairs + 1));
    let mut tasks = Vec::new();
    for pair in users.chunks(2) {
        tasks.push(tokio::spawn(pair_loop(
            server.addr().to_owned(),
            pair[0].clone(),
            pair[1].clone(),
            ready.clone(),
            duration,
        )));
    }
    ready.wait().await;
    if let Some(pid) = server.pid() {
        println!(
            "  server RSS after {} logins: {:.1} MB",
            pairs * 2,
            rss_kib(pid)? as f64 / 1024.0
        );
    }
    let t0 = Instant::now();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await?);
    }
    let elapsed = t0.elapsed().as_secs_f64();
    all.sort();
    println!(
        "call setups (initiate + accept + end), {pairs} concurrent pairs: {} setups in {elapsed:.1} s = {:.0} setups/s; one setup p50 {:.2} ms, p99 {:.2} ms",
        all.len(),
        all.len() as f64 / elapsed,
        percentile(&all, 0.5),
        percentile(&all, 0.99)
    );
    // Reading the call log waits for the writer: how far behind the disk was.
    let token = login(server.addr(), &users[0], &users[0]).await;
    let t0 = Instant::now();
    let (status, _) = http(server.addr(), "GET", "/v1/calls?limit=1", Some(&token), "").await;
    println!(
        "  call-log writer caught up {:.2} s after the load stopped (HTTP {status}); server RSS {:.1} MB",
        t0.elapsed().as_secs_f64(),
        server.pid().map_or(Ok(0), rss_kib)? as f64 / 1024.0
    );
    Ok(())
}

fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("VmRSS in /proc/<pid>/status")
}

async fn idle_memory(server: &TestServer, counts: &[usize]) -> Result<()> {
    let pid = server.pid().context("server pid")?;
    let token = login(server.addr(), "carol", "carol").await;
    let mut held = Vec::new();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let base = rss_kib(pid)?;
    println!(
        "server RSS before idle connections: {:.1} MB",
        base as f64 / 1024.0
    );
    for &count in counts {
        let t0 = Instant::now();
        while held.len() < count {
            let batch: Vec<_> = (held.len()..count.min(held.len() + 200))
                .map(|i| {
                    let addr = server.addr().to_owned();
                    let token = token.clone();
                    tokio::spawn(async move {
                        RawSocket::connect_with_token(&addr, &token, &format!("idle-{i}")).await
                    })
                })
                .collect();
            for task in batch {
                held.push(task.await?.keep_alive());
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss = rss_kib(pid)?;
        println!(
            "{count} idle connections (opened in {:.1} s): server RSS {:.1} MB, {:.1} KB per connection",
            t0.elapsed().as_secs_f64(),
            rss as f64 / 1024.0,
            (rss.saturating_sub(base)) as f64 / count as f64
        );
    }
    for task in held {
        task.abort();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(())
}
