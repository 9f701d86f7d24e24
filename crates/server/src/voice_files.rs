//! Voices from files (`POST /v1/voices`): an RVC v2 synthesizer `.onnx` is streamed into the
//! cache under its SHA-256, checked to be one the voice engine runs, and offered at once (not
//! ready). The shared models it needs (ContentVec, and RMVPE when asked for) are fetched in
//! the background with their progress on status; once they are there the voice is loaded
//! once, so the list shows what a block costs on this server before anyone picks it.

use crate::error::ApiError;
use crate::registry::Registry;
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as AxumPath, Query, State};
use axum::http::StatusCode;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use studio_models::ModelManager;
use studio_proto::Role;
use studio_proto::api::{VoiceAdded, VoiceFilePitch, VoiceFileQuery, error_code};
use studio_proto::config::{CONTENTVEC_MODEL_ID, RMVPE_MODEL_ID};
use studio_proto::voices::{NeuralVoice, PitchMethod, VoiceConfig, VoiceKind};
use tokio::io::AsyncWriteExt;

/// Longest voice name kept, in characters.
const MAX_NAME_CHARS: usize = 80;

/// A voice file may take as long as it needs while it keeps coming at this rate on average
/// (measured from [`RATE_GRACE`] on), and no gap between its pieces is longer than
/// [`STALL_LIMIT`]: a slow uplink gets there, a trickle does not hold the server.
const MIN_BYTES_PER_S: u64 = 32 * 1024;
const RATE_GRACE: std::time::Duration = std::time::Duration::from_secs(10);
const STALL_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Whether `path` is one of the voice-file uploads (they set their own pace, not the
/// request deadline).
pub fn is_upload(path: &str) -> bool {
    path == "/v1/voices"
        || path
            .strip_prefix("/v1/voices/")
            .is_some_and(|rest| rest.ends_with("/index"))
}

/// Whether `received` bytes after `elapsed` is slower than the upload rule allows.
fn too_slow(received: u64, elapsed: std::time::Duration) -> bool {
    if elapsed < RATE_GRACE {
        return false;
    }
    let expected = MIN_BYTES_PER_S.saturating_mul(elapsed.as_secs());
    received < expected
}

/// `POST /v1/voices?name=…&pitch=yin|rmvpe`, the `.onnx` file as the body: `201` with the
/// voice's id and its entry.
pub async fn add_route(
    State(registry): State<Arc<Registry>>,
    query: Result<Query<VoiceFileQuery>, QueryRejection>,
    body: Body,
) -> Result<(StatusCode, Json<VoiceAdded>), ApiError> {
    if registry.role != Role::Audio {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "voices are served by the audio server",
        ));
    }
    let Query(query) = query.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!(
                "{}: expected ?name=<voice name>[&pitch=yin|rmvpe]",
                e.body_text()
            ),
        )
    })?;
    let name = voice_name(&query.name)?;
    let needed = shared_models(query.pitch);
    let manager = manager_for(&registry, &needed)?;
    let folder = manager.cache_root().join("voices");
    let (file, sha) = receive(body, &folder, registry.limits.voice_file_bytes, "onnx").await?;
    let checked = file.clone();
    let summary =
        tokio::task::spawn_blocking(move || studio_voice::neural::inspect_synthesizer(&checked))
            .await
            .map_err(|e| internal(format!("checking the voice file: {e}")))?;
    let summary = match summary {
        Ok(summary) => summary,
        Err(reason) => {
            // Nothing of a refused file stays behind.
            let _ = tokio::fs::remove_file(&file).await;
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                error_code::VOICE_INVALID,
                format!("this is not an RVC v2 voice the studio can use: {reason}"),
            ));
        }
    };
    let path_of = |id: &str| {
        manager
            .path(id)
            .map(|p| p.display().to_string())
            .map_err(|e| internal(e.to_string()))
    };
    let pitch = match query.pitch {
        VoiceFilePitch::Yin => PitchMethod::Yin,
        VoiceFilePitch::Rmvpe => PitchMethod::Rmvpe(path_of(RMVPE_MODEL_ID)?),
    };
    let mut voice = NeuralVoice::from_files(
        file.display().to_string(),
        path_of(CONTENTVEC_MODEL_ID)?,
        pitch,
    );
    voice.sample_rate = Some(summary.sample_rate);
    let missing: Vec<String> = needed
        .iter()
        .filter(|id| manager.path(id).map_or(true, |p| !p.is_file()))
        .map(|id| (*id).to_string())
        .collect();
    // The same file is the same voice, however often it is sent.
    let id = format!("file-{}", &sha[..12]);
    let catalog = registry.engines.catalog();
    catalog.add(
        &id,
        VoiceConfig {
            name,
            kind: VoiceKind::Neural(voice),
        },
        missing.clone(),
    );
    tracing::info!(voice = %id, format = summary.format.name(), rate = summary.sample_rate, waiting = ?missing, "voice added from a file");
    // The entry as it is now, before any fetch can finish.
    let entry = catalog
        .entries()
        .into_iter()
        .find(|e| e.id == id)
        .ok_or_else(|| internal(format!("voice {id} vanished from the list")))?;
    let fetches: Vec<_> = missing
        .iter()
        .map(|model| crate::models::fetch_in_background(&registry, &manager, model))
        .collect();
    tokio::spawn(load_when_ready(registry.clone(), id.clone(), fetches));
    registry.changed();
    Ok((StatusCode::CREATED, Json(VoiceAdded { id, entry })))
}

/// `POST /v1/voices/{id}/index`, an RVC feature index (faiss `.index`) as the body: the
/// voice added from a file as `id` retrieves its features from it from now on (sessions that
/// wear it take it when they choose it again). `200` with the voice's entry.
pub async fn add_index_route(
    State(registry): State<Arc<Registry>>,
    AxumPath(id): AxumPath<String>,
    body: Body,
) -> Result<Json<VoiceAdded>, ApiError> {
    let catalog = registry.engines.catalog();
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no voice {id:?} added from a file on this server"),
        )
    };
    if registry.role != Role::Audio || !catalog.is_added(&id) {
        return Err(not_found());
    }
    let manager = manager_for(&registry, &[])?;
    let folder = manager.cache_root().join("voices");
    let (file, _) = receive(body, &folder, registry.limits.voice_file_bytes, "index").await?;
    let checked = file.clone();
    let dim = tokio::task::spawn_blocking(move || {
        studio_voice::index::FeatureIndex::open(&checked).map(|index| index.dim())
    })
    .await
    .map_err(|e| internal(format!("checking the index file: {e}")))?;
    let refused = match dim {
        Ok(768) => None,
        Ok(dim) => Some(format!(
            "its vectors have {dim} values; an RVC v2 voice's have 768"
        )),
        Err(e) => Some(e.to_string()),
    };
    if let Some(reason) = refused {
        let _ = tokio::fs::remove_file(&file).await;
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            error_code::VOICE_INVALID,
            format!("this is not an RVC v2 feature index the studio can use: {reason}"),
        ));
    }
    let path = file.display().to_string();
    let updated = catalog.update_added(&id, |voice| {
        if let VoiceKind::Neural(neural) = &mut voice.kind {
            neural.index = Some(path);
        }
    });
    if !updated {
        return Err(not_found());
    }
    tracing::info!(voice = %id, "voice index added");
    let entry = catalog
        .entries()
        .into_iter()
        .find(|e| e.id == id)
        .ok_or_else(not_found)?;
    if entry.ready {
        // Loaded again with its index, so the cost per block shown includes the search.
        tokio::spawn(load_when_ready(registry.clone(), id.clone(), Vec::new()));
    }
    registry.changed();
    Ok(Json(VoiceAdded { id, entry }))
}

/// Configured neural voices may name a shared model by its id instead of a path
/// (`"embedder": "contentvec_768"`, `"pitch_model": "rmvpe"`): each such voice is offered with
/// the cached file's path, waits for the models that are missing, which are fetched in the
/// background, and is loaded once when they are there. Call once the model manager started.
pub fn resolve_configured(registry: &Arc<Registry>, config: &studio_proto::config::Config) {
    let Some(manager) = registry.model_manager().cloned() else {
        return;
    };
    let catalog = registry.engines.catalog();
    for (id, voice) in &config.voices {
        let VoiceKind::Neural(neural) = &voice.kind else {
            continue;
        };
        let mut resolved = neural.clone();
        let mut named = Vec::new();
        let mut by_id = |value: &mut String| {
            if manager.entries().contains_key(value.as_str())
                && let Ok(path) = manager.path(value)
            {
                named.push(std::mem::replace(value, path.display().to_string()));
            }
        };
        by_id(&mut resolved.embedder);
        if let PitchMethod::Rmvpe(path) = &mut resolved.pitch {
            by_id(path);
        }
        if named.is_empty() {
            continue;
        }
        let missing: Vec<String> = named
            .into_iter()
            .filter(|model| manager.path(model).map_or(true, |p| !p.is_file()))
            .collect();
        catalog.add(
            id,
            VoiceConfig {
                name: voice.name.clone(),
                kind: VoiceKind::Neural(resolved),
            },
            missing.clone(),
        );
        let fetches: Vec<_> = missing
            .iter()
            .map(|model| crate::models::fetch_in_background(registry, &manager, model))
            .collect();
        tokio::spawn(load_when_ready(registry.clone(), id.clone(), fetches));
    }
}

/// The shared models a voice from a file needs for this pitch method.
fn shared_models(pitch: VoiceFilePitch) -> Vec<&'static str> {
    match pitch {
        VoiceFilePitch::Yin => vec![CONTENTVEC_MODEL_ID],
        VoiceFilePitch::Rmvpe => vec![CONTENTVEC_MODEL_ID, RMVPE_MODEL_ID],
    }
}

fn voice_name(raw: &str) -> Result<String, ApiError> {
    let name: String = raw
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    if name.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the voice needs a name (?name=…)",
        ));
    }
    Ok(name)
}

/// The model manager, when it can fetch every model in `needed`.
fn manager_for(registry: &Registry, needed: &[&str]) -> Result<ModelManager, ApiError> {
    let unavailable = |why: String| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            error_code::VOICE_FILES_UNAVAILABLE,
            why,
        )
    };
    let Some(manager) = registry.model_manager() else {
        return Err(unavailable(format!(
            "this server has no model cache to keep voice files in (set {} or servers.cache_dir)",
            studio_models::cache::CACHE_ENV
        )));
    };
    if let Some(id) = needed
        .iter()
        .find(|id| !manager.entries().contains_key(**id))
    {
        return Err(unavailable(format!(
            "voices from files need the shared model {id}, and this server's configuration has no models.{id} entry"
        )));
    }
    Ok(manager.clone())
}

fn internal(message: String) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
}

/// Tells concurrent uploads' partial files apart.
static UPLOADS: AtomicU64 = AtomicU64::new(0);

/// Streams `body` into `folder` as `<sha256>.<extension>` (through a `.part` file, removed on
/// any failure), refusing more than `limit` bytes.
async fn receive(
    body: Body,
    folder: &Path,
    limit: u64,
    extension: &str,
) -> Result<(PathBuf, String), ApiError> {
    tokio::fs::create_dir_all(folder).await.map_err(|e| {
        internal(format!(
            "cannot create the voice folder {}: {e}",
            folder.display()
        ))
    })?;
    let partial = folder.join(format!(
        "upload-{}-{}.part",
        std::process::id(),
        UPLOADS.fetch_add(1, Ordering::Relaxed)
    ));
    let result = write_body(body, &partial, limit).await;
    let sha = match result {
        Ok(sha) => sha,
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(e);
        }
    };
    let file = folder.join(format!("{sha}.{extension}"));
    if let Err(e) = tokio::fs::rename(&partial, &file).await {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(internal(format!("cannot keep the voice file: {e}")));
    }
    Ok((file, sha))
}

async fn write_body(body: Body, partial: &Path, limit: u64) -> Result<String, ApiError> {
    let mut out = tokio::fs::File::create(partial)
        .await
        .map_err(|e| internal(format!("cannot write {}: {e}", partial.display())))?;
    let mut hasher = Sha256::new();
    let mut received: u64 = 0;
    let mut stream = body.into_data_stream();
    let started = std::time::Instant::now();
    let too_slow_error = || {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the voice file is arriving slower than {} KiB/s; try again on a faster connection",
                MIN_BYTES_PER_S / 1024
            ),
        )
    };
    loop {
        let Ok(next) = tokio::time::timeout(STALL_LIMIT, stream.next()).await else {
            return Err(too_slow_error());
        };
        let Some(chunk) = next else {
            break;
        };
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("the voice file could not be read: {e}"),
            )
        })?;
        received = received.saturating_add(chunk.len() as u64);
        if too_slow(received, started.elapsed()) {
            return Err(too_slow_error());
        }
        if received > limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "voice_too_large",
                format!(
                    "the voice file is over the limit of {limit} bytes (limits.voice_file_bytes)"
                ),
            ));
        }
        hasher.update(&chunk);
        out.write_all(&chunk)
            .await
            .map_err(|e| internal(format!("cannot write the voice file: {e}")))?;
    }
    if received == 0 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the body is empty: send the voice's .onnx file",
        ));
    }
    out.flush()
        .await
        .map_err(|e| internal(format!("cannot write the voice file: {e}")))?;
    Ok(studio_models::cache::hex(&hasher.finalize()))
}

/// Once every shared model the voice waits for is there, loads the voice once (so a broken
/// voice says so in the list, and the list shows what one block costs here).
async fn load_when_ready(
    registry: Arc<Registry>,
    id: String,
    fetches: Vec<tokio::task::JoinHandle<bool>>,
) {
    for fetch in fetches {
        if !matches!(fetch.await, Ok(true)) {
            // The model's failure is on its status; the voice stays waiting for it.
            registry.changed();
            return;
        }
    }
    let catalog = registry.engines.catalog().clone();
    let loaded = tokio::task::spawn_blocking(move || catalog.build(&id).map(|_| id)).await;
    match loaded {
        Ok(Ok(id)) => tracing::info!(voice = %id, "voice loaded"),
        Ok(Err(e)) => tracing::error!("voice from a file does not load: {e}"),
        Err(e) => tracing::error!("loading a voice from a file: {e}"),
    }
    registry.changed();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn uploads_are_held_to_a_rate_not_a_deadline() {
        // Slow at first is fine; then the average must keep up.
        assert!(!too_slow(0, Duration::from_secs(9)));
        assert!(too_slow(0, Duration::from_secs(10)));
        // 110 MB at 40 KiB/s, about 47 minutes: still coming, still taken.
        assert!(!too_slow(40 * 1024 * 2800, Duration::from_secs(2800)));
        assert!(too_slow(20 * 1024 * 2800, Duration::from_secs(2800)));
        assert!(is_upload("/v1/voices") && is_upload("/v1/voices/file-0123/index"));
        assert!(!is_upload("/v1/voicesx") && !is_upload("/v1/voices/file-0123"));
    }
}
