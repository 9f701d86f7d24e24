//! What `POST /v1/faces` takes, and when an upload is worth repeating.
//!
//! The one retry rule: a video server answers `503 face_loading` while its face models are
//! on disk and loading; that passes by itself within seconds, so the upload is repeated
//! every [`RETRY_PAUSE`] for up to [`LOAD_WAIT`]. Every other refusal is returned at once,
//! `503 face_unavailable` included: models that are missing or broken do not come by
//! waiting, and the person should read the server's message (how to get them) now.

use crate::error::ClientError;
use std::time::Duration;
use studio_proto::api::error_code;

/// How long an upload waits for a loading face engine before giving up.
pub const LOAD_WAIT: Duration = Duration::from_secs(120);
/// Pause between two tries while the engine loads.
pub const RETRY_PAUSE: Duration = Duration::from_millis(250);

/// An image file's bytes and their type, checked before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaceImage {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
}

impl FaceImage {
    /// A JPEG, PNG or WebP image (known by its first bytes); `None` for anything else.
    pub fn from_bytes(bytes: Vec<u8>) -> Option<FaceImage> {
        let content_type = image_type(&bytes)?;
        Some(FaceImage {
            bytes,
            content_type,
        })
    }
}

/// The image's MIME type from its first bytes.
fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// Whether this refusal passes by itself (the engine is loading), so the upload is repeated.
pub fn worth_retrying(error: &ClientError) -> bool {
    matches!(
        error,
        ClientError::Http { status: 503, code: Some(code), .. } if code == error_code::FACE_LOADING
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_jpeg_png_and_webp_images_are_taken() {
        let types = |b: &[u8]| FaceImage::from_bytes(b.to_vec()).map(|i| i.content_type);
        assert_eq!(types(&[0xff, 0xd8, 0xff, 0xe0]), Some("image/jpeg"));
        assert_eq!(types(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(types(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(types(b"GIF89a"), None);
        assert_eq!(types(b""), None);
    }

    #[test]
    fn only_a_loading_engine_is_waited_for() {
        let refusal = |status: u16, code: &str| ClientError::Http {
            url: "http://s/v1/faces".into(),
            status,
            code: Some(code.into()),
            message: "m".into(),
        };
        assert!(worth_retrying(&refusal(503, error_code::FACE_LOADING)));
        assert!(!worth_retrying(&refusal(503, error_code::FACE_UNAVAILABLE)));
        assert!(!worth_retrying(&refusal(422, "no_face")));
        assert!(!worth_retrying(&ClientError::Http {
            url: "http://s/v1/faces".into(),
            status: 503,
            code: None,
            message: "a proxy's 503".into(),
        }));
    }
}
