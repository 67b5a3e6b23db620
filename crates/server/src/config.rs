//! Run-time settings of a server, and the parsers the CLI uses for them.
//!
//! Everything has a default that suits production; tests shorten the timers
//! (ping, idle, grace) so they run in milliseconds.

use crate::turn::TurnConfig;
use std::time::Duration;

/// Settings of one server instance.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Ring timeout and reconnect-grace rules handed to the call machine.
    pub switchboard: softphone_proto::Config,
    /// How often the server pings each WebSocket.
    pub ping_interval: Duration,
    /// A WebSocket that sends nothing (not even a pong) for this long is dead.
    pub idle_timeout: Duration,
    /// At most this many WebSockets at once; more get 503 `server_full`.
    pub max_connections: usize,
    /// How long a login token works.
    pub token_ttl: Duration,
    /// STUN/TURN servers handed to clients.
    pub turn: TurnConfig,
    /// The group-call forwarder's sockets; `None`: group calls ring and
    /// connect but carry no media.
    pub forwarder: Option<softphone_forwarder::ForwarderConfig>,
    /// On shutdown, how long to wait for sockets to close and the call log
    /// to be written before giving up on them.
    pub shutdown_timeout: Duration,
}

/// Default WebSocket ping interval.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(10);
/// Default idle timeout after which a silent WebSocket is dropped.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default connection cap.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;
/// Login tokens work for 30 days.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            switchboard: softphone_proto::Config::default(),
            ping_interval: DEFAULT_PING_INTERVAL,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            token_ttl: DEFAULT_TOKEN_TTL,
            turn: TurnConfig::default(),
            forwarder: Some(softphone_forwarder::ForwarderConfig::default()),
            shutdown_timeout: Duration::from_secs(5),
        }
    }
}

/// Parses a number of seconds, fractions allowed (`45`, `1.5`, `0.2`).
pub fn parse_secs(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds (examples: 45, 1.5)"))?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("{text:?} must be zero or more seconds"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{text:?} is too many seconds"))
}

/// Parses a duration with an optional unit: `3600`, `90s`, `30m`, `12h`, `7d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => t.split_at(i),
        None => (t, "s"),
    };
    let scale = match unit {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => {
            return Err(format!(
                "{text:?} has an unknown unit {unit:?}: use s, m, h or d (examples: 90s, 30m, 12h)"
            ))
        }
    };
    let secs = parse_secs(number)
        .map_err(|_| format!("{text:?} is not a duration (examples: 3600, 90s, 30m, 12h)"))?;
    Duration::try_from_secs_f64(secs.as_secs_f64() * scale)
        .map_err(|_| format!("{text:?} is too long"))
}

/// Milliseconds in a duration, saturating.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_take_fractions() {
        assert_eq!(parse_secs("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_secs("45"), Ok(Duration::from_secs(45)));
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("abc").is_err());
        assert!(parse_secs("NaN").is_err());
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(12 * 3600)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("3600"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert!(parse_duration("12x").is_err());
        assert!(parse_duration("h").is_err());
    }
}
