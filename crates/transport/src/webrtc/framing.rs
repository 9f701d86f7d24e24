//! ICE-TCP's byte-level rules as pure functions: RFC 4571 framing (a 16-bit big-endian length
//! before each packet) and the STUN USERNAME that tells which session a new connection is for.

use crate::TransportError;
use bytes::{Buf, BufMut, BytesMut};

/// Append one packet with its RFC 4571 length prefix.
pub fn encode_frame(packet: &[u8], out: &mut BytesMut) -> Result<(), TransportError> {
    let len = u16::try_from(packet.len()).map_err(|_| {
        TransportError::Protocol(format!(
            "a {}-byte packet does not fit an RFC 4571 frame",
            packet.len()
        ))
    })?;
    out.reserve(2 + packet.len());
    out.put_u16(len);
    out.put_slice(packet);
    Ok(())
}

/// The first whole packet in `buf`, without taking it; `None` when more bytes are needed.
pub fn peek_frame(buf: &[u8]) -> Option<&[u8]> {
    let len = u16::from_be_bytes([*buf.first()?, *buf.get(1)?]) as usize;
    buf.get(2..2 + len)
}

/// Take one whole packet off the front of `buf`, or `None` when more bytes are needed.
pub fn decode_frame(buf: &mut BytesMut) -> Option<BytesMut> {
    if buf.len() < 2 {
        return None;
    }
    let len = u16::from_be_bytes([buf[0], buf[1]]) as usize;
    if buf.len() < 2 + len {
        return None;
    }
    buf.advance(2);
    Some(buf.split_to(len))
}

const STUN_MAGIC: u32 = 0x2112_A442;
const STUN_HEADER: usize = 20;
const ATTR_USERNAME: u16 = 0x0006;

/// The USERNAME of a STUN message (`receiver_ufrag:sender_ufrag`), if the packet is STUN and
/// carries one.
pub fn stun_username(packet: &[u8]) -> Option<&str> {
    if packet.len() < STUN_HEADER || packet[0] & 0xc0 != 0 {
        return None;
    }
    let magic = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
    if magic != STUN_MAGIC {
        return None;
    }
    let body_len = u16::from_be_bytes([packet[2], packet[3]]) as usize;
    let body = packet.get(STUN_HEADER..STUN_HEADER + body_len)?;
    let mut at = 0;
    while at + 4 <= body.len() {
        let kind = u16::from_be_bytes([body[at], body[at + 1]]);
        let len = u16::from_be_bytes([body[at + 2], body[at + 3]]) as usize;
        let value = body.get(at + 4..at + 4 + len)?;
        if kind == ATTR_USERNAME {
            return std::str::from_utf8(value).ok();
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    None
}

/// The receiving side's ufrag from a STUN USERNAME.
pub fn receiver_ufrag(packet: &[u8]) -> Option<&str> {
    stun_username(packet).and_then(|u| u.split(':').next())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_split_anywhere() {
        let mut whole = BytesMut::new();
        encode_frame(b"hello", &mut whole).unwrap();
        encode_frame(&[7u8; 1200], &mut whole).unwrap();
        for cut in 0..whole.len() {
            let mut buf = BytesMut::from(&whole[..cut]);
            let mut got = Vec::new();
            while let Some(p) = decode_frame(&mut buf) {
                got.push(p.to_vec());
            }
            buf.extend_from_slice(&whole[cut..]);
            while let Some(p) = decode_frame(&mut buf) {
                got.push(p.to_vec());
            }
            assert_eq!(got, vec![b"hello".to_vec(), vec![7u8; 1200]], "cut {cut}");
            assert!(buf.is_empty());
        }
        assert!(encode_frame(&vec![0u8; 70_000], &mut BytesMut::new()).is_err());
    }

    /// A binding request as Chrome sends it (RFC 5769 §2.1's sample request).
    const RFC5769_REQUEST: &[u8] = &[
        0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
        0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74,
        0x65, 0x73, 0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e,
        0x00, 0x01, 0xff, 0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36,
        0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20,
        0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e,
        0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49, 0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5,
        0x7a, 0x3b, 0xcf,
    ];

    #[test]
    fn the_username_of_rfc5769s_sample_request() {
        assert_eq!(stun_username(RFC5769_REQUEST), Some("evtj:h6vY"));
        assert_eq!(receiver_ufrag(RFC5769_REQUEST), Some("evtj"));
        // RTP, DTLS and truncated STUN are not STUN with a username.
        assert_eq!(stun_username(&[0x80; 40]), None);
        assert_eq!(stun_username(&[22, 254, 253, 0, 0]), None);
        assert_eq!(stun_username(&RFC5769_REQUEST[..40]), None);
    }
}
