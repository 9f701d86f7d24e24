//! Uploaded images and `Authorization` headers, on any input: a picture, or a JSON error with
//! its status, never a panic; sizes are checked from the header before anything is decoded.

use proptest::prelude::*;
use studio_server::api::bearer_token;
use studio_server::face::decode_image;

const MAX_PIXELS: u64 = 1_000_000;

/// A PNG signature and IHDR claiming `width`×`height` (CRC left wrong on purpose sometimes).
fn png_header(width: u32, height: u32, tail: &[u8]) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.extend_from_slice(&13u32.to_be_bytes());
    v.extend_from_slice(b"IHDR");
    v.extend_from_slice(&width.to_be_bytes());
    v.extend_from_slice(&height.to_be_bytes());
    v.extend_from_slice(&[8, 2, 0, 0, 0]);
    v.extend_from_slice(tail);
    v
}

/// A JPEG start and SOF0 claiming `width`×`height`.
fn jpeg_header(width: u16, height: u16, tail: &[u8]) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08];
    v.extend_from_slice(&height.to_be_bytes());
    v.extend_from_slice(&width.to_be_bytes());
    v.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    v.extend_from_slice(tail);
    v
}

fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    match decode_image(bytes, MAX_PIXELS) {
        Ok(image) => {
            prop_assert!(u64::from(image.width()) * u64::from(image.height()) <= MAX_PIXELS);
        }
        Err(e) => {
            let response = axum::response::IntoResponse::into_response(e);
            let status = response.status().as_u16();
            prop_assert!(matches!(status, 400 | 413 | 415), "status {status}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_bytes_are_an_image_or_a_clear_refusal(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check(&bytes)?;
    }

    #[test]
    fn png_headers_with_any_size_are_refused_before_decoding(
        width in any::<u32>(), height in any::<u32>(),
        tail in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        check(&png_header(width, height, &tail))?;
    }

    #[test]
    fn jpeg_headers_with_any_size_are_refused_before_decoding(
        width in any::<u16>(), height in any::<u16>(),
        tail in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        check(&jpeg_header(width, height, &tail))?;
    }

    #[test]
    fn authorization_values_give_a_token_or_nothing(value in "\\PC{0,80}") {
        if let Some(token) = bearer_token(&value) {
            prop_assert!(!token.is_empty());
            prop_assert_eq!(token, token.trim());
        }
    }
}

#[test]
fn the_bearer_scheme_is_case_insensitive_and_the_token_trimmed() {
    assert_eq!(bearer_token("Bearer abc"), Some("abc"));
    assert_eq!(bearer_token("bearer abc"), Some("abc"));
    assert_eq!(bearer_token("BEARER  abc \t"), Some("abc"));
    assert_eq!(bearer_token("Basic abc"), None);
    assert_eq!(bearer_token("Bearer"), None);
    assert_eq!(bearer_token("Bearer   "), None);
}
