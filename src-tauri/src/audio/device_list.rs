//! The audio devices offered in the pickers: the media crate's list (the
//! preferred host only, so no device shows twice), split into microphones
//! and speakers, with stable ids.

use serde::Serialize;
use softphone_media::device::DeviceInfo;
use ts_rs::TS;

/// One device in a picker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct UiAudioDevice {
    /// Stable id (`pulseaudio:…`); what the settings keep.
    pub id: String,
    /// Its name to show.
    pub name: String,
    /// The system's default of its kind.
    pub is_default: bool,
}

/// Microphones and speakers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct UiAudioDevices {
    /// Capture devices.
    pub inputs: Vec<UiAudioDevice>,
    /// Playback devices.
    pub outputs: Vec<UiAudioDevice>,
}

impl UiAudioDevices {
    /// Splits `list` by kind (a device may be both).
    pub fn new(list: &[DeviceInfo]) -> Self {
        let pick = |input: bool| {
            list.iter()
                .filter(|d| if input { d.input } else { d.output })
                .map(|d| UiAudioDevice {
                    id: d.id.clone(),
                    name: d.name.clone(),
                    is_default: if input {
                        d.default_input
                    } else {
                        d.default_output
                    },
                })
                .collect()
        };
        Self {
            inputs: pick(true),
            outputs: pick(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_by_kind() {
        let d = |id: &str, input, output, def| DeviceInfo {
            id: id.into(),
            name: id.to_uppercase(),
            input,
            output,
            default_input: def && input,
            default_output: def && output,
        };
        let ui = UiAudioDevices::new(&[
            d("p:mic", true, false, true),
            d("p:spk", false, true, false),
            d("p:both", true, true, false),
        ]);
        let ids = |v: &[UiAudioDevice]| v.iter().map(|d| d.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&ui.inputs), ["p:mic", "p:both"]);
        assert_eq!(ids(&ui.outputs), ["p:spk", "p:both"]);
        assert!(ui.inputs[0].is_default && !ui.outputs[0].is_default);
        assert_eq!(ui.outputs[0].name, "P:SPK");
    }
}
