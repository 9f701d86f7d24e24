//! The video server's face engine: loaded once its three models are on disk (fetched by the
//! model manager, or a folder named by `STUDIO_FACE_MODELS`), shared by every session, and
//! fed target faces through `POST /v1/faces`. The mask models (`face_masks.rs`: the occlusion
//! model and the face parser) are optional: the engine runs without them, and takes each
//! whenever it arrives (fetched with `POST /v1/models/{id}`, or found in that folder).

use crate::error::ApiError;
use crate::face_masks::MaskModel;
use crate::registry::Registry;
use axum::Json;
use axum::body::Bytes;
use axum::http::StatusCode;
use std::io::Cursor;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use studio_face::pipeline::{FaceEngine, FaceModels};
use studio_infer::ModelOptions;
use studio_models::Cached;
use studio_proto::Role;
use studio_proto::api::{FaceAdded, error_code};
use studio_proto::config::Config;

pub use studio_proto::config::FACE_MODELS_ENV;

/// The model ids (config `models.<id>`) of the three networks, in load order.
use studio_proto::config::FACE_MODEL_IDS as MODEL_IDS;

/// Load the engine in the background once its models are on disk (video role only).
pub fn start(registry: &Arc<Registry>, config: &Config) {
    if registry.role != Role::Video {
        return;
    }
    match registry.face.limits.write() {
        Ok(mut g) => *g = Some(config.face.clone()),
        Err(p) => *p.into_inner() = Some(config.face.clone()),
    }
    let options = crate::engine::model_options(Role::Video, config);
    let detect_every = config.face.detect_every;
    let detect_ahead = config.face.detect_ahead;
    let registry = registry.clone();
    let from_env = std::env::var_os(FACE_MODELS_ENV).map(PathBuf::from);
    // Said before the server answers anything: an upload that comes while the models are
    // looked for waits for the answer instead of reading a stale state.
    registry
        .face
        .set_loading("looking for the face models".into());
    tokio::spawn(async move {
        let paths = match &from_env {
            Some(dir) => MODEL_IDS.map(|id| dir.join(format!("{id}.onnx"))),
            None => match wait_for_downloads(&registry).await {
                Some(p) => p,
                None => return,
            },
        };
        crate::models::settle_runtime(&registry).await;
        registry.face.set_loading("loading face models".into());
        // A mask model already on disk comes with the engine, so no frame is pasted without
        // it; one that comes later is taken up when it does.
        let mut mask_paths = Vec::new();
        for mask in MaskModel::ALL {
            mask_paths.push((mask, mask.on_disk(&registry, from_env.as_deref()).await));
        }
        let load_options = options.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let models = FaceModels::load(&paths[0], &paths[1], &paths[2], &load_options)?;
            let masks: Vec<_> = mask_paths
                .into_iter()
                .map(|(mask, path)| (mask, path.map(|p| mask.load(&p, &load_options))))
                .collect();
            Ok::<_, studio_face::models::ModelError>((models, masks))
        })
        .await;
        match loaded {
            Ok(Ok((models, masks))) => {
                let engine = Arc::new(FaceEngine::new(models, detect_every));
                engine.set_detect_ahead(detect_ahead);
                let mut failed = String::new();
                for (mask, loaded) in masks {
                    match loaded {
                        Some(Ok(loaded)) => loaded.give_to(&engine),
                        Some(Err(e)) => failed
                            .push_str(&format!("; the {} model failed to load: {e}", mask.mask())),
                        None if from_env.is_none() => {
                            tokio::spawn(mask.attach(
                                registry.clone(),
                                engine.clone(),
                                options.clone(),
                            ));
                        }
                        None => failed.push_str(&format!(
                            "; no {}.onnx for the {}",
                            mask.id(),
                            mask.mask()
                        )),
                    }
                }
                let state = format!(
                    "{}{failed}",
                    crate::face_masks::ready_state(&registry, &engine)
                );
                tracing::info!("face engine {state}");
                registry.face.set_state(state);
                registry.face.set_engine(engine);
            }
            Ok(Err(e)) => {
                tracing::error!("face models failed to load: {e}");
                registry
                    .face
                    .set_state(format!("face models failed to load: {e}"));
            }
            Err(e) => registry
                .face
                .set_state(format!("face model loader stopped: {e}")),
        }
        // Cleared only after the engine is in place: an upload sees one or the other.
        registry.face.finish_loading();
        follow_swapper(registry, options, from_env).await;
    });
}

/// Runs the swapper the sessions ask for (`Control::Swapper`): once its model (and the
/// converter its family needs) is on disk (the `STUDIO_FACE_MODELS` folder, or the model
/// cache once fetched with `POST /v1/models/{id}` and its SHA-256 matched), it is loaded and
/// handed to the engine; until then the engine runs the swapper it has, and its state says
/// what it waits for. A newer choice replaces one still waiting.
async fn follow_swapper(registry: Arc<Registry>, options: ModelOptions, from_env: Option<PathBuf>) {
    let Some(engine) = registry.face.engine() else {
        return;
    };
    let mut wanted = registry.face.wanted_swapper();
    let mut running = studio_proto::config::DEFAULT_SWAPPER.to_string();
    loop {
        let id = wanted.borrow_and_update().clone();
        if id != running {
            let found = tokio::select! {
                found = swapper_files(&registry, &engine, &id, from_env.as_deref()) => found,
                changed = wanted.changed() => match changed {
                    Ok(()) => continue,
                    Err(_) => return,
                },
            };
            if let Some((model, converter)) = found {
                let load_options = options.clone();
                let loaded = tokio::task::spawn_blocking(move || {
                    studio_face::models::Swapper::load_with_converter(
                        &model,
                        converter.as_deref(),
                        &load_options,
                    )
                })
                .await;
                let outcome = match loaded {
                    Ok(Ok(swapper)) => engine.set_swapper(swapper).map_err(|e| e.to_string()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match outcome {
                    Ok(()) => {
                        running = id.clone();
                        let now = engine.backends();
                        tracing::info!("swapper {id} running: {now}");
                        registry.face.set_state(format!("ready: {now}"));
                    }
                    Err(e) => {
                        tracing::error!("the swapper {id} failed to load: {e}");
                        registry.face.set_state(format!(
                            "ready: {}; the swapper {id} failed to load: {e}",
                            engine.backends()
                        ));
                    }
                }
            }
        }
        if wanted.changed().await.is_err() {
            return;
        }
    }
}

/// The swapper's file and its converter's, once both are there; `None` (said in the state)
/// when they never will be.
async fn swapper_files(
    registry: &Registry,
    engine: &FaceEngine,
    id: &str,
    from_env: Option<&std::path::Path>,
) -> Option<(PathBuf, Option<PathBuf>)> {
    let converter = match studio_proto::config::swapper_converter(id) {
        Ok(c) => c,
        Err(e) => {
            registry
                .face
                .set_state(format!("ready: {}; {e}", engine.backends()));
            return None;
        }
    };
    let ids: Vec<&str> = std::iter::once(id).chain(converter).collect();
    if let Some(dir) = from_env {
        let paths: Vec<PathBuf> = ids.iter().map(|i| dir.join(format!("{i}.onnx"))).collect();
        if let Some(gone) = paths.iter().find(|p| !p.is_file()) {
            registry.face.set_state(format!(
                "ready: {}; no {} for the swapper {id}",
                engine.backends(),
                gone.display()
            ));
            return None;
        }
        let mut paths = paths.into_iter();
        return Some((paths.next()?, paths.next()));
    }
    let manager = registry.model_manager()?;
    for i in &ids {
        if let Err(e) = manager.path(i) {
            registry.face.set_state(format!(
                "ready: {}; swapper model {i}: {e}",
                engine.backends()
            ));
            return None;
        }
    }
    let mut told = false;
    loop {
        if ids
            .iter()
            .all(|i| matches!(manager.cached(i), Ok(Cached::Present(_))))
        {
            let mut paths = Vec::with_capacity(ids.len());
            for i in &ids {
                match manager.ensure(i).await {
                    Ok(path) => paths.push(path),
                    Err(e) => {
                        registry.face.set_state(format!(
                            "ready: {}; swapper model {i}: {e}",
                            engine.backends()
                        ));
                        return None;
                    }
                }
            }
            let mut paths = paths.into_iter();
            return Some((paths.next()?, paths.next()));
        }
        if !told {
            registry.face.set_state(format!(
                "ready: {}; the swapper {id} waits for its model (`studio models fetch {}`)",
                engine.backends(),
                ids.join(" ")
            ));
            told = true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until the model manager has all three files and each matched its SHA-256; `None`
/// when it never will (no manager or no such entries). A file only present on disk is not
/// enough: the cache may be a persistent volume others can write to.
async fn wait_for_downloads(registry: &Arc<Registry>) -> Option<[PathBuf; 3]> {
    let Some(manager) = registry.model_manager() else {
        registry.face.set_waiting(format!(
            "no face models configured: add models {MODEL_IDS:?} with role video, or set {FACE_MODELS_ENV}"
        ));
        return None;
    };
    for id in MODEL_IDS {
        if let Err(e) = manager.path(id) {
            registry.face.set_waiting(format!("face model {id}: {e}"));
            return None;
        }
    }
    let mut told = false;
    loop {
        let present = MODEL_IDS
            .iter()
            .all(|id| matches!(manager.cached(id), Ok(Cached::Present(_))));
        if present {
            match verified_paths(manager).await {
                Ok(paths) => return Some(paths),
                Err(e) => {
                    tracing::warn!("face models: {e}");
                    registry.face.set_waiting(format!("face models: {e}"));
                    told = true;
                }
            }
        }
        if !told {
            registry.face.set_missing(
                "the face models are not on this server yet: fetch them with the studio's \
                 \"Fetch face models\" button or `studio run --fetch-models`, or beside the server \
                 with `studio models fetch det_10g w600k_r50 inswapper_128`"
                    .into(),
            );
            told = true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Each model's path once the manager has checked its SHA-256 (a file that does not match is
/// deleted by the check, and the wait goes on).
async fn verified_paths(
    manager: &studio_models::ModelManager,
) -> Result<[PathBuf; 3], studio_models::ModelError> {
    let mut paths: [PathBuf; 3] = Default::default();
    for (path, id) in paths.iter_mut().zip(MODEL_IDS) {
        *path = manager.ensure(id).await?;
    }
    Ok(paths)
}

fn bad(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(status, code, message)
}

/// Decode an uploaded JPEG, PNG or WebP, refusing oversized images before decoding them.
pub fn decode_image(bytes: &[u8], max_pixels: u64) -> Result<studio_media::RgbImage, ApiError> {
    let unreadable = |e: image::ImageError| {
        bad(
            StatusCode::BAD_REQUEST,
            "unreadable_image",
            format!("the image could not be read: {e}"),
        )
    };
    let reader = || {
        image::ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| bad(StatusCode::BAD_REQUEST, "unreadable_image", e.to_string()))
    };
    let format = reader()?.format();
    match format {
        Some(image::ImageFormat::Jpeg | image::ImageFormat::Png | image::ImageFormat::WebP) => {}
        _ => {
            return Err(bad(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_image",
                "send a JPEG, PNG or WebP image",
            ));
        }
    }
    let (w, h) = reader()?.into_dimensions().map_err(unreadable)?;
    let pixels = u64::from(w) * u64::from(h);
    if pixels > max_pixels {
        return Err(bad(
            StatusCode::PAYLOAD_TOO_LARGE,
            "image_too_large",
            format!("the image is {w}x{h} ({pixels} pixels); the limit is {max_pixels} pixels"),
        ));
    }
    if w == 0 || h == 0 {
        return Err(bad(
            StatusCode::BAD_REQUEST,
            "unreadable_image",
            "the image has no pixels",
        ));
    }
    let rgb = reader()?.decode().map_err(unreadable)?.to_rgb8();
    studio_media::RgbImage::from_data(w, h, rgb.into_raw())
        .map_err(|e| bad(StatusCode::BAD_REQUEST, "unreadable_image", e.to_string()))
}

/// Whether the manager reports every face model downloaded and verified.
fn face_models_ready(registry: &Registry) -> bool {
    MODEL_IDS.iter().all(|id| {
        registry
            .model_status(id)
            .is_some_and(|s| s.state == studio_proto::api::ModelState::Ready)
    })
}

/// `POST /v1/faces` on the video server.
pub async fn add_face(registry: Arc<Registry>, body: Bytes) -> Result<Json<FaceAdded>, ApiError> {
    let limits = registry
        .face
        .limits
        .read()
        .map(|g| g.clone())
        .unwrap_or_else(|p| p.into_inner().clone())
        .ok_or_else(|| {
            bad(
                StatusCode::SERVICE_UNAVAILABLE,
                error_code::FACE_UNAVAILABLE,
                registry.face.state(),
            )
        })?;
    let Some(engine) = registry.face.engine() else {
        // Models that just became ready are noticed by the loader within a moment.
        let code = if registry.face.is_loading() || face_models_ready(&registry) {
            error_code::FACE_LOADING
        } else if registry.face.is_missing_models() {
            error_code::FACE_MODELS_MISSING
        } else {
            error_code::FACE_UNAVAILABLE
        };
        return Err(bad(
            StatusCode::SERVICE_UNAVAILABLE,
            code,
            registry.face.state(),
        ));
    };
    if body.is_empty() {
        return Err(bad(
            StatusCode::BAD_REQUEST,
            "empty_image",
            "the request body is empty: send the image bytes (JPEG, PNG or WebP)",
        ));
    }
    if body.len() as u64 > limits.max_image_bytes {
        return Err(bad(
            StatusCode::PAYLOAD_TOO_LARGE,
            "image_too_large",
            format!(
                "the image is {} bytes; the limit is {} bytes (face.max_image_bytes)",
                body.len(),
                limits.max_image_bytes
            ),
        ));
    }
    let added = tokio::task::spawn_blocking(move || {
        let img = decode_image(&body, limits.max_image_pixels)?;
        engine.add_face(&img).map_err(|e| match e {
            studio_face::pipeline::AddFaceError::NoFace => bad(
                StatusCode::UNPROCESSABLE_ENTITY,
                "no_face",
                "no face was found in the image: use a clear, front-facing photo",
            ),
            other => bad(
                StatusCode::INTERNAL_SERVER_ERROR,
                "face_failed",
                other.to_string(),
            ),
        })
    })
    .await
    .map_err(|e| {
        bad(
            StatusCode::INTERNAL_SERVER_ERROR,
            "face_failed",
            e.to_string(),
        )
    })??;
    let warning = (added.faces_found > 1).then(|| {
        format!(
            "the image holds {} faces; the largest is used",
            added.faces_found
        )
    });
    Ok(Json(FaceAdded {
        id: added.id,
        bbox: added.bbox,
        faces: added.faces_found,
        warning,
    }))
}
