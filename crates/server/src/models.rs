//! Fetching the role's required models in the background when the server starts, with their
//! progress in the registry (so on `/v1/status` and `/v1/events`).

use crate::registry::Registry;
use std::sync::Arc;
use studio_models::{ManagerOptions, ModelManager, StatusSink};
use studio_proto::Role;
use studio_proto::api::{ModelState, ModelStatus};
use studio_proto::config::{Config, ModelKind};

/// Environment variable naming an installed ONNX Runtime library (as the `ort` crate reads
/// it); when it names a file, the runtime is not downloaded.
pub const ORT_DYLIB_ENV: &str = "ORT_DYLIB_PATH";

/// Starts fetching the required models of `role` (for this platform) and keeps the manager in
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
    let required: Vec<String> = entries
        .iter()
        .filter(|(_, e)| e.required)
        .filter(|(_, e)| e.kind != ModelKind::OnnxRuntime || !onnxruntime_installed())
        .map(|(id, _)| id.clone())
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
                Ok(path) => tracing::info!(model = %id, path = %path.display(), "model ready"),
                Err(e) => tracing::error!(model = %id, "{e}"),
            }
        });
    }
    registry.set_model_manager(manager);
}

/// Whether an ONNX Runtime library is already installed where the `ort` backend looks.
pub fn onnxruntime_installed() -> bool {
    std::env::var_os(ORT_DYLIB_ENV).is_some_and(|p| std::path::Path::new(&p).is_file())
}

fn status(id: &str, state: ModelState, error: Option<String>) -> ModelStatus {
    ModelStatus {
        id: id.to_owned(),
        state: state.as_str().to_owned(),
        bytes_done: 0,
        bytes_total: None,
        error,
        rate_bytes_per_s: None,
        eta_s: None,
        sha256: None,
        trust: None,
    }
}
