//! Fetching the role's required models in the background when the server starts, others on
//! request (`POST /v1/models/{id}`, cancelled with `DELETE`), with their progress in the
//! registry (so on `/v1/status` and `/v1/events`).

use crate::error::ApiError;
use crate::registry::Registry;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use std::sync::Arc;
use studio_models::{ManagerOptions, ModelManager, StatusSink};
use studio_proto::Role;
use studio_proto::api::{ModelState, ModelStatus};
use studio_proto::config::{Backend, Config, ModelKind};

/// Environment variable naming an installed ONNX Runtime library (as the `ort` crate reads
/// it); when it names a file, the runtime is not downloaded.
pub const ORT_DYLIB_ENV: &str = "ORT_DYLIB_PATH";

/// Starts fetching the required models of `role` (for this platform), and the ONNX Runtime
/// library when `servers.<role>.backend` is `ort` and none is installed; keeps the manager in
/// the registry for later, on-demand models. Does nothing when the role has no models.
pub fn start(registry: &Arc<Registry>, config: &Config, role: Role) {
    let entries: std::collections::BTreeMap<_, _> = config
        .models
        .iter()
        .filter(|(_, entry)| entry.serves(role))
        .map(|(id, entry)| (id.clone(), entry.clone()))
        .collect();
    if entries.is_empty() {
        return;
    }
    // The runtime library is needed at start when the role's backend is `ort` (or the entry
    // says so) and none is installed.
    // One runtime is enough: the first such entry for this platform (by id).
    let wants_ort = config.servers.role(role).backend == Backend::Ort;
    let runtime = entries
        .iter()
        .filter(|(_, e)| e.kind == ModelKind::OnnxRuntime)
        .find(|(_, e)| e.required || wants_ort)
        .map(|(id, _)| id.clone())
        .filter(|_| !onnxruntime_installed());
    let required: Vec<String> = entries
        .iter()
        .filter(|(_, e)| e.kind == ModelKind::Model && e.required)
        .map(|(id, _)| id.clone())
        .chain(runtime)
        .collect();
    let failed = |error: String| {
        for id in &required {
            registry.set_model_status(status(id, ModelState::Failed, Some(error.clone())));
        }
    };
    let Some(cache_dir) = studio_models::resolve_cache_dir(config.servers.cache_dir.as_deref())
    else {
        failed(format!(
            "no cache folder: set {} or servers.cache_dir",
            studio_models::cache::CACHE_ENV
        ));
        return;
    };
    let sink: Arc<dyn StatusSink> = registry.clone();
    let manager = match ModelManager::new(entries, ManagerOptions::new(cache_dir), sink) {
        Ok(manager) => manager,
        Err(e) => {
            failed(e.to_string());
            return;
        }
    };
    for id in required {
        registry.set_model_status(status(&id, ModelState::Pending, None));
        let manager = manager.clone();
        tokio::spawn(async move {
            match manager.ensure(&id).await {
                Ok(path) => {
                    tracing::info!(model = %id, path = %path.display(), "model ready");
                    if runtime_entry(&manager).as_deref() == Some(id.as_str()) {
                        studio_infer::use_fetched_runtime(path);
                    }
                }
                Err(e) => tracing::error!(model = %id, "{e}"),
            }
        });
    }
    registry.set_model_manager(manager);
}

/// The ONNX Runtime entry this server's manager holds, if any.
fn runtime_entry(manager: &ModelManager) -> Option<String> {
    manager
        .entries()
        .iter()
        .find(|(_, e)| e.kind == ModelKind::OnnxRuntime)
        .map(|(id, _)| id.clone())
}

/// When this server fetches ONNX Runtime, waits until the download is verified and offers
/// it to model loads, so models load with it rather than race it. The library is loaded only
/// from a file whose SHA-256 matched. A failed download leaves the search as it was (the
/// `auto` backend then runs models on `tract`); the failure is on the model's status.
pub async fn settle_runtime(registry: &Registry) {
    let Some(manager) = registry.model_manager() else {
        return;
    };
    let Some(id) = runtime_entry(manager) else {
        return;
    };
    // Only a runtime that start() scheduled (none installed, the backend wants one).
    if registry.model_status(&id).is_none() {
        return;
    }
    if let Ok(path) = manager.ensure(&id).await {
        studio_infer::use_fetched_runtime(path);
    }
}

/// `POST /v1/models/{id}`: make a model of this role ready (download it if needed). Answers at
/// once with its status: `200` when ready, `202` while it is on its way.
pub async fn fetch_route(
    State(registry): State<Arc<Registry>>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<ModelStatus>), ApiError> {
    let manager = known(&registry, &id)?;
    let current = registry.model_status(&id);
    if let Some(ready) = current.filter(|s| s.state == ModelState::Ready) {
        return Ok((StatusCode::OK, Json(ready)));
    }
    fetch_in_background(&registry, &manager, &id);
    let now = registry
        .model_status(&id)
        .unwrap_or_else(|| status(&id, ModelState::Pending, None));
    Ok((StatusCode::ACCEPTED, Json(now)))
}

/// Makes model `id` ready in the background (shown as pending at once, then with the
/// manager's progress); the task's result says whether it is on disk and verified.
pub fn fetch_in_background(
    registry: &Registry,
    manager: &ModelManager,
    id: &str,
) -> tokio::task::JoinHandle<bool> {
    if registry
        .model_status(id)
        .is_none_or(|s| s.state == ModelState::Failed)
    {
        registry.set_model_status(status(id, ModelState::Pending, None));
    }
    let (manager, id) = (manager.clone(), id.to_owned());
    tokio::spawn(async move {
        match manager.ensure(&id).await {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(model = %id, "{e}");
                false
            }
        }
    })
}

/// `DELETE /v1/models/{id}`: stop the model's download; the partial file is kept so that a
/// later fetch resumes it.
pub async fn cancel_route(
    State(registry): State<Arc<Registry>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let manager = known(&registry, &id)?;
    if manager.cancel(&id) {
        Ok(StatusCode::ACCEPTED)
    } else {
        Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_downloading",
            format!("model {id:?} is not being downloaded"),
        ))
    }
}

/// The manager, when `id` is one of this server's models.
fn known(registry: &Registry, id: &str) -> Result<ModelManager, ApiError> {
    match registry.model_manager() {
        Some(manager) if manager.entries().contains_key(id) => Ok(manager.clone()),
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "no model {id:?} for the {} server on this platform",
                registry.role
            ),
        )),
    }
}

/// Whether an ONNX Runtime library is already installed where the `ort` backend looks.
pub fn onnxruntime_installed() -> bool {
    std::env::var_os(ORT_DYLIB_ENV).is_some_and(|p| std::path::Path::new(&p).is_file())
}

fn status(id: &str, state: ModelState, error: Option<String>) -> ModelStatus {
    ModelStatus {
        id: id.to_owned(),
        state,
        bytes_done: 0,
        bytes_total: None,
        error,
        rate_bytes_per_s: None,
        eta_s: None,
        sha256: None,
        trust: None,
    }
}
