//! The face engine's pure parts: SCRFD decoding, alignment to the ArcFace template, the
//! inswapper source latent, feathered paste-back and a tracker that detects every N frames.
//! Nothing here runs a model or knows about servers; the model runner feeds tensors in.

pub mod affine;
pub mod align;
pub mod blend;
pub mod colour;
pub mod detect;
pub mod detect_ahead;
pub mod device_graph;
pub mod device_path;
pub mod enhance;
pub mod enhance_pace;
pub mod error;
pub mod keep;
pub mod latent;
pub mod mapping;
pub mod mouth;
pub mod occlusion;
pub mod parser;
mod pixel;
pub mod smooth;
pub mod swapper;
pub mod track;

pub use affine::Affine;
pub use detect::Detection;
pub use error::FaceError;
pub mod models;
pub mod pipeline;
pub mod standin;
