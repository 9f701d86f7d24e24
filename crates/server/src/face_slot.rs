//! The face engine's place in the server: the engine once loaded (shared by every session),
//! why it is not there yet, and each session's processor that passes frames until it is.
//! Loading and uploads are `face.rs`; this module is what the registry and engines hold.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use studio_face::pipeline::FaceEngine;
use studio_media::engine::{VideoProcessor, VideoSetting};
use studio_proto::config::FaceConfig;

/// The engine once loaded, the upload limits, and why it is not there yet.
pub struct FaceSlot {
    engine: RwLock<Option<Arc<FaceEngine>>>,
    state: RwLock<String>,
    /// The models are on disk and being loaded: an upload now succeeds in a moment.
    loading: AtomicBool,
    /// The models are configured but not downloaded: `POST /v1/models/{id}` fetches them.
    missing: AtomicBool,
    pub limits: RwLock<Option<FaceConfig>>,
    /// The swapper the sessions asked for last (a `models` id); `face.rs` loads it.
    swapper: tokio::sync::watch::Sender<String>,
}

impl Default for FaceSlot {
    fn default() -> Self {
        FaceSlot {
            engine: RwLock::new(None),
            state: RwLock::new("face models not configured".into()),
            loading: AtomicBool::new(false),
            missing: AtomicBool::new(false),
            limits: RwLock::new(None),
            swapper: tokio::sync::watch::channel(studio_proto::config::DEFAULT_SWAPPER.to_string())
                .0,
        }
    }
}

impl FaceSlot {
    /// Ask for another swapper (a `models` id, checked by the caller).
    pub fn want_swapper(&self, id: &str) {
        self.swapper.send_if_modified(|wanted| {
            let changed = wanted != id;
            if changed {
                *wanted = id.to_string();
            }
            changed
        });
    }

    /// The swapper asked for, as it changes.
    pub fn wanted_swapper(&self) -> tokio::sync::watch::Receiver<String> {
        self.swapper.subscribe()
    }

    pub fn engine(&self) -> Option<Arc<FaceEngine>> {
        self.engine
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Why there is no engine (or what runs): for errors and status.
    pub fn state(&self) -> String {
        self.state
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    pub(crate) fn set_state(&self, s: String) {
        match self.state.write() {
            Ok(mut g) => *g = s,
            Err(p) => *p.into_inner() = s,
        }
    }

    /// Whether the engine is on its way (`POST /v1/faces` answers `face_loading`) rather
    /// than waiting for models that may never come (`face_unavailable`).
    pub fn is_loading(&self) -> bool {
        self.loading.load(Ordering::Acquire)
    }

    /// Whether the engine waits for model files that can be fetched (`face_models_missing`).
    pub fn is_missing_models(&self) -> bool {
        self.missing.load(Ordering::Acquire)
    }

    pub(crate) fn set_loading(&self, state: String) {
        self.set_state(state);
        self.missing.store(false, Ordering::Release);
        self.loading.store(true, Ordering::Release);
    }

    /// The engine waits for something that does not come by itself (a configuration to fix,
    /// a file that failed its check).
    pub(crate) fn set_waiting(&self, state: String) {
        self.set_state(state);
        self.missing.store(false, Ordering::Release);
        self.loading.store(false, Ordering::Release);
    }

    /// The engine waits for its model files to be downloaded.
    pub(crate) fn set_missing(&self, state: String) {
        self.set_state(state);
        self.loading.store(false, Ordering::Release);
        self.missing.store(true, Ordering::Release);
    }

    /// Loading ended (with an engine in place, or with the reason there is none): an upload
    /// sees one or the other.
    pub(crate) fn finish_loading(&self) {
        self.loading.store(false, Ordering::Release);
    }

    pub(crate) fn set_engine(&self, e: Arc<FaceEngine>) {
        match self.engine.write() {
            Ok(mut g) => *g = Some(e),
            Err(p) => *p.into_inner() = Some(e),
        }
    }
}

/// A session's video processor: frames pass through unchanged until the face engine has
/// loaded (a session may open while the models are still downloading), then the face swap
/// takes over.
pub struct SessionFaces {
    slot: Arc<FaceSlot>,
    swap: Option<studio_face::pipeline::FaceSwapProcessor>,
    /// The masks' and face count's settings as last set (one of each kind), kept for the swap
    /// while the engine is not there yet.
    settings: Vec<VideoSetting>,
}

impl SessionFaces {
    pub fn new(slot: Arc<FaceSlot>) -> SessionFaces {
        SessionFaces {
            slot,
            swap: None,
            settings: Vec::new(),
        }
    }

    fn swap(&mut self) -> Option<&mut studio_face::pipeline::FaceSwapProcessor> {
        if self.swap.is_none() {
            let settings = &self.settings;
            self.swap = self.slot.engine().map(|engine| {
                let mut swap = engine.processor();
                for setting in settings {
                    // Each was accepted when it came; a fresh processor takes them all.
                    if let Err(e) = swap.apply(setting) {
                        tracing::warn!("a kept face setting was refused: {e}");
                    }
                }
                swap
            });
        }
        self.swap.as_mut()
    }

    /// Keep `setting` for a processor made later, in place of an earlier one of its kind.
    fn remember(&mut self, setting: &VideoSetting) {
        let kind = std::mem::discriminant(setting);
        self.settings.retain(|s| std::mem::discriminant(s) != kind);
        self.settings.push(setting.clone());
    }
}

impl VideoProcessor for SessionFaces {
    fn name(&self) -> &str {
        match &self.swap {
            Some(swap) => swap.name(),
            None => "face-swap",
        }
    }

    fn process(&mut self, frame: studio_media::VideoFrame) -> studio_media::VideoFrame {
        match self.swap() {
            Some(swap) => swap.process(frame),
            None => frame,
        }
    }

    fn enhancer_pace(&self) -> Option<studio_media::engine::EnhancerPace> {
        self.swap.as_ref().and_then(|swap| swap.enhancer_pace())
    }

    fn apply(&mut self, setting: &VideoSetting) -> Result<(), String> {
        match setting {
            // The swapper is the server's: the slot loads it for every session.
            VideoSetting::Swapper(id) => {
                studio_proto::config::swapper_converter(id)?;
                self.slot.want_swapper(id);
                return Ok(());
            }
            VideoSetting::PixelBoost(factor) => studio_proto::control::check_pixel_boost(*factor)?,
            _ => {}
        }
        // Faces are chosen only once the engine is there (they are refused before); the
        // other settings are kept for it.
        if !matches!(setting, VideoSetting::Face(_) | VideoSetting::People(_)) {
            self.remember(setting);
        }
        match self.swap() {
            Some(swap) => swap.apply(setting),
            None => match setting {
                VideoSetting::Face(Some(_)) => Err(format!(
                    "the face engine is not ready ({}); frames pass unchanged",
                    self.slot.state()
                )),
                VideoSetting::People(pairs) if !pairs.is_empty() => Err(format!(
                    "the face engine is not ready ({}); frames pass unchanged",
                    self.slot.state()
                )),
                _ => Ok(()),
            },
        }
    }
}
