//! Media for the studio: video frames (I420 and RGB), audio blocks with capture timestamps,
//! Y4M and WAV files, synthetic sources for tests and demos, the source and sink contracts
//! devices implement, and the engine traits that servers run media through. Nothing here
//! touches a device: cameras, microphones and virtual devices are `studio-devices`.

pub mod audio;
pub mod avsync;
pub mod engine;
pub mod error;
pub mod health;
pub mod input;
pub mod output;
pub mod resample;
pub mod sink;
pub mod source;
pub mod synthetic;
pub mod time;
pub mod video;
pub mod wav;
pub mod y4m;

pub use audio::AudioBlock;
pub use error::MediaError;
pub use time::Timestamp;
pub use video::{I420Image, RgbImage, VideoFrame, rgb_block_to_i420};
