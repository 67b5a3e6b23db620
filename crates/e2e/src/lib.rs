//! Support for the end-to-end tests in `tests/`: nothing here is mocked.
//!
//! # Layout
//! - [`server`]: [`TestServer`] runs the real `softphone-server` binary on
//!   `127.0.0.1:0` with a temporary SQLite database, seeds users with its
//!   admin commands, and stops it by process id (gracefully or not).
//! - [`cli`]: [`Cli`] runs `softphone-cli` processes and reads their JSON lines.
//! - [`party`]: [`Party`], a logged-in client library instance and its events.
//! - [`proxy`]: [`TcpProxy`] sits between a client and the server so a test
//!   can drop connections for real.
//! - [`raw`]: [`RawSocket`], a bare WebSocket speaking the wire protocol by
//!   hand, for malformed frames and requests a well-behaved client never sends.
//! - [`netns`]: [`Netns`], a network namespace of the test's own where
//!   nftables drops packets; [`Launch`] starts the server and CLIs in it.
//! - [`video_member`]: [`VideoMember`], a simulated group-call member over
//!   raw webrtc that sends the video test pattern and decodes what the
//!   forwarder sends it.
//!
//! The binaries are found next to the test executable's `deps/` folder, so
//! build them first (`cargo build --workspace --bins`; `scripts/test.sh` does).

pub mod cli;
pub mod netns;
pub mod party;
pub mod proxy;
pub mod raw;
pub mod server;
pub mod video_member;

pub use cli::Cli;
pub use netns::Netns;
pub use party::Party;
pub use proxy::TcpProxy;
pub use raw::RawSocket;
pub use server::TestServer;
pub use video_member::VideoMember;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// How long a test waits for something that should happen promptly.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Path of a workspace binary built into the same target folder as the test.
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let mut dir = exe.parent().expect("executable folder");
    if dir.ends_with("deps") {
        // A test executable: the binaries sit one folder up.
        dir = dir.parent().expect("target/<profile>");
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (cargo build --workspace --bins)",
        path.display()
    );
    path
}

/// How a workspace binary is started: directly (the default), or through
/// a wrapper command such as `ip netns exec NAME` ([`Netns::launch`]). The
/// wrapper must exec the program, so that its process id is the program's.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    wrapper: Vec<String>,
}

impl Launch {
    /// Runs `WRAPPER... <binary> ARGS...`.
    pub fn wrapped(wrapper: &[&str]) -> Self {
        Self {
            wrapper: wrapper.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// A command for the workspace binary `name` (see [`bin_path`]).
    pub fn command(&self, name: &str) -> Command {
        match self.wrapper.split_first() {
            None => Command::new(bin_path(name)),
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(bin_path(name));
                command
            }
        }
    }
}

/// A 1:1 audio call to place: `Call::new(to, Audio, User)`.
pub fn audio_call(to: &str) -> softphone_proto::Call {
    softphone_proto::Call::new(
        to,
        softphone_proto::CallType::Audio,
        softphone_proto::ReceiverType::User,
    )
}

/// Sends SIGTERM (graceful) or SIGKILL to a process by id.
pub fn signal(pid: u32, sig: &str) {
    let _ = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}
