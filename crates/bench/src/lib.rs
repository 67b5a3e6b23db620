//! What the bench binaries share, and the benches themselves:
//!
//! - [`audio`]: `softphone-audio-bench`, a real two-CLI call (mouth-to-ear
//!   latency, accept → audio, CPU, PESQ-WB), and the parts the group bench
//!   reuses: child processes (`audio::procs`), the server and CLIs
//!   (`audio::call`), the marker signal and its locator (`audio::signal`),
//!   mouth-to-ear from timing logs (`audio::latency`), WAV files and the
//!   printed report (`audio::report`).
//! - [`group`]: `softphone-group-bench`, group calls through the server's
//!   forwarder: its CPU and memory under a simulated call of N members
//!   (`group::load`), and mouth-to-ear through it with three real CLIs
//!   (`group::m2e`).
//! - [`video`]: `softphone-video-bench`, two-CLI video calls with the test
//!   pattern: CPU per endpoint per size, frame rates, glass-to-glass
//!   latency from the pattern's counter (`video::glass`).
//!
//! `softphone-bench` (signaling) is one file of its own, `main.rs`.
//! `docs/bench.md` says how each figure is measured.

pub mod audio;
pub mod group;
pub mod video;
