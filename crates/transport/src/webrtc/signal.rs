//! What travels on a WebRTC session's data channel: control messages one way, their acks
//! and the server's status the other, as JSON text.

use serde::{Deserialize, Serialize};
use studio_proto::control::{Control, ControlAck};

/// The data channel's label; the app opens it in its offer.
pub const CHANNEL_LABEL: &str = "studio";

/// One data channel message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChannelMessage {
    /// App → server: a live setting, numbered so its ack can be matched.
    Control { seq: u64, control: Control },
    /// Server → app: the answer to one control message.
    Ack(ControlAck),
    /// Server → app, once a second: the session's figures.
    Status(serde_json::Value),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_a_stable_json_shape() {
        let control = ChannelMessage::Control {
            seq: 4,
            control: Control::Talk { active: true },
        };
        let text = serde_json::to_string(&control).unwrap();
        assert_eq!(
            text,
            r#"{"type":"control","seq":4,"control":{"type":"talk","active":true}}"#
        );
        assert_eq!(
            serde_json::from_str::<ChannelMessage>(&text).unwrap(),
            control
        );
        let ack = ChannelMessage::Ack(ControlAck {
            seq: 4,
            error: None,
        });
        let text = serde_json::to_string(&ack).unwrap();
        assert_eq!(text, r#"{"type":"ack","seq":4,"error":null}"#);
    }
}
