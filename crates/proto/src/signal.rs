//! What media sessions say to each other through the server: the `data`
//! of a `signal` message, between the two parties of a 1:1 call, or between
//! a group-call participant and the server's forwarder.
//!
//! ```json
//! {"kind":"offer","sdp":"v=0…"}
//! {"kind":"answer","sdp":"v=0…"}
//! {"kind":"candidate","candidate":"candidate:1 1 udp …","sdp_mid":"0","sdp_mline_index":0}
//! ```
//!
//! The server relays it between parties as opaque JSON; anything that does
//! not parse as one of these is ignored (logged), never fatal. The
//! forwarder reads and writes the same messages.

use serde::{Deserialize, Serialize};

/// One media-negotiation message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SignalMessage {
    /// An SDP offer (the caller's; in a group call, the forwarder's).
    Offer {
        /// The SDP text.
        sdp: String,
    },
    /// The SDP answer to it.
    Answer {
        /// The SDP text.
        sdp: String,
    },
    /// A trickled ICE candidate (RFC 8839 candidate attribute).
    Candidate {
        /// `candidate:…`.
        candidate: String,
        /// The m-section's mid, if known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_mid: Option<String>,
        /// The m-section's index, if known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_mline_index: Option<u16>,
        /// The ICE username fragment it belongs to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username_fragment: Option<String>,
    },
}

impl SignalMessage {
    /// As the JSON value `send_signal` takes.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Parses a relayed payload; `None` if it is not a media message.
    pub fn from_value(value: &serde_json::Value) -> Option<Self> {
        serde_json::from_value(value.clone()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_have_the_documented_shape() {
        let offer = SignalMessage::Offer { sdp: "v=0".into() };
        assert_eq!(offer.to_value(), json!({"kind": "offer", "sdp": "v=0"}));
        let cand = SignalMessage::Candidate {
            candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host".into(),
            sdp_mid: None,
            sdp_mline_index: Some(0),
            username_fragment: None,
        };
        let v = cand.to_value();
        assert_eq!(v["kind"], "candidate");
        assert_eq!(v["sdp_mline_index"], 0);
        assert_eq!(SignalMessage::from_value(&v), Some(cand));
    }

    #[test]
    fn junk_is_not_a_message() {
        for junk in [
            json!(null),
            json!({"kind": "dance"}),
            json!({"kind": "offer"}),
            json!(3),
        ] {
            assert_eq!(SignalMessage::from_value(&junk), None, "{junk}");
        }
    }
}
