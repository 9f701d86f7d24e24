//! Real devices: the virtual microphone (PulseAudio/PipeWire), the virtual camera
//! (v4l2loopback on Linux, OBS Virtual Camera's shared memory on Windows), cameras (V4L2,
//! Media Foundation, AVFoundation), microphones and speakers through cpal, the device lists,
//! and the factories that turn `--video-in`/`--audio-in`/`--video-out`/`--audio-out` specs
//! into devices. Everything that talks to the system goes through a small seam (a command
//! runner, a device file, a memory region) so the logic is tested without the hardware.
//! Servers never link this crate: frames, files and the source and sink traits are
//! `studio-media`.

pub mod avf_formats;
#[cfg(target_os = "macos")]
pub mod avfoundation;
pub mod camera;
pub mod error;
pub mod info;
pub mod inputs;
#[cfg(windows)]
pub mod media_foundation;
pub mod mjpeg;
pub mod obs;
pub mod outputs;
pub mod pulse;
pub mod runner;
pub mod sound;
pub mod v4l2;

pub use error::DeviceError;
pub use info::DeviceInfo;
