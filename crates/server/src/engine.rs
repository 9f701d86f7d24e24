//! Which engine processes a role's media: the voice engine for audio, the face swap for video
//! (once its models are loaded; frames pass through unchanged until then).

use studio_media::AudioBlock;
use studio_media::VideoFrame;
use studio_media::engine::{
    AudioProcessor, AudioSetting, IdentityAudio, IdentityVideo, VideoProcessor, VideoSetting,
};
use studio_proto::Role;
use studio_proto::config::{Backend, Config};
use studio_proto::control::Control;
use studio_voice::{Catalog, VoiceEngine};

/// How a role's models are loaded: its server's backend, device and runtime from config.
pub fn model_options(role: Role, config: &Config) -> studio_infer::ModelOptions {
    let server = config.servers.role(role);
    studio_infer::ModelOptions {
        backend: match server.backend {
            Backend::Auto => studio_infer::BackendChoice::Auto,
            Backend::Ort => studio_infer::BackendChoice::Ort,
            Backend::Tract => studio_infer::BackendChoice::Tract,
        },
        device: server.device.clone(),
        runtime_path: server.onnxruntime.as_ref().map(std::path::PathBuf::from),
        threads: None,
        // Beside the models, so a built engine is reused as long as they are.
        engine_cache: studio_models::resolve_cache_dir(config.servers.cache_dir.as_deref())
            .map(|dir| dir.join("tensorrt")),
        // A second session per bound model; measured with `bench video --cuda-graphs` first.
        cuda_graphs: false,
    }
}

// The wire's bound is the engine's.
const _: () =
    assert!(studio_proto::control::MAX_ENHANCE_EVERY == studio_face::pipeline::MAX_ENHANCE_EVERY);

/// Makes each session's engine from the configuration, and describes what the role offers.
pub struct EngineFactory {
    role: Role,
    catalog: Catalog,
    preroll_ms: u32,
    hang_ms: u32,
}

impl EngineFactory {
    pub fn new(role: Role, config: &Config) -> EngineFactory {
        EngineFactory {
            role,
            catalog: Catalog::new(config.voices.clone(), model_options(role, config)),
            preroll_ms: config.talk.preroll_ms,
            hang_ms: config.talk.hang_ms,
        }
    }

    /// A new session's engine: on video, the face swap as soon as `face` holds the loaded
    /// engine (frames pass unchanged until then); on audio, the voice engine.
    pub fn create(&self, face: &std::sync::Arc<crate::face_slot::FaceSlot>) -> Engine {
        match self.role {
            Role::Video => {
                Engine::Video(Box::new(crate::face_slot::SessionFaces::new(face.clone())))
            }
            Role::Audio => Engine::Audio(Box::new(VoiceEngine::new(
                self.catalog.clone(),
                self.preroll_ms,
                self.hang_ms,
            ))),
        }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The voices this server offers (`None` for the video role).
    pub fn voices(&self) -> Option<Vec<studio_proto::api::VoiceEntry>> {
        (self.role == Role::Audio).then(|| self.catalog.entries())
    }

    /// Which inference backend models would run on, and on what device.
    pub fn backend(&self) -> studio_infer::BackendInfo {
        studio_infer::BackendInfo::probe(self.catalog.options())
    }
}

/// A session's engine: the processor for its role.
pub enum Engine {
    Video(Box<dyn VideoProcessor>),
    Audio(Box<dyn AudioProcessor>),
}

impl Engine {
    /// An engine that passes media through unchanged, for either role.
    pub fn identity(role: Role) -> Engine {
        match role {
            Role::Video => Engine::Video(Box::new(IdentityVideo)),
            Role::Audio => Engine::Audio(Box::new(IdentityAudio)),
        }
    }

    /// How often the face enhancer runs (video, while one is on), for status: its rate in
    /// whole frames per second, so status changes only when something a person reads does.
    pub fn enhancer_pace(&self) -> Option<studio_proto::control::EnhancerPace> {
        let Engine::Video(p) = self else {
            return None;
        };
        p.enhancer_pace()
            .map(|pace| studio_proto::control::EnhancerPace {
                every: pace.every,
                automatic: pace.automatic,
                fps: pace.fps.round(),
                limit: pace.limit,
            })
    }

    /// Blocks converted so far (audio), for status.
    pub fn converted_blocks(&self) -> u64 {
        match self {
            Engine::Audio(p) => p.converted_blocks(),
            Engine::Video(_) => 0,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Engine::Video(p) => p.name(),
            Engine::Audio(p) => p.name(),
        }
    }

    /// Apply a control message as the setting it means to this role's processor, refusing
    /// (not storing) one meant for the other role: its text would otherwise be echoed in
    /// every status.
    pub fn apply(&mut self, control: &Control) -> Result<(), String> {
        let role = match self {
            Engine::Video(_) => Role::Video,
            Engine::Audio(_) => Role::Audio,
        };
        if let Some(owner) = control.role()
            && owner != role
        {
            return Err(format!(
                "that setting is for the {owner} server; this is the {role} server"
            ));
        }
        match (self, control) {
            (Engine::Video(p), Control::SetFace { face_id }) => {
                p.apply(&VideoSetting::Face(face_id.clone()))
            }
            (Engine::Audio(p), Control::SetVoice { voice_id }) => {
                p.apply(&AudioSetting::Voice(voice_id.clone()))
            }
            (Engine::Audio(p), Control::Talk { active }) => p.apply(&AudioSetting::Talk(*active)),
            (Engine::Video(p), Control::MouthMask { on }) => p.apply(&VideoSetting::MouthMask(*on)),
            (Engine::Video(p), Control::Occlusion { on }) => p.apply(&VideoSetting::Occlusion(*on)),
            (Engine::Video(p), Control::AllFaces { on }) => p.apply(&VideoSetting::AllFaces(*on)),
            (Engine::Video(p), Control::MapPeople { pairs }) => p.apply(&VideoSetting::People(
                pairs
                    .iter()
                    .map(|p| (p.person.clone(), p.wears.clone()))
                    .collect(),
            )),
            (Engine::Video(p), Control::RegionMask { on }) => {
                p.apply(&VideoSetting::RegionMask(*on))
            }
            (Engine::Video(p), Control::Swapper { model_id }) => {
                studio_proto::config::swapper_converter(model_id)?;
                p.apply(&VideoSetting::Swapper(model_id.clone()))
            }
            (Engine::Video(p), Control::PixelBoost { factor }) => {
                studio_proto::control::check_pixel_boost(*factor)?;
                p.apply(&VideoSetting::PixelBoost(*factor))
            }
            (Engine::Video(p), Control::ColourTransfer { on }) => {
                p.apply(&VideoSetting::ColourTransfer(*on))
            }
            (Engine::Video(p), Control::Enhancer { model }) => {
                if let Some(model) = model
                    && !studio_proto::config::ENHANCER_MODEL_IDS.contains(&model.as_str())
                {
                    return Err(format!(
                        "no face enhancer {model:?}: one of {}",
                        studio_proto::config::ENHANCER_MODEL_IDS.join(", ")
                    ));
                }
                p.apply(&VideoSetting::Enhancer(model.clone()))
            }
            (Engine::Video(p), Control::EnhancerStrength { strength }) => {
                if *strength > 100 {
                    return Err(format!("the strength is 0 to 100, not {strength}"));
                }
                p.apply(&VideoSetting::EnhancerStrength(*strength))
            }
            (Engine::Video(p), Control::EnhanceEvery { frames }) => {
                frames.check()?;
                p.apply(&VideoSetting::EnhanceEvery(frames.frames()))
            }
            (Engine::Audio(p), Control::PassThrough { active }) => {
                p.apply(&AudioSetting::PassThrough(*active))
            }
            (Engine::Audio(p), Control::VoiceShift { key, formant }) => {
                studio_proto::control::check_voice_shift(*key, *formant)?;
                p.apply(&AudioSetting::Shift {
                    key: *key,
                    formant: *formant,
                })
            }
            // Every other pairing was refused above.
            _ => Ok(()),
        }
    }

    /// `None` when this role does not take video.
    pub fn process_video(&mut self, frame: VideoFrame) -> Option<VideoFrame> {
        match self {
            Engine::Video(p) => Some(p.process(frame)),
            Engine::Audio(_) => None,
        }
    }

    /// `None` when this role does not take audio.
    pub fn process_audio(&mut self, block: AudioBlock) -> Option<AudioBlock> {
        match self {
            Engine::Audio(p) => Some(p.process(block)),
            Engine::Video(_) => None,
        }
    }
}
