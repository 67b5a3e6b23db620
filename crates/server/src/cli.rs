//! The `softphone-server` command line (part of the binary, not the library):
//! `serve`, `user …`, `group …`, `demo`. Errors are printed as one sentence
//! on stderr with a non-zero exit code.

use anyhow::{anyhow, bail, Context as _};
use clap::{Args, Parser, Subcommand};
use softphone_server::config::{millis, parse_duration, parse_secs, ServerConfig};
use softphone_server::store::Store;
use softphone_server::turn::TurnConfig;
use softphone_server::{auth, tls, AppState, Error, ServerListener};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Signaling server of the softphone.
#[derive(Debug, Parser)]
#[command(name = "softphone-server", version, about)]
struct Cli {
    /// SQLite database file (created if missing).
    #[arg(
        long,
        global = true,
        env = "SOFTPHONE_DB",
        default_value = "softphone.db"
    )]
    db: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP/WebSocket API.
    Serve(Box<ServeArgs>),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage groups.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Create demo users alice, bob, carol and echo (the echo-test contact; password = name) and the group team.
    Demo,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free one; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8480")]
    listen: String,
    /// Default ring timeout in seconds (fractions allowed).
    #[arg(long, value_parser = parse_secs, default_value = "45")]
    ring_timeout: Duration,
    /// How long a device whose connection dropped may take to resume its call, in seconds.
    #[arg(long, value_parser = parse_secs, default_value = "30")]
    reconnect_grace: Duration,
    /// WebSocket ping interval in seconds.
    #[arg(long, value_parser = parse_secs, default_value = "10")]
    ping_interval: Duration,
    /// A WebSocket silent for this many seconds is dropped.
    #[arg(long, value_parser = parse_secs, default_value = "30")]
    idle_timeout: Duration,
    /// Most WebSockets open at once.
    #[arg(long, default_value_t = softphone_server::config::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// TURN server URL, e.g. turn:turn.example.org:3478 (repeatable).
    #[arg(long = "turn-url")]
    turn_urls: Vec<String>,
    /// coturn's static-auth-secret.
    #[arg(long, env = "SOFTPHONE_TURN_SECRET", hide_env_values = true)]
    turn_secret: Option<String>,
    /// STUN server URL, e.g. stun:stun.example.org:3478 (repeatable).
    #[arg(long = "stun-url")]
    stun_urls: Vec<String>,
    /// Lifetime of TURN credentials (e.g. 12h, 30m, 3600).
    #[arg(long, value_parser = parse_duration, default_value = "12h")]
    turn_ttl: Duration,
    /// Local UDP address the group-call forwarder's media connections bind
    /// (repeatable; port 0 picks free ports; a wildcard means every
    /// non-loopback interface, so name loopback too if clients are local).
    #[arg(long = "media-udp", default_values_t = ["0.0.0.0:0".to_string(), "127.0.0.1:0".to_string()])]
    media_udp: Vec<String>,
    /// No group-call forwarder: group calls ring and connect without media.
    #[arg(long)]
    no_forwarder: bool,
    /// Print the forwarder's counters (rooms, members, packets received,
    /// forwarded, dropped, unsent) on stdout every SECS seconds, one JSON
    /// line each: `{"event":"forwarder_stats",…}` (for benchmarks).
    #[arg(long, value_parser = parse_secs, value_name = "SECS")]
    stats_every: Option<Duration>,
    /// PEM certificate chain; serves https/wss (needs --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key (needs --tls-cert).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct PasswordArgs {
    /// The password.
    #[arg(
        long,
        conflicts_with = "password_stdin",
        required_unless_present = "password_stdin"
    )]
    password: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user.
    Add {
        /// User id: 1-32 characters from a-z 0-9 . _ -
        name: String,
        #[command(flatten)]
        password: PasswordArgs,
        /// Name to show (default: the id).
        #[arg(long)]
        display_name: Option<String>,
    },
    /// List users.
    List,
    /// Set a user's password (signs them out everywhere).
    Passwd {
        /// User id.
        name: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
}

#[derive(Debug, Subcommand)]
enum GroupCommand {
    /// Create a group.
    Add {
        /// Group id: 1-32 characters from a-z 0-9 . _ -
        name: String,
        /// Members, comma separated (existing users).
        #[arg(long, value_delimiter = ',')]
        members: Vec<String>,
        /// Name to show (default: the id).
        #[arg(long)]
        display_name: Option<String>,
    },
    /// List groups and their members.
    List,
    /// Add a user to a group.
    AddMember {
        /// Group id.
        group: String,
        /// User id.
        user: String,
    },
}

/// Parses the command line, runs it, and maps failure to a sentence and exit code 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    // The forwarder's webrtc layers warn about normal setup steps (a
    // member's checks arriving before its answer, "no candidate pairs
    // yet"): errors only from them.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "{default_level},rtc=error,rtc_ice=error,rtc_dtls=error"
        ))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(cli: Cli) -> anyhow::Result<()> {
    if let Command::Serve(args) = &cli.command {
        // Check what needs no database first, for quicker, clearer errors.
        let config = serve_config(args)?;
        let store = open(&cli.db).await?;
        return serve(store, config, args).await;
    }
    let store = open(&cli.db).await?;
    let result = match cli.command {
        Command::Serve(_) => Ok(()),
        Command::User(cmd) => user(&store, cmd).await,
        Command::Group(cmd) => group(&store, cmd).await,
        Command::Demo => demo(&store).await,
    };
    store.close().await;
    result
}

async fn open(path: &std::path::Path) -> anyhow::Result<Store> {
    Store::open(path)
        .await
        .with_context(|| format!("cannot open the database {}", path.display()))
}

fn serve_config(args: &ServeArgs) -> anyhow::Result<ServerConfig> {
    let ring = millis(args.ring_timeout);
    let defaults = softphone_proto::Config::default();
    let turn = TurnConfig {
        stun_urls: args.stun_urls.clone(),
        turn_urls: args.turn_urls.clone(),
        secret: args.turn_secret.clone().filter(|s| !s.is_empty()),
        ttl: args.turn_ttl,
    };
    turn.validate().map_err(|e| anyhow!(e))?;
    if args.max_connections == 0 {
        bail!("--max-connections must be at least 1");
    }
    if args.idle_timeout.is_zero() || args.ping_interval.is_zero() {
        bail!("--ping-interval and --idle-timeout must be longer than zero");
    }
    if args.ping_interval >= args.idle_timeout {
        bail!(
            "--ping-interval ({:?}) must be shorter than --idle-timeout ({:?}), or quiet but healthy \
             connections would be dropped",
            args.ping_interval,
            args.idle_timeout
        );
    }
    Ok(ServerConfig {
        switchboard: softphone_proto::Config {
            default_ring_timeout_ms: ring,
            max_ring_timeout_ms: defaults.max_ring_timeout_ms.max(ring),
            reconnect_grace_ms: millis(args.reconnect_grace),
        },
        ping_interval: args.ping_interval,
        idle_timeout: args.idle_timeout,
        max_connections: args.max_connections,
        turn,
        forwarder: (!args.no_forwarder).then(|| softphone_forwarder::ForwarderConfig {
            udp_addrs: args.media_udp.clone(),
            ..Default::default()
        }),
        ..ServerConfig::default()
    })
}

async fn serve(store: Store, config: ServerConfig, args: &ServeArgs) -> anyhow::Result<()> {
    let tls_config = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls::load_config(cert, key)?),
        _ => None,
    };
    let tcp = tokio::net::TcpListener::bind(args.listen.as_str())
        .await
        .map_err(|e| {
            anyhow!(
                "cannot listen on {:?}: {e}; give HOST:PORT such as 127.0.0.1:8480",
                args.listen
            )
        })?;
    let (listener, scheme) = match tls_config {
        Some(cfg) => (tls::listener(tcp, cfg)?, "https"),
        None => (ServerListener::plain(tcp)?, "http"),
    };
    let state = AppState::new(store, config).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {scheme}://{}", listener.local_addr())?;
    out.flush()?;
    drop(out);
    if let Some(every) = args.stats_every.filter(|d| !d.is_zero()) {
        tokio::spawn(print_stats(state.clone(), every));
    }
    softphone_server::run(listener, shutdown_signal(), state).await?;
    Ok(())
}

/// `--stats-every`: the forwarder's counters, one JSON line on stdout per
/// period, until stdout is gone (or there is no forwarder).
async fn print_stats(state: std::sync::Arc<AppState>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let Some(s) = state.hub.forwarder_stats() else {
            return;
        };
        let line = serde_json::json!({
            "event": "forwarder_stats",
            "rooms": s.rooms,
            "members": s.members,
            "received": s.received,
            "forwarded": s.forwarded,
            "dropped": s.dropped,
            "unsent": s.unsent,
            "video_received": s.video_received,
            "video_forwarded": s.video_forwarded,
            "video_dropped": s.video_dropped,
            "keyframe_requests": s.keyframe_requests,
        });
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            return;
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

fn read_password(args: PasswordArgs) -> anyhow::Result<String> {
    let password = match args.password {
        Some(p) => p,
        None => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("cannot read the password from standard input")?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    if password.is_empty() {
        bail!("the password must not be empty");
    }
    if password.len() > 1024 {
        bail!("the password is too long (at most 1024 bytes)");
    }
    Ok(password)
}

async fn hash(password: String) -> anyhow::Result<String> {
    Ok(tokio::task::spawn_blocking(move || auth::hash_password(&password)).await??)
}

async fn user(store: &Store, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            name,
            password,
            display_name,
        } => {
            softphone_server::store::validate_id(&name)?;
            if store.user_exists(&name).await? {
                return Err(Error::UserExists(name).into());
            }
            let password = read_password(password)?;
            let display = display_name.unwrap_or_else(|| name.clone());
            store
                .create_user(&name, &display, &hash(password).await?)
                .await?;
            println!("created user {name}");
        }
        UserCommand::List => {
            for (id, display) in store.list_users().await? {
                println!("{id}\t{display}");
            }
        }
        UserCommand::Passwd { name, password } => {
            if !store.user_exists(&name).await? {
                return Err(Error::UnknownUser(name).into());
            }
            let password = read_password(password)?;
            store
                .set_password_hash(&name, &hash(password).await?)
                .await?;
            println!("changed the password of {name}; their sessions were signed out");
        }
    }
    Ok(())
}

async fn group(store: &Store, cmd: GroupCommand) -> anyhow::Result<()> {
    match cmd {
        GroupCommand::Add {
            name,
            members,
            display_name,
        } => {
            let mut members: Vec<String> = members
                .into_iter()
                .map(|m| m.trim().to_owned())
                .filter(|m| !m.is_empty())
                .collect();
            members.sort();
            members.dedup();
            let display = display_name.unwrap_or_else(|| name.clone());
            store.create_group(&name, &display, &members).await?;
            println!("created group {name} with members {}", members.join(","));
        }
        GroupCommand::List => {
            for g in store.list_groups(None).await? {
                println!(
                    "{}\t{}\t{}",
                    g.group_id,
                    g.display_name,
                    g.members.join(",")
                );
            }
        }
        GroupCommand::AddMember { group, user } => {
            if store.add_group_member(&group, &user).await? {
                println!("added {user} to {group}");
            } else {
                println!("{user} is already a member of {group}");
            }
        }
    }
    Ok(())
}

async fn demo(store: &Store) -> anyhow::Result<()> {
    let people = [("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol")];
    // `echo` is the echo-test contact (`softphone-cli echo-bot` answers as
    // it); not a member of team, which is for people.
    for (id, display) in people.into_iter().chain([("echo", "Echo test")]) {
        if store.user_exists(id).await? {
            println!("user {id} already exists; left as is");
        } else {
            store
                .create_user(id, display, &hash(id.to_owned()).await?)
                .await?;
            println!("created user {id} (password: {id})");
        }
    }
    let members: Vec<String> = people.iter().map(|(id, _)| (*id).to_owned()).collect();
    if store.group_exists("team").await? {
        for m in &members {
            if store.add_group_member("team", m).await? {
                println!("added {m} to group team");
            }
        }
        println!("group team already exists; it has alice, bob and carol");
    } else {
        store.create_group("team", "Team", &members).await?;
        println!("created group team with members alice,bob,carol");
    }
    Ok(())
}
