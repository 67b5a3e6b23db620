//! Listing and watching audio devices (cpal hosts: PulseAudio, then ALSA).

use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait};

use super::cpal_io::StreamThread;
use crate::error::{MediaError, Result};

/// One audio device as listed to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Stable id, `"<host>:<device>"` (for example `pulseaudio:vmic`); pass
    /// it back to [`CpalSource::open`](super::CpalSource::open) / [`CpalSink::open`](super::CpalSink::open).
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// Can capture.
    pub input: bool,
    /// Can play.
    pub output: bool,
    /// The host's default capture device.
    pub default_input: bool,
    /// The host's default playback device.
    pub default_output: bool,
}

/// Hosts in order of preference: PulseAudio (native) before ALSA.
pub(super) fn hosts() -> Vec<cpal::Host> {
    let mut ids = cpal::available_hosts();
    ids.sort_by_key(|h| h.name() != "PulseAudio");
    ids.into_iter()
        .filter_map(|id| cpal::host_from_id(id).ok())
        .collect()
}

pub(super) fn device_id(d: &cpal::Device) -> Option<String> {
    d.id().ok().map(|id| id.to_string())
}

/// The devices to offer the user: those of the preferred host that has any
/// (PulseAudio when its server runs, else ALSA), so the list has no
/// duplicates of the same device through two hosts.
pub fn list_devices() -> Result<Vec<DeviceInfo>> {
    for host in hosts() {
        let list = host_devices(&host);
        if !list.is_empty() {
            return Ok(list);
        }
    }
    Ok(Vec::new())
}

/// Every capture and playback device of every available host.
pub fn list_all_devices() -> Result<Vec<DeviceInfo>> {
    Ok(hosts().iter().flat_map(host_devices).collect())
}

fn host_devices(host: &cpal::Host) -> Vec<DeviceInfo> {
    let mut out = Vec::new();
    let default_in = host.default_input_device().as_ref().and_then(device_id);
    let default_out = host.default_output_device().as_ref().and_then(device_id);
    let Ok(devices) = host.devices() else {
        return out;
    };
    for d in devices {
        let Some(id) = device_id(&d) else { continue };
        let name = d
            .description()
            .map(|desc| desc.name().to_string())
            .unwrap_or_else(|_| id.clone());
        out.push(DeviceInfo {
            default_input: default_in.as_deref() == Some(id.as_str()),
            default_output: default_out.as_deref() == Some(id.as_str()),
            input: d.supports_input(),
            output: d.supports_output(),
            id,
            name,
        });
    }
    out
}

/// Polls the device list on a thread of its own and reports every change
/// (the first list at once). Dropping it stops the thread.
#[derive(Debug)]
pub struct DeviceWatcher {
    lists: Receiver<Vec<DeviceInfo>>,
    _thread: StreamThread,
}

impl DeviceWatcher {
    /// Start polling [`list_devices`] every `interval`.
    pub fn start(interval: Duration) -> Result<Self> {
        let (tx, lists) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let join = std::thread::Builder::new()
            .name("media-devices".into())
            .spawn(move || {
                let mut last: Option<Vec<DeviceInfo>> = None;
                loop {
                    let now = list_devices().unwrap_or_default();
                    if last.as_ref() != Some(&now) {
                        if tx.send(now.clone()).is_err() {
                            return;
                        }
                        last = Some(now);
                    }
                    match stop_rx.recv_timeout(interval) {
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                }
            })
            .map_err(|e| MediaError::Device(format!("cannot start the device watcher: {e}")))?;
        Ok(Self {
            lists,
            _thread: StreamThread {
                stop: Some(stop_tx),
                join: Some(join),
            },
        })
    }

    /// Device lists, one per change.
    pub fn lists(&self) -> &Receiver<Vec<DeviceInfo>> {
        &self.lists
    }
}

pub(super) fn find_device(id: Option<&str>, input: bool) -> Result<cpal::Device> {
    match id {
        Some(id) => {
            let parsed: cpal::DeviceId = id
                .parse()
                .map_err(|_| MediaError::DeviceNotFound(id.to_string()))?;
            let host = cpal::host_from_id(parsed.host())
                .map_err(|e| MediaError::Device(format!("audio host for {id:?}: {e}")))?;
            host.device_by_id(&parsed)
                .ok_or_else(|| MediaError::DeviceNotFound(id.to_string()))
        }
        None => hosts()
            .into_iter()
            .find_map(|h| {
                if input {
                    h.default_input_device()
                } else {
                    h.default_output_device()
                }
            })
            .ok_or_else(|| {
                MediaError::Device(format!(
                    "no default {} device; is a sound server running?",
                    if input { "capture" } else { "playback" }
                ))
            }),
    }
}
