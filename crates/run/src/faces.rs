//! The target face of a run (`studio run --face PHOTO`): read once, uploaded to each video
//! server the run connects to (a restarted server has forgotten it), and chosen live as soon
//! as the server answers, so frames flow unchanged until then instead of stalling.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use studio_client::{FaceImage, ServerClient};
use studio_proto::Role;
use studio_proto::control::Control;

use crate::controls::LiveControls;

/// A photo of the face to wear.
#[derive(Debug, Clone)]
pub struct FacePhoto {
    pub path: PathBuf,
    image: FaceImage,
}

impl FacePhoto {
    /// Read a JPEG, PNG or WebP file; anything else is refused before the run starts.
    pub fn load(path: &Path) -> anyhow::Result<FacePhoto> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("reading the face photo {}", path.display()))?;
        let image = FaceImage::from_bytes(bytes)
            .with_context(|| format!("{} is not a JPEG, PNG or WebP image", path.display()))?;
        Ok(FacePhoto {
            path: path.to_path_buf(),
            image,
        })
    }
}

/// Upload `photo` to the video server behind `client` and choose it on the run's video path.
/// The upload waits while the server's face engine loads (`studio_client::faces`); any other
/// refusal (no face in the photo, too large, no face models) is returned with the server's
/// message.
pub async fn wear(
    client: &ServerClient,
    photo: &FacePhoto,
    controls: &Arc<LiveControls>,
) -> anyhow::Result<String> {
    let added = client
        .upload_face(&photo.image)
        .await
        .with_context(|| format!("the face in {}", photo.path.display()))?;
    if let Some(warning) = &added.warning {
        tracing::warn!("{}: {warning}", photo.path.display());
    }
    controls.set(
        Role::Video,
        Control::SetFace {
            face_id: Some(added.id.clone()),
        },
    );
    Ok(added.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_jpeg_png_and_webp_photos_are_taken() {
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
