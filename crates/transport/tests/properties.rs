//! Every parser fed from the network, on any input: `Ok` or a clear error, never a panic, and
//! never a buffer that grows past its bound.

use bytes::BytesMut;
use proptest::prelude::*;
use studio_transport::webrtc::framing::{
    decode_frame, encode_frame, peek_frame, receiver_ufrag, stun_username,
};
use studio_transport::wire::{self, MAX_HELLO_BYTES, MAX_MESSAGE_BYTES, Message};

/// A frame header announcing `len` bytes with this tag, then `rest`.
fn framed(tag: u8, len: u32, rest: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&len.to_le_bytes());
    v.extend_from_slice(rest);
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn raw_frames_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let mut buf = BytesMut::from(&bytes[..]);
        // Each call takes a whole message, asks for more, or refuses: it never loops forever.
        for _ in 0..bytes.len() + 1 {
            let before = buf.len();
            match wire::decode(&mut buf) {
                Ok(Some(_)) => prop_assert!(buf.len() < before),
                Ok(None) | Err(_) => break,
            }
        }
    }

    #[test]
    fn frames_with_any_header_never_panic(
        tag in 0u8..8,
        len in any::<u32>(),
        rest in proptest::collection::vec(any::<u8>(), 0..512),
        width in any::<u32>(),
        height in any::<u32>(),
        count in any::<u32>(),
    ) {
        let mut payload = Vec::new();
        payload.extend_from_slice(&7u64.to_le_bytes());
        payload.extend_from_slice(&9u64.to_le_bytes());
        if tag == 2 {
            payload.extend_from_slice(&width.to_le_bytes());
            payload.extend_from_slice(&height.to_le_bytes());
        } else {
            payload.extend_from_slice(&48_000u32.to_le_bytes());
            payload.extend_from_slice(&count.to_le_bytes());
        }
        payload.extend_from_slice(&rest);
        // Announced length both honest and arbitrary.
        for announced in [payload.len() as u32, len] {
            let mut buf = BytesMut::from(&framed(tag, announced, &payload)[..]);
            let result = wire::decode(&mut buf);
            if announced as usize > MAX_MESSAGE_BYTES {
                prop_assert!(result.is_err());
            }
            if let Err(e) = result {
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }

    #[test]
    fn the_first_message_is_a_small_key_or_refused(
        tag in any::<u8>(),
        len in any::<u32>(),
        rest in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut buf = BytesMut::from(&framed(tag, len, &rest)[..]);
        match wire::decode_hello(&mut buf) {
            Ok(Some(key)) => {
                prop_assert_eq!(tag, 1);
                prop_assert!(key.len() <= MAX_HELLO_BYTES);
            }
            // Waiting for more is allowed only for a hello that fits.
            Ok(None) => prop_assert!(tag == 1 && len as usize <= MAX_HELLO_BYTES),
            Err(_) => prop_assert!(
                tag != 1
                    || len as usize > MAX_HELLO_BYTES
                    || rest
                        .get(..len as usize)
                        .is_some_and(|key| std::str::from_utf8(key).is_err())
            ),
        }
    }

    #[test]
    fn encoded_messages_round_trip(seq in any::<u64>(), key in "[ -~]{0,64}") {
        let mut buf = BytesMut::new();
        let sent = Message::Hello { key: format!("{seq}{key}") };
        wire::encode(&sent, &mut buf);
        prop_assert_eq!(wire::decode(&mut buf).ok().flatten(), Some(sent));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn rfc4571_framing_and_stun_routing_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let peeked = peek_frame(&bytes).map(<[u8]>::to_vec);
        let mut buf = BytesMut::from(&bytes[..]);
        let taken = decode_frame(&mut buf).map(|f| f.to_vec());
        prop_assert_eq!(&peeked, &taken, "peek and take agree");
        let _ = stun_username(&bytes);
        let _ = receiver_ufrag(&bytes);
        if let Some(packet) = taken {
            let _ = receiver_ufrag(&packet);
        }
    }

    #[test]
    fn stun_shaped_packets_with_any_attributes_never_panic(
        body_len in any::<u16>(),
        attrs in proptest::collection::vec((any::<u16>(), any::<u16>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..6),
    ) {
        let mut packet = vec![0x00, 0x01];
        packet.extend_from_slice(&body_len.to_be_bytes());
        packet.extend_from_slice(&0x2112_A442u32.to_be_bytes());
        packet.extend_from_slice(&[0u8; 12]);
        for (kind, len, value) in &attrs {
            packet.extend_from_slice(&kind.to_be_bytes());
            packet.extend_from_slice(&len.to_be_bytes());
            packet.extend_from_slice(value);
        }
        let _ = stun_username(&packet);
        let mut framed = BytesMut::new();
        if encode_frame(&packet, &mut framed).is_ok() {
            let frame = decode_frame(&mut framed);
            prop_assert_eq!(frame.as_deref(), Some(&packet[..]));
        }
    }

    #[test]
    fn sdp_offers_parse_or_fail_cleanly(text in "\\PC{0,400}") {
        let _ = str0m::change::SdpOffer::from_sdp_string(&text);
    }

    #[test]
    fn sdp_shaped_offers_parse_or_fail_cleanly(
        lines in proptest::collection::vec(
            prop_oneof![
                Just("v=0".to_string()),
                Just("o=- 1 2 IN IP4 127.0.0.1".to_string()),
                Just("s=-".to_string()),
                Just("t=0 0".to_string()),
                "m=(audio|video|application) [0-9]{1,6} [A-Z/]{1,12} [0-9 ]{0,20}",
                "a=[a-z-]{1,12}(:[ -~]{0,40})?",
                "c=IN IP[46] [0-9.:]{0,20}",
                "[ -~]{0,60}",
            ],
            0..24,
        ),
    ) {
        let _ = str0m::change::SdpOffer::from_sdp_string(&lines.join("\r\n"));
    }
}
