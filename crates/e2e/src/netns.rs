//! A network namespace of the test's own, where nftables can drop packets
//! (the `netem` qdisc is not available on the CI machines).

use crate::Launch;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// A fresh network namespace with only `lo`, up; deleted on drop. (A host
/// with nothing but loopback is a case the media session handles: it keeps
/// mDNS off, whose multicast socket could not be opened there.)
///
/// Start processes in it through [`Netns::launch`] (`ip netns exec NAME`,
/// which execs, so the process id is the program's own). Needs root (or
/// `CAP_SYS_ADMIN`); without it [`Netns::new`] panics with a sentence.
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `spe2e-<pid>-<n>` with `lo` up.
    pub fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "spe2e-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        if let Err(why) = ip(&["netns", "add", &name]) {
            panic!(
                "cannot create the network namespace {name} ({why}); \
                 these tests need root (or CAP_SYS_ADMIN) and iproute2"
            );
        }
        // From here on, Drop deletes it even if the next step fails.
        let netns = Self { name };
        let n = netns.name.as_str();
        if let Err(why) = ip(&["-n", n, "link", "set", "lo", "up"]) {
            panic!("cannot bring up lo in {n}: {why}");
        }
        netns
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops one incoming UDP packet in `one_in` at random (nftables
    /// `numgen random`), both directions alike since everything here goes
    /// over `lo`; TCP (the signaling WebSocket) is untouched.
    pub fn drop_udp(&self, one_in: u32) {
        self.drop_udp_matching(&[], one_in);
    }

    /// Drops one UDP packet in `one_in` of those sent to `ip` (say
    /// `127.0.0.9`: a process that binds its media there has a bad
    /// downlink, everyone else a clean one).
    pub fn drop_udp_to(&self, ip: &str, one_in: u32) {
        self.drop_udp_matching(&["ip", "daddr", ip], one_in);
    }

    fn drop_udp_matching(&self, matcher: &[&str], one_in: u32) {
        assert!(one_in >= 2, "drop one UDP packet in {one_in}?");
        let modulo = one_in.to_string();
        let mut rule = vec!["add", "rule", "inet", "loss", "in"];
        rule.extend(matcher);
        rule.extend([
            "meta", "l4proto", "udp", "numgen", "random", "mod", &modulo, "0", "drop",
        ]);
        for rule in [
            vec!["add", "table", "inet", "loss"],
            vec![
                "add",
                "chain",
                "inet",
                "loss",
                "in",
                "{ type filter hook input priority 0; }",
            ],
            rule,
        ] {
            let mut args = vec!["netns", "exec", &self.name, "nft"];
            args.extend(rule);
            if let Err(why) = ip(&args) {
                panic!("cannot set up packet loss in {}: {why}", self.name);
            }
        }
    }

    /// Drops every UDP packet (media in both directions: everything here
    /// goes over `lo`) until [`Netns::unblock_udp`]; TCP (signaling) goes on.
    pub fn block_udp(&self) {
        for rule in [
            vec!["add", "table", "inet", "outage"],
            vec![
                "add",
                "chain",
                "inet",
                "outage",
                "in",
                "{ type filter hook input priority 0; }",
            ],
            vec![
                "add", "rule", "inet", "outage", "in", "meta", "l4proto", "udp", "drop",
            ],
        ] {
            let mut args = vec!["netns", "exec", &self.name, "nft"];
            args.extend(rule);
            if let Err(why) = ip(&args) {
                panic!("cannot block UDP in {}: {why}", self.name);
            }
        }
    }

    /// Ends [`Netns::block_udp`].
    pub fn unblock_udp(&self) {
        let args = [
            "netns", "exec", &self.name, "nft", "delete", "table", "inet", "outage",
        ];
        if let Err(why) = ip(&args) {
            panic!("cannot unblock UDP in {}: {why}", self.name);
        }
    }

    /// Starts programs inside this namespace.
    pub fn launch(&self) -> Launch {
        Launch::wrapped(&["ip", "netns", "exec", &self.name])
    }
}

impl Default for Netns {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Processes still inside keep no reference to the name; the
        // namespace itself goes when the last of them exits.
        if let Err(why) = ip(&["netns", "delete", &self.name]) {
            eprintln!(
                "could not delete the network namespace {}: {why}",
                self.name
            );
        }
    }
}

/// Runs `ip ARGS`; the error is a sentence with its stderr.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
