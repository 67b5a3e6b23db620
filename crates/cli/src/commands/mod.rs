//! The subcommands, and what they share: global options, logging in, the
//! event pump that prints every event as it is read, signal handling, and
//! the "in a call" loop.

pub mod answer;
pub mod call;
pub mod echo_bot;
pub mod join;
pub mod media;
pub mod output;
pub mod query;
pub mod timing;
pub mod video;

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use futures_util::{FutureExt, Stream, StreamExt};
use softphone_client::{
    Call, CallEvent, CancelReason, Client, ClientConfig, ConnectionState, DeviceAddr, ErrorCode,
    ReceiverType,
};
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitCode;
use std::time::Duration;
use tokio::time::Instant;

/// Options every subcommand takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Server base URL.
    #[arg(
        long,
        global = true,
        env = "SOFTPHONE_SERVER",
        default_value = "http://127.0.0.1:8480",
        value_name = "URL"
    )]
    pub server: String,
    /// User to log in as.
    #[arg(long, global = true, env = "SOFTPHONE_USER", value_name = "USER")]
    pub user: Option<String>,
    /// Password of --user.
    #[arg(
        long,
        global = true,
        env = "SOFTPHONE_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD"
    )]
    pub password: Option<String>,
    /// This device's id [default: cli-<8 random hex digits>].
    #[arg(long, global = true, env = "SOFTPHONE_DEVICE", value_name = "ID")]
    pub device: Option<String>,
    /// Extra CA certificate (PEM) to trust, for a server with a private or self-signed certificate.
    #[arg(long = "ca-cert", global = true, value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Call a user or a group; exit 0 once an answered call has ended.
    Call(call::CallArgs),
    /// Wait for incoming calls and answer (or decline) them.
    Answer(answer::AnswerArgs),
    /// Join a group's call in progress (late, or after declining or leaving).
    Join(join::JoinArgs),
    /// List users, one JSON object per line.
    Users,
    /// List groups, one JSON object per line.
    Groups,
    /// Show the call log, newest first, one JSON object per line.
    History(query::HistoryArgs),
    /// List audio devices (ids for --input-device / --output-device) and
    /// video sources (ids for --video-source), one JSON object per line.
    Devices,
    /// The echo-test contact: answer every call and play back what the
    /// caller says a second later (logs in as `echo` unless --user is given).
    EchoBot(echo_bot::EchoBotArgs),
}

/// Exit status of a command that did not go as asked.
pub const FAILURE: u8 = 1;

/// Runs a subcommand; every error becomes a sentence on stderr.
pub async fn run(global: Global, command: Command) -> ExitCode {
    let result = match command {
        Command::Call(args) => call::run(&global, args).await,
        Command::Answer(args) => answer::run(&global, args).await,
        Command::Join(args) => join::run(&global, args).await,
        Command::Users => query::users(&global).await,
        Command::Groups => query::groups(&global).await,
        Command::History(args) => query::history(&global, args).await,
        Command::Devices => media::devices(),
        Command::EchoBot(args) => echo_bot::run(&global, args).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            output::sentence(&format!("{e:#}"));
            ExitCode::from(FAILURE)
        }
    }
}

/// A client for the global options (nothing sent yet).
pub fn client(global: &Global) -> anyhow::Result<Client> {
    let extra_root_ca_pem = match &global.ca_cert {
        Some(path) => Some(
            std::fs::read(path)
                .with_context(|| format!("cannot read the CA certificate {}", path.display()))?,
        ),
        None => None,
    };
    let device_id = match &global.device {
        Some(d) if !d.trim().is_empty() => d.clone(),
        Some(_) => bail!("the device id is empty; pass --device ID or leave it out"),
        None => format!("cli-{:08x}", rand::random::<u32>()),
    };
    let config = ClientConfig {
        server_url: global.server.clone(),
        device_id,
        call_waiting: false,
        extra_root_ca_pem,
        request_timeout: softphone_client::DEFAULT_REQUEST_TIMEOUT,
    };
    Ok(Client::new(config)?)
}

/// The username and password from the options or the environment.
pub fn credentials(global: &Global) -> anyhow::Result<(&str, &str)> {
    let Some(user) = global.user.as_deref().filter(|u| !u.is_empty()) else {
        bail!("no user given; pass --user NAME or set SOFTPHONE_USER");
    };
    let Some(password) = global.password.as_deref() else {
        bail!("no password given; pass --password or set SOFTPHONE_PASSWORD");
    };
    Ok((user, password))
}

/// A logged-in, connected device: its client, its event pump and signals.
pub struct Device {
    /// The client.
    pub client: Client,
    /// Every event, printed as it is read.
    pub events: Events,
    /// Ctrl-C and SIGTERM.
    pub signals: Signals,
    /// This device.
    pub me: DeviceAddr,
    /// The media sessions (every answered call gets audio both ways).
    pub media: softphone_client::media::MediaHandle,
    /// `--record-video`: finished when the device closes.
    pub recorder: Option<std::sync::Arc<video::VideoRecorder>>,
    /// `--video-after`: turn video on this long after the answer, from
    /// this source.
    pub video_after: Option<(Duration, softphone_client::media::SourceId)>,
}

/// How handling one call went.
#[derive(Debug)]
pub enum Outcome {
    /// As asked.
    Done,
    /// Not as asked; the sentence says what happened.
    Failed(String),
    /// Ctrl-C or SIGTERM; the call was ended first.
    Interrupted(Interrupt),
}

impl Outcome {
    /// The process's exit code for a command that handled one call; a
    /// failure's sentence is printed.
    pub fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Done => ExitCode::SUCCESS,
            Outcome::Failed(sentence) => {
                output::sentence(&sentence);
                ExitCode::from(FAILURE)
            }
            Outcome::Interrupted(signal) => signal.exit_code(),
        }
    }
}

impl Device {
    /// Logs in (HTTP and WebSocket) with the global options; answered
    /// calls get media with the devices of `media`.
    pub async fn login(global: &Global, media: &media::MediaArgs) -> anyhow::Result<Device> {
        credentials(global)?;
        let (config, recorder) = media.build()?;
        let mut device = Self::login_with(global, config).await?;
        if media.muted {
            device.media.set_muted(true);
        }
        device.recorder = recorder;
        device.video_after = media
            .video
            .video_after
            .map(|after| (after, media.video.source()));
        Ok(device)
    }

    /// [`Device::login`] with a media config of the caller's own (the echo bot).
    pub async fn login_with(
        global: &Global,
        media_config: softphone_client::media::MediaConfig,
    ) -> anyhow::Result<Device> {
        let (user, password) = credentials(global)?;
        let client = client(global)?;
        // Subscribe before logging in, so the connection lines are printed too.
        let events = Events::new(client.events());
        let media = client.enable_media(media_config);
        let session = client.login(user, password).await?;
        let signals = Signals::new()?;
        Ok(Device {
            me: session.device(),
            client,
            events,
            signals,
            media,
            recorder: None,
            video_after: None,
        })
    }

    /// Stops media (finishing a recording), prints what is left to print
    /// and logs out.
    pub async fn close(mut self) {
        self.media.shutdown().await;
        if let Some(recorder) = self.recorder.take() {
            recorder.finish();
        }
        self.events.drain_ready();
        if let Err(e) = self.client.logout().await {
            tracing::debug!("logout failed: {e}");
        }
    }

    /// Stays in call `sid` until it ends, `hangup_after` passes (then hangs
    /// up), or a signal comes (then hangs up too).
    pub async fn in_call(&mut self, sid: &str, hangup_after: Option<Duration>) -> Outcome {
        let hangup_at = hangup_after.map(|d| Instant::now() + d);
        let mut video_at = self
            .video_after
            .as_ref()
            .map(|(after, source)| (Instant::now() + *after, source.clone()));
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(video_at.as_ref().map_or_else(Instant::now, |v| v.0)), if video_at.is_some() => {
                    if let Some((_, source)) = video_at.take() {
                        match self.media.set_video_source(Some(source.clone())).await {
                            Ok(()) => output::sentence(&format!("turned video on ({source})")),
                            Err(e) => output::sentence(&format!("could not turn video on: {e}")),
                        }
                    }
                }
                event = self.events.next() => match event {
                    None => return Outcome::Failed("the client stopped".to_owned()),
                    Some(CallEvent::CallEnded { call, reason, .. }) if call.session_id == sid => {
                        output::sentence(&format!("the call ended: {}", output::end_reason_words(reason)));
                        return Outcome::Done;
                    }
                    Some(CallEvent::ParticipantLeft { session_id, .. }) if session_id == sid && self.alone_in(sid) => {
                        output::sentence("everyone else left the call; hanging up");
                        return self.hang_up(sid).await;
                    }
                    Some(CallEvent::ConnectionStateChanged(ConnectionState::Disconnected { reason })) => {
                        return Outcome::Failed(format!("lost the connection to the server: {reason}"));
                    }
                    Some(CallEvent::MediaFailed { session_id, reason }) if session_id == sid => {
                        return Outcome::Failed(format!("the call was ended because its media failed: {reason}"));
                    }
                    Some(_) => {}
                },
                () = tokio::time::sleep_until(hangup_at.unwrap_or_else(Instant::now)), if hangup_at.is_some() => {
                    return self.hang_up(sid).await;
                }
                signal = self.signals.recv() => {
                    output::sentence(&format!("{}: hanging up", signal.name()));
                    let _ = self.hang_up(sid).await;
                    return Outcome::Interrupted(signal);
                }
            }
        }
    }

    /// Ends call `sid` and prints the local `call_ended` line.
    pub async fn hang_up(&mut self, sid: &str) -> Outcome {
        match self.client.end_call(sid).await {
            Ok(call) => {
                self.events.drain_ready();
                output::local_call_ended(&call, &self.me);
                output::sentence("hung up");
                Outcome::Done
            }
            // The other side was quicker: the call is over all the same.
            Err(e) if e.code() == Some(ErrorCode::CallFinished) => Outcome::Done,
            Err(e) => Outcome::Failed(format!("could not hang up: {e}")),
        }
    }

    /// True in a group call where this device is the only one left.
    fn alone_in(&self, sid: &str) -> bool {
        self.client.active_call().is_some_and(|call| {
            call.session_id == sid
                && call.receiver_type == ReceiverType::Group
                && call.active_participants().all(|p| p.addr() == self.me)
        })
    }
}

/// The client's event stream, printing each event as it is read, so the
/// output order is the order events arrived in. It also keeps track of the
/// calls ringing on this device, whatever loop happened to read their events.
pub struct Events {
    stream: Pin<Box<dyn Stream<Item = CallEvent> + Send>>,
    /// Calls that rang here, oldest first, not yet taken.
    ringing: VecDeque<Call>,
    /// Every session that rang here (a call rings again after a reconnect).
    seen: HashSet<String>,
    /// Calls that stopped ringing here, and why.
    stopped: HashMap<String, CancelReason>,
}

impl Events {
    fn new(stream: impl Stream<Item = CallEvent> + Send + 'static) -> Self {
        Self {
            stream: Box::pin(stream),
            ringing: VecDeque::new(),
            seen: HashSet::new(),
            stopped: HashMap::new(),
        }
    }

    /// The next event, printed.
    pub async fn next(&mut self) -> Option<CallEvent> {
        let event = self.stream.next().await?;
        self.note(&event);
        Some(event)
    }

    fn note(&mut self, event: &CallEvent) {
        output::event(event);
        match event {
            CallEvent::IncomingCallReceived { call }
                if self.seen.insert(call.session_id.clone()) =>
            {
                self.ringing.push_back(call.clone());
            }
            CallEvent::IncomingCallCancelled { call, reason } => {
                self.ringing.retain(|c| c.session_id != call.session_id);
                self.stopped.insert(call.session_id.clone(), *reason);
            }
            _ => {}
        }
    }

    /// Prints (and notes) the events already received, without waiting.
    pub fn drain_ready(&mut self) {
        while let Some(Some(event)) = self.stream.next().now_or_never() {
            self.note(&event);
        }
    }

    /// Reads (and prints) events for up to `wait` until one matches.
    pub async fn wait_for(
        &mut self,
        wait: Duration,
        pred: impl Fn(&CallEvent) -> bool,
    ) -> Option<CallEvent> {
        let deadline = Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.next()).await {
                Ok(Some(event)) if pred(&event) => return Some(event),
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// The oldest call that rang here and is still ringing, if any.
    pub fn take_ringing(&mut self) -> Option<Call> {
        self.ringing.pop_front()
    }

    /// Why call `sid` stopped ringing here, if it did.
    pub fn stopped(&self, sid: &str) -> Option<CancelReason> {
        self.stopped.get(sid).copied()
    }
}

/// Ctrl-C or SIGTERM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    /// SIGINT (Ctrl-C).
    Int,
    /// SIGTERM.
    Term,
}

impl Interrupt {
    /// The conventional exit status: 128 + the signal number.
    pub fn exit_code(self) -> ExitCode {
        ExitCode::from(match self {
            Interrupt::Int => 130,
            Interrupt::Term => 143,
        })
    }

    /// In words, for stderr.
    pub fn name(self) -> &'static str {
        match self {
            Interrupt::Int => "interrupted",
            Interrupt::Term => "terminated",
        }
    }
}

/// Listens for Ctrl-C and SIGTERM from creation on (none is lost while
/// nobody is waiting).
pub struct Signals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    /// Starts listening.
    pub fn new() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Self {
                int: signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?,
                term: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// The next signal.
    pub async fn recv(&mut self) -> Interrupt {
        #[cfg(unix)]
        {
            tokio::select! {
                Some(()) = self.int.recv() => Interrupt::Int,
                Some(()) = self.term.recv() => Interrupt::Term,
                else => std::future::pending().await,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Interrupt::Int
        }
    }
}

/// Parses seconds (fractions allowed) into a duration.
pub fn parse_secs(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("{text:?} must be zero or more seconds"));
    }
    if secs > 31_536_000.0 {
        return Err(format!("{text:?} is more than a year"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_parse_with_fractions_and_refuse_nonsense() {
        assert_eq!(parse_secs("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_secs("0"), Ok(Duration::ZERO));
        for bad in ["-1", "abc", "NaN", "inf", "1e12", ""] {
            assert!(parse_secs(bad).is_err(), "{bad}");
        }
    }
}
