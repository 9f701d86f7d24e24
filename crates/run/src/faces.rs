//! The target face of a run (`studio run --face PHOTO`): read once, uploaded to each video
//! server the run connects to (a restarted server has forgotten it), and chosen live as soon
//! as the server answers, so frames flow unchanged until then instead of stalling.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use studio_proto::Role;
use studio_proto::control::Control;
use studio_transport::{ServerClient, TransportError};

use crate::controls::LiveControls;

/// How long a server may take to load its face models before the run gives up on the face.
const LOAD_WAIT: Duration = Duration::from_secs(120);
const RETRY_PAUSE: Duration = Duration::from_millis(250);

/// A photo of the face to wear.
#[derive(Debug, Clone)]
pub struct FacePhoto {
    pub path: PathBuf,
    bytes: Vec<u8>,
    content_type: &'static str,
}

impl FacePhoto {
    /// Read a JPEG, PNG or WebP file; anything else is refused before the run starts.
    pub fn load(path: &Path) -> anyhow::Result<FacePhoto> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("reading the face photo {}", path.display()))?;
        let content_type = image_type(&bytes)
            .with_context(|| format!("{} is not a JPEG, PNG or WebP image", path.display()))?;
        Ok(FacePhoto {
            path: path.to_path_buf(),
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

/// Upload `photo` to the video server behind `client` and choose it on the run's video path.
/// Waits while the server is still loading its face models (503); any other refusal (no face
/// in the photo, too large) is returned as it is, with the server's message.
pub async fn wear(
    client: &ServerClient,
    photo: &FacePhoto,
    controls: &Arc<LiveControls>,
) -> anyhow::Result<String> {
    let deadline = tokio::time::Instant::now() + LOAD_WAIT;
    let answer = loop {
        match client
            .upload_face(photo.bytes.clone(), photo.content_type)
            .await
        {
            Ok(answer) => break answer,
            Err(TransportError::Http { status: 503, .. })
                if tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            Err(e) => {
                return Err(e).with_context(|| format!("the face in {}", photo.path.display()));
            }
        }
    };
    let id = answer["id"]
        .as_str()
        .context("the video server's answer has no face id")?
        .to_string();
    if let Some(warning) = answer["warning"].as_str() {
        tracing::warn!("{}: {warning}", photo.path.display());
    }
    controls.set(
        Role::Video,
        Control::SetFace {
            face_id: Some(id.clone()),
        },
    );
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_jpeg_png_and_webp_photos_are_taken() {
        assert_eq!(image_type(&[0xff, 0xd8, 0xff, 0xe0]), Some("image/jpeg"));
        assert_eq!(image_type(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(image_type(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(image_type(b"GIF89a"), None);
        assert_eq!(image_type(b""), None);
        let dir = tempfile::tempdir().unwrap();
        let gif = dir.path().join("me.gif");
        std::fs::write(&gif, b"GIF89a....").unwrap();
        let err = FacePhoto::load(&gif).unwrap_err().to_string();
        assert!(err.contains("not a JPEG, PNG or WebP"), "{err}");
        let missing = FacePhoto::load(&dir.path().join("none.png"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("reading the face photo"), "{missing}");
    }
}
