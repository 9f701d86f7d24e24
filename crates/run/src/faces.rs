//! The target face of a run (`studio run --face PHOTO`): read once, uploaded to each video
//! server the run connects to (a restarted server has forgotten it), and chosen live as soon
//! as the server answers, so frames flow unchanged until then instead of stalling.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use studio_client::{FaceImage, ServerClient};
use studio_proto::Role;
use studio_proto::api::{ModelState, ModelStatus, error_code};
use studio_proto::config::FACE_MODEL_IDS;
use studio_proto::control::{Control, PersonWears};

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

/// How long a run waits for the server to download and load the face models.
pub const FETCH_WAIT: Duration = Duration::from_secs(60 * 60);
/// How often the server's progress is looked at (and told) while it fetches.
const FETCH_POLL: Duration = Duration::from_secs(1);
const FETCH_TELL_EVERY: Duration = Duration::from_secs(5);

/// Upload `photo` to the video server behind `client` and choose it on the run's video path.
/// The upload waits while the server's face engine loads (`studio_client::faces`). When the
/// server has no face models and `fetch_models` is set, it is asked to download them
/// ([`fetch_on_server`]) and the upload follows once they are loaded. Any other refusal (no
/// face in the photo, too large) is returned with the server's message. With the occlusion
/// or region mask on and `fetch_models` set, the server is also asked for that mask's model,
/// which it takes up whenever the download ends (the swap goes on meanwhile, the face pasted
/// whole).
pub async fn wear(
    client: &ServerClient,
    photo: &FacePhoto,
    controls: &Arc<LiveControls>,
    fetch_models: bool,
) -> anyhow::Result<String> {
    let id = upload(client, photo, controls, fetch_models).await?;
    controls.set(
        Role::Video,
        Control::SetFace {
            face_id: Some(id.clone()),
        },
    );
    Ok(id)
}

/// Face mapping: upload each pair's photos (the person, the face they wear) to the video
/// server behind `client`, as [`wear`] uploads its photo, and set the mapping on the run's
/// video path. The number of pairs mapped.
pub async fn map_people(
    client: &ServerClient,
    people: &[(Arc<FacePhoto>, Arc<FacePhoto>)],
    controls: &Arc<LiveControls>,
    fetch_models: bool,
) -> anyhow::Result<usize> {
    let mut pairs = Vec::with_capacity(people.len());
    for (person, wears) in people {
        pairs.push(PersonWears {
            person: upload(client, person, controls, fetch_models).await?,
            wears: upload(client, wears, controls, fetch_models).await?,
        });
    }
    let n = pairs.len();
    controls.set(Role::Video, Control::MapPeople { pairs });
    Ok(n)
}

/// Upload `photo` (fetching the face models first when the server has none and
/// `fetch_models` is set, and the models of the masks turned on) and give back its face id.
async fn upload(
    client: &ServerClient,
    photo: &FacePhoto,
    controls: &Arc<LiveControls>,
    fetch_models: bool,
) -> anyhow::Result<String> {
    let added = match client.upload_face(&photo.image).await {
        Err(e) if fetch_models && e.code() == Some(error_code::FACE_MODELS_MISSING) => {
            fetch_on_server(client).await?;
            // With every model ready the server answers `face_loading` until its engine has
            // loaded them, which the upload waits through by itself.
            client.upload_face(&photo.image).await
        }
        answer => answer,
    }
    .with_context(|| format!("the face in {}", photo.path.display()))?;
    if let Some(warning) = &added.warning {
        tracing::warn!("{}: {warning}", photo.path.display());
    }
    // The masks turned on need their optional models (the occlusion model, the face parser).
    if fetch_models {
        for id in controls
            .current(Role::Video)
            .iter()
            .filter_map(Control::needs_model)
        {
            match client.fetch_model(id).await {
                Ok(_) => tracing::info!("the video server has or fetches the model {id}"),
                Err(e) => tracing::warn!(
                    "a face mask waits: the video server cannot fetch {id}: {}",
                    e.plain()
                ),
            }
        }
    }
    Ok(added.id)
}

/// Asks the video server behind `client` to download the face models (`POST /v1/models/{id}`)
/// and waits until its face engine has loaded them, telling their progress every few seconds.
/// A model that fails (a checksum that does not match, every mirror down) ends the wait with
/// the server's reason.
pub async fn fetch_on_server(client: &ServerClient) -> anyhow::Result<()> {
    for id in FACE_MODEL_IDS {
        client
            .fetch_model(id)
            .await
            .with_context(|| format!("asking the video server to fetch face model {id}"))?;
    }
    tracing::info!("the video server is fetching the face models");
    let started = Instant::now();
    let mut told = Instant::now();
    loop {
        let status = client.status().await.context("the video server's status")?;
        let face_models: Vec<&ModelStatus> = status
            .models
            .iter()
            .filter(|m| FACE_MODEL_IDS.contains(&m.id.as_str()))
            .collect();
        if let Some(failed) = face_models.iter().find(|m| m.state == ModelState::Failed) {
            anyhow::bail!(
                "face model {} could not be fetched: {}",
                failed.id,
                failed.error.as_deref().unwrap_or("no reason given")
            );
        }
        let ready = face_models.len() == FACE_MODEL_IDS.len()
            && face_models.iter().all(|m| m.state == ModelState::Ready);
        // Ready files are loaded by the server's face engine; `face_loading` then makes the
        // upload wait for it.
        if ready {
            return Ok(());
        }
        if told.elapsed() >= FETCH_TELL_EVERY {
            tracing::info!("face models: {}", progress_line(&face_models));
            told = Instant::now();
        }
        if started.elapsed() >= FETCH_WAIT {
            anyhow::bail!(
                "the face models were not ready after {} minutes: {}",
                FETCH_WAIT.as_secs() / 60,
                progress_line(&face_models)
            );
        }
        tokio::time::sleep(FETCH_POLL).await;
    }
}

/// `det_10g 100%, w600k_r50 41%, inswapper_128 pending`.
fn progress_line(models: &[&ModelStatus]) -> String {
    models
        .iter()
        .map(|m| match (m.state, m.bytes_total) {
            (ModelState::Downloading, Some(total)) if total > 0 => {
                format!("{} {}%", m.id, m.bytes_done.saturating_mul(100) / total)
            }
            (state, _) => format!("{} {}", m.id, state.as_str()),
        })
        .collect::<Vec<_>>()
        .join(", ")
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
