//! Random UDP loss without netem: a network namespace of the bench's own
//! (only `lo`, up) whose nftables input hook drops every Nth UDP packet at
//! random (`numgen random mod N 0 drop`, added once the call's media is
//! up). The server and both CLIs run
//! inside it, so every media packet crosses that hook once; signaling is
//! TCP and is not touched. The namespace is deleted on drop. Needs root.

use anyhow::{bail, Context as _, Result};
use std::process::{Command, Stdio};

/// A namespace with a loss rule; deleted on drop.
#[derive(Debug)]
pub struct LossyNetns {
    /// Its name.
    pub name: String,
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("cannot run `ip` (package iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl LossyNetns {
    /// Creates namespace `name`, not dropping anything yet.
    pub fn create(name: &str) -> Result<LossyNetns> {
        // A leftover from a killed run would make `add` fail.
        let _ = Command::new("ip")
            .args(["netns", "del", name])
            .stderr(Stdio::null())
            .status();
        ip(&["netns", "add", name])?;
        let ns = LossyNetns {
            name: name.to_owned(),
        };
        ip(&["-n", name, "link", "set", "lo", "up"])?;
        ip(&[
            "netns", "exec", name, "nft", "add", "table", "inet", "bench",
        ])?;
        ip(&[
            "netns",
            "exec",
            name,
            "nft",
            "add",
            "chain",
            "inet",
            "bench",
            "in",
            "{ type filter hook input priority 0; }",
        ])?;
        Ok(ns)
    }

    /// From now on, drops one UDP packet in `one_in` at random.
    pub fn start_dropping(&self, one_in: u32) -> Result<()> {
        let modulo = one_in.to_string();
        ip(&[
            "netns", "exec", &self.name, "nft", "add", "rule", "inet", "bench", "in", "meta",
            "l4proto", "udp", "numgen", "random", "mod", &modulo, "0", "drop",
        ])
    }
}

impl Drop for LossyNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}
