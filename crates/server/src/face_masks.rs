//! The face engine's optional models: the occlusion model (`xseg_1`), the face parser
//! (`bisenet_resnet_34`) and the face enhancers (`gfpgan_1.4`, `gpen_bfr_256`,
//! `gpen_bfr_512`). The engine runs without them; one already on disk comes with the
//! engine, and one that arrives later (fetched with `POST /v1/models/{id}`, its SHA-256
//! matched) is given to the running engine.

use crate::registry::Registry;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use studio_face::enhance::{Enhancer, EnhancerKind};
use studio_face::models::ModelError;
use studio_face::occlusion::Occluder;
use studio_face::parser::FaceParser;
use studio_face::pipeline::FaceEngine;
use studio_infer::ModelOptions;
use studio_models::Cached;
use studio_proto::config::{OCCLUSION_MODEL_ID, PARSER_MODEL_ID};

/// One optional model of the face engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskModel {
    Occlusion,
    Regions,
    /// A face enhancer, which restores the swapped face rather than masking it; it comes to
    /// the engine the same way.
    Enhancer(EnhancerKind),
}

/// An optional model loaded, ready for the engine.
pub enum LoadedMask {
    Occluder(Occluder),
    Parser(FaceParser),
    Enhancer(Enhancer),
}

impl LoadedMask {
    pub fn give_to(self, engine: &FaceEngine) {
        match self {
            LoadedMask::Occluder(o) => engine.set_occluder(Some(o)),
            LoadedMask::Parser(p) => engine.set_parser(Some(p)),
            LoadedMask::Enhancer(e) => engine.add_enhancer(e),
        }
    }
}

impl MaskModel {
    pub const ALL: [MaskModel; 5] = [
        MaskModel::Occlusion,
        MaskModel::Regions,
        MaskModel::Enhancer(EnhancerKind::Gfpgan14),
        MaskModel::Enhancer(EnhancerKind::GpenBfr256),
        MaskModel::Enhancer(EnhancerKind::GpenBfr512),
    ];

    /// The face enhancer whose `models` id is `id`.
    pub fn enhancer(id: &str) -> Option<MaskModel> {
        EnhancerKind::from_id(id).map(MaskModel::Enhancer)
    }

    /// Its `models` id, also its file's stem.
    pub fn id(self) -> &'static str {
        match self {
            MaskModel::Occlusion => OCCLUSION_MODEL_ID,
            MaskModel::Regions => PARSER_MODEL_ID,
            MaskModel::Enhancer(kind) => kind.id(),
        }
    }

    /// What it does, for messages.
    pub fn mask(self) -> &'static str {
        match self {
            MaskModel::Occlusion => "occlusion mask",
            MaskModel::Regions => "region mask",
            MaskModel::Enhancer(_) => "face enhancer",
        }
    }

    /// Whether `engine` has it.
    pub fn is_in(self, engine: &FaceEngine) -> bool {
        match self {
            MaskModel::Occlusion => engine.has_occluder(),
            MaskModel::Regions => engine.has_parser(),
            MaskModel::Enhancer(kind) => engine.has_enhancer(kind),
        }
    }

    /// Load its file, saying in the log why it failed if it does.
    pub fn load(self, path: &Path, options: &ModelOptions) -> Result<LoadedMask, ModelError> {
        let loaded = match self {
            MaskModel::Occlusion => Occluder::load(path, options).map(LoadedMask::Occluder),
            MaskModel::Regions => FaceParser::load(path, options).map(LoadedMask::Parser),
            MaskModel::Enhancer(kind) => {
                Enhancer::load(path, kind, options).map(LoadedMask::Enhancer)
            }
        };
        if let Err(e) = &loaded {
            tracing::error!(
                "the {} model {} failed to load: {e}",
                self.mask(),
                path.display()
            );
        }
        loaded
    }

    /// Its file when it is there now: `<id>.onnx` in the `STUDIO_FACE_MODELS` folder, or the
    /// model cache's copy once its SHA-256 matched. `None` when it is not (yet).
    pub async fn on_disk(self, registry: &Registry, from_env: Option<&Path>) -> Option<PathBuf> {
        let id = self.id();
        if let Some(dir) = from_env {
            let path = dir.join(format!("{id}.onnx"));
            return path.is_file().then_some(path);
        }
        let manager = registry.model_manager()?;
        if !matches!(manager.cached(id), Ok(Cached::Present(_))) {
            return None;
        }
        match manager.ensure(id).await {
            Ok(path) => Some(path),
            Err(e) => {
                tracing::warn!("{} model: {e}", self.mask());
                None
            }
        }
    }

    /// Whether the model cache has an entry for it (a download can bring it).
    pub fn configured(self, registry: &Registry) -> bool {
        registry
            .model_manager()
            .is_some_and(|m| m.path(self.id()).is_ok())
    }

    /// What the engine's state says while it waits for this model.
    pub fn waiting_note(self) -> String {
        let id = self.id();
        format!(
            "; the {} waits for its model ({id}: `studio models fetch {id}`)",
            self.mask()
        )
    }

    /// Gives a running engine this model once the model cache has it; returns at once when
    /// the model is not configured. Until then the engine runs without it, and its state
    /// says so.
    pub async fn attach(
        self,
        registry: Arc<Registry>,
        engine: Arc<FaceEngine>,
        options: ModelOptions,
    ) {
        if !self.configured(&registry) {
            tracing::info!(
                "model {} is not configured: the {} is unavailable",
                self.id(),
                self.mask()
            );
            return;
        }
        let path = loop {
            if let Some(path) = self.on_disk(&registry, None).await {
                break path;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let loaded = tokio::task::spawn_blocking(move || self.load(&path, &options)).await;
        match loaded {
            Ok(Ok(mask)) => {
                mask.give_to(&engine);
                tracing::info!("{} model loaded: {}", self.mask(), engine.backends());
                registry.face.set_state(ready_state(&registry, &engine));
            }
            Ok(Err(e)) => registry.face.set_state(format!(
                "{}; the {} model failed to load: {e}",
                ready_state(&registry, &engine),
                self.mask()
            )),
            Err(e) => tracing::error!("the {} model loader stopped: {e}", self.mask()),
        }
    }
}

/// The running engine's state: its networks, and the mask models it still waits for.
pub fn ready_state(registry: &Registry, engine: &FaceEngine) -> String {
    let mut state = format!("ready: {}", engine.backends());
    // The enhancers are alternatives a session picks, each fetched when picked: one not
    // there is not something the engine waits for.
    let masks = MaskModel::ALL
        .into_iter()
        .filter(|m| !matches!(m, MaskModel::Enhancer(_)));
    for mask in masks {
        if !mask.is_in(engine) && mask.configured(registry) {
            state.push_str(&mask.waiting_note());
        }
    }
    state
}
