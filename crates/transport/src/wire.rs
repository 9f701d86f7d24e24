//! The raw transport's framing, as pure functions over bytes: `[tag u8][len u32 LE][payload]`.
//! Frames carry their capture time and sequence number; control messages are JSON.

use bytes::{Buf, BufMut, BytesMut};
use studio_media::{AudioBlock, I420Image, Timestamp, VideoFrame};
use studio_proto::control::{Control, ControlAck};

use crate::TransportError;

/// Larger than an 8K I420 frame, small enough that a corrupt length cannot exhaust memory.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// The first message of a connection is the key, a few dozen bytes: anything longer is refused
/// before it is read, so an unauthenticated peer cannot make the server buffer 64 MiB.
pub const MAX_HELLO_BYTES: usize = 1024;

const TAG_HELLO: u8 = 1;
const TAG_VIDEO: u8 = 2;
const TAG_AUDIO: u8 = 3;
const TAG_CONTROL: u8 = 4;
const TAG_ACK: u8 = 5;
const HEADER: usize = 5;

/// Everything that crosses a raw session's socket, in either direction.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// First message from the app: the one-time key from the session offer.
    Hello {
        key: String,
    },
    Video(VideoFrame),
    Audio(AudioBlock),
    Control {
        seq: u64,
        control: Control,
    },
    ControlAck(ControlAck),
}

impl Message {
    /// A short name for logs (a frame's `Debug` would print every pixel).
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Hello { .. } => "hello",
            Message::Video(_) => "video",
            Message::Audio(_) => "audio",
            Message::Control { .. } => "control",
            Message::ControlAck(_) => "control-ack",
        }
    }
}

/// Append one encoded message to `out`.
pub fn encode(message: &Message, out: &mut BytesMut) {
    match message {
        Message::Hello { key } => put_frame(out, TAG_HELLO, key.as_bytes()),
        Message::Video(frame) => {
            let data = frame.image.data();
            out.reserve(HEADER + 24 + data.len());
            out.put_u8(TAG_VIDEO);
            out.put_u32_le((24 + data.len()) as u32);
            out.put_u64_le(frame.seq);
            out.put_u64_le(frame.capture.0);
            out.put_u32_le(frame.image.width());
            out.put_u32_le(frame.image.height());
            out.put_slice(data);
        }
        Message::Audio(block) => {
            let len = 24 + block.samples.len() * 4;
            out.reserve(HEADER + len);
            out.put_u8(TAG_AUDIO);
            out.put_u32_le(len as u32);
            out.put_u64_le(block.seq);
            out.put_u64_le(block.capture.0);
            out.put_u32_le(block.sample_rate);
            out.put_u32_le(block.samples.len() as u32);
            for s in &block.samples {
                out.put_f32_le(*s);
            }
        }
        Message::Control { seq, control } => {
            let body = serde_json::json!({ "seq": seq, "control": control });
            put_frame(out, TAG_CONTROL, body.to_string().as_bytes());
        }
        Message::ControlAck(ack) => {
            let body = serde_json::to_vec(ack).unwrap_or_default();
            put_frame(out, TAG_ACK, &body);
        }
    }
}

fn put_frame(out: &mut BytesMut, tag: u8, payload: &[u8]) {
    out.reserve(HEADER + payload.len());
    out.put_u8(tag);
    out.put_u32_le(payload.len() as u32);
    out.put_slice(payload);
}

/// Take one whole message off the front of `buf`, or `Ok(None)` when more bytes are needed.
pub fn decode(buf: &mut BytesMut) -> Result<Option<Message>, TransportError> {
    decode_within(buf, MAX_MESSAGE_BYTES)
}

/// The first message of a connection, which must be a [`Message::Hello`] of at most
/// [`MAX_HELLO_BYTES`]: its header is checked before the payload is waited for.
pub fn decode_hello(buf: &mut BytesMut) -> Result<Option<String>, TransportError> {
    if let Some(&tag) = buf.first()
        && tag != TAG_HELLO
    {
        return Err(TransportError::Protocol(format!(
            "the first message must be the key (tag {TAG_HELLO}), not tag {tag}"
        )));
    }
    match decode_within(buf, MAX_HELLO_BYTES)? {
        None => Ok(None),
        Some(Message::Hello { key }) => Ok(Some(key)),
        Some(other) => Err(TransportError::Protocol(format!(
            "the first message must be the key, not {}",
            other.kind()
        ))),
    }
}

fn decode_within(buf: &mut BytesMut, max: usize) -> Result<Option<Message>, TransportError> {
    if buf.len() < HEADER {
        return Ok(None);
    }
    let tag = buf[0];
    let len = u32::from_le_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if len > max {
        return Err(TransportError::Protocol(format!(
            "message of {len} bytes is over the {max}-byte limit"
        )));
    }
    if buf.len() < HEADER + len {
        buf.reserve(HEADER + len - buf.len());
        return Ok(None);
    }
    buf.advance(HEADER);
    let mut payload = buf.split_to(len);
    let message = match tag {
        TAG_HELLO => Message::Hello {
            key: String::from_utf8(payload.to_vec())
                .map_err(|_| TransportError::Protocol("hello key is not UTF-8".into()))?,
        },
        TAG_VIDEO => {
            need(&payload, 24, "video header")?;
            let seq = payload.get_u64_le();
            let capture = Timestamp(payload.get_u64_le());
            let width = payload.get_u32_le();
            let height = payload.get_u32_le();
            let image = I420Image::from_data(width, height, payload.to_vec())
                .map_err(|e| TransportError::Protocol(format!("video frame {seq}: {e}")))?;
            Message::Video(VideoFrame {
                seq,
                capture,
                image,
            })
        }
        TAG_AUDIO => {
            need(&payload, 24, "audio header")?;
            let seq = payload.get_u64_le();
            let capture = Timestamp(payload.get_u64_le());
            let sample_rate = payload.get_u32_le();
            let count = payload.get_u32_le() as usize;
            if payload.len() != count * 4 {
                return Err(TransportError::Protocol(format!(
                    "audio block {seq}: {count} samples announced, {} bytes sent",
                    payload.len()
                )));
            }
            let samples = (0..count).map(|_| payload.get_f32_le()).collect();
            Message::Audio(AudioBlock {
                seq,
                capture,
                sample_rate,
                samples,
            })
        }
        TAG_CONTROL => {
            #[derive(serde::Deserialize)]
            struct Body {
                seq: u64,
                control: Control,
            }
            let body: Body = serde_json::from_slice(&payload)
                .map_err(|e| TransportError::Protocol(format!("control message: {e}")))?;
            Message::Control {
                seq: body.seq,
                control: body.control,
            }
        }
        TAG_ACK => Message::ControlAck(
            serde_json::from_slice(&payload)
                .map_err(|e| TransportError::Protocol(format!("control ack: {e}")))?,
        ),
        other => {
            return Err(TransportError::Protocol(format!(
                "unknown message tag {other}"
            )));
        }
    };
    Ok(Some(message))
}

fn need(payload: &BytesMut, n: usize, what: &str) -> Result<(), TransportError> {
    if payload.len() < n {
        return Err(TransportError::Protocol(format!(
            "{what} is {} bytes, expected at least {n}",
            payload.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_kinds() -> Vec<Message> {
        let mut image = I420Image::black(6, 4);
        image
            .planes_mut()
            .0
            .iter_mut()
            .enumerate()
            .for_each(|(i, p)| *p = i as u8);
        vec![
            Message::Hello { key: "k3y".into() },
            Message::Video(VideoFrame {
                seq: 7,
                capture: Timestamp(123_456),
                image,
            }),
            Message::Audio(AudioBlock {
                seq: 9,
                capture: Timestamp(20_000),
                sample_rate: 48_000,
                samples: vec![0.25, -1.0, 1.0, f32::MIN_POSITIVE],
            }),
            Message::Control {
                seq: 3,
                control: Control::SetVoice {
                    voice_id: "deeper".into(),
                },
            },
            Message::ControlAck(ControlAck {
                seq: 3,
                error: Some("no such voice".into()),
            }),
        ]
    }

    #[test]
    fn every_message_kind_round_trips_exactly() {
        let mut buf = BytesMut::new();
        for message in all_kinds() {
            encode(&message, &mut buf);
        }
        for expected in all_kinds() {
            assert_eq!(decode(&mut buf).unwrap(), Some(expected));
        }
        assert!(buf.is_empty());
        assert_eq!(decode(&mut buf).unwrap(), None);
    }

    #[test]
    fn a_message_split_anywhere_decodes_once_whole() {
        let mut whole = BytesMut::new();
        encode(&all_kinds()[1], &mut whole);
        for cut in 0..whole.len() {
            let mut buf = BytesMut::from(&whole[..cut]);
            assert_eq!(decode(&mut buf).unwrap(), None, "cut at {cut}");
            buf.extend_from_slice(&whole[cut..]);
            assert_eq!(decode(&mut buf).unwrap(), Some(all_kinds()[1].clone()));
        }
    }

    #[test]
    fn corrupt_input_is_an_error_not_a_panic_or_a_huge_allocation() {
        let mut huge = BytesMut::from(&[TAG_VIDEO, 0xff, 0xff, 0xff, 0xff][..]);
        assert!(matches!(
            decode(&mut huge),
            Err(TransportError::Protocol(_))
        ));

        let mut unknown = BytesMut::from(&[99u8, 0, 0, 0, 0][..]);
        assert!(decode(&mut unknown).is_err());

        // A video frame whose pixels do not fit its size.
        let mut bad_video = BytesMut::new();
        put_frame(&mut bad_video, TAG_VIDEO, &[0u8; 24 + 3]);
        assert!(decode(&mut bad_video).is_err());

        let mut short_audio = BytesMut::new();
        put_frame(&mut short_audio, TAG_AUDIO, &[0u8; 10]);
        assert!(decode(&mut short_audio).is_err());

        let mut bad_control = BytesMut::new();
        put_frame(&mut bad_control, TAG_CONTROL, b"{\"seq\":1}");
        assert!(decode(&mut bad_control).is_err());
    }
}
