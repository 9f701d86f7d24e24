//! Which engine processes a role's media. Until the face and voice engines land, both roles
//! pass media through unchanged, through the same traits those engines implement.

use studio_media::AudioBlock;
use studio_media::VideoFrame;
use studio_media::engine::{AudioProcessor, IdentityAudio, IdentityVideo, VideoProcessor};
use studio_proto::Role;
use studio_proto::control::Control;

/// A session's engine: the processor for its role.
pub enum Engine {
    Video(Box<dyn VideoProcessor>),
    Audio(Box<dyn AudioProcessor>),
}

impl Engine {
    pub fn for_role(role: Role) -> Engine {
        match role {
            Role::Video => Engine::Video(Box::new(IdentityVideo)),
            Role::Audio => Engine::Audio(Box::new(IdentityAudio)),
        }
    }

    /// The engine a new session of `registry`'s role gets: the face swap on video once its
    /// models are loaded, else the identity processors.
    pub fn for_session(registry: &crate::registry::Registry) -> Engine {
        match (registry.role, registry.face.engine()) {
            (Role::Video, Some(face)) => Engine::Video(Box::new(face.processor())),
            (role, _) => Engine::for_role(role),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Engine::Video(p) => p.name(),
            Engine::Audio(p) => p.name(),
        }
    }

    pub fn apply(&mut self, control: &Control) -> Result<(), String> {
        match self {
            Engine::Video(p) => p.apply(control),
            Engine::Audio(p) => p.apply(control),
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
