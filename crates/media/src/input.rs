//! What `--video-in` and `--audio-in` name, and opening the inputs that need no device:
//! synthetic sources and files.

use crate::error::MediaError;
use crate::source::{AudioSource, VideoFormat, VideoSource};
use crate::synthetic::{SyncClick, SyncFlash, TestPattern, Tone};
use crate::wav::WavReader;
use crate::y4m::Y4mReader;
use std::path::{Path, PathBuf};

/// What `--video-in` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoInput {
    /// Moving pattern with the frame number encoded in its pixels.
    Test,
    /// A white frame once a second, dark otherwise.
    Sync,
    /// A Y4M file.
    File(PathBuf),
    /// A camera. On Linux its device node (`camera:<n>` names `/dev/video<n>`); on Windows
    /// and macOS its position in `studio devices`' list or part of its name.
    Camera(String),
}

/// What `--audio-in` names.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioInput {
    /// A sine at this frequency in Hz.
    Tone(f64),
    /// A 10 ms click once a second, at the instants the sync video flashes.
    Sync,
    /// A WAV file.
    File(PathBuf),
    /// A microphone by name (or part of it); `None` is the system's default.
    Microphone(Option<String>),
}

impl VideoInput {
    /// `test`, `sync`, `camera:<n or name>`, or a path ending in `.y4m`.
    pub fn parse(spec: &str) -> Result<VideoInput, MediaError> {
        if let Some(camera) = spec.strip_prefix("camera:") {
            let camera = camera.trim();
            return match camera.parse::<u32>() {
                Ok(n) if cfg!(target_os = "linux") => {
                    Ok(VideoInput::Camera(format!("/dev/video{n}")))
                }
                _ if !camera.is_empty() => Ok(VideoInput::Camera(camera.to_string())),
                _ => Err(MediaError::BadSpec(
                    "`camera:` needs a camera, e.g. `camera:0` (see `studio devices`)".into(),
                )),
            };
        }
        match spec {
            "test" => Ok(VideoInput::Test),
            "sync" => Ok(VideoInput::Sync),
            path if has_extension(path, "y4m") => Ok(VideoInput::File(PathBuf::from(path))),
            _ => Err(MediaError::BadSpec(format!(
                "video input `{spec}` not understood: use `test` (moving pattern), `sync` \
                 (a flash each second), `camera:<n>` (see `studio devices`) or a path to a \
                 .y4m file"
            ))),
        }
    }
}

impl AudioInput {
    /// `tone:<Hz>`, `sync`, or a path ending in `.wav`.
    pub fn parse(spec: &str) -> Result<AudioInput, MediaError> {
        if let Some(hz) = spec.strip_prefix("tone:") {
            return match hz.trim().parse::<f64>() {
                Ok(hz) if hz.is_finite() && hz > 0.0 => Ok(AudioInput::Tone(hz)),
                _ => Err(MediaError::BadSpec(format!(
                    "audio input `{spec}`: the tone frequency must be a positive number of \
                     Hz, e.g. `tone:440`"
                ))),
            };
        }
        if let Some(name) = spec.strip_prefix("mic:") {
            let name = name.trim();
            return Ok(AudioInput::Microphone(
                (!name.is_empty()).then(|| name.to_string()),
            ));
        }
        match spec {
            "sync" => Ok(AudioInput::Sync),
            "mic" => Ok(AudioInput::Microphone(None)),
            path if has_extension(path, "wav") => Ok(AudioInput::File(PathBuf::from(path))),
            _ => Err(MediaError::BadSpec(format!(
                "audio input `{spec}` not understood: use `tone:<Hz>` (e.g. `tone:440`), \
                 `sync` (a click each second), `mic` or `mic:<name>` (a microphone; see \
                 `studio devices`) or a path to a .wav file"
            ))),
        }
    }
}

fn has_extension(path: &str, ext: &str) -> bool {
    Path::new(path)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// Open a video source that needs no device. Synthetic sources take the size and rate from
/// `default_format`; files keep their own. A camera is an error here: programs that capture
/// open inputs through `studio_devices::inputs`, which hands everything else to this.
pub fn open_video(
    input: &VideoInput,
    default_format: VideoFormat,
) -> Result<Box<dyn VideoSource>, MediaError> {
    Ok(match input {
        VideoInput::Test => Box::new(TestPattern::new(default_format)),
        VideoInput::Sync => Box::new(SyncFlash::new(default_format)),
        VideoInput::File(path) => Box::new(Y4mReader::open(path)?),
        VideoInput::Camera(spec) => {
            return Err(MediaError::BadSpec(format!(
                "camera `{spec}`: this program opens no devices (cameras open through \
                 `studio-devices`); use `test`, `sync` or a .y4m file"
            )));
        }
    })
}

/// Open an audio source that needs no device, producing mono at `sample_rate`. A microphone is
/// an error here, as a camera is for [`open_video`]. A file at another rate is an error
/// that says so (resampling arrives with the voice engine); several channels are averaged.
pub fn open_audio(
    input: &AudioInput,
    sample_rate: u32,
) -> Result<Box<dyn AudioSource>, MediaError> {
    Ok(match input {
        &AudioInput::Tone(hz) => {
            let nyquist = f64::from(sample_rate) / 2.0;
            if !(hz > 0.0 && hz < nyquist) {
                return Err(MediaError::BadSpec(format!(
                    "tone:{hz}: the frequency must be above 0 and below {nyquist} Hz (half \
                     the {sample_rate} Hz sample rate)"
                )));
            }
            Box::new(Tone::new(hz, sample_rate))
        }
        AudioInput::Sync => Box::new(SyncClick::new(sample_rate)),
        AudioInput::Microphone(name) => {
            return Err(MediaError::BadSpec(format!(
                "microphone `{}`: this program opens no devices (microphones open through \
                 `studio-devices`); use `tone:<Hz>`, `sync` or a .wav file",
                name.as_deref().unwrap_or("default")
            )));
        }
        AudioInput::File(path) => {
            let reader = WavReader::open(path)?;
            let rate = reader.sample_rate();
            if rate != sample_rate {
                return Err(MediaError::BadFile {
                    path: path.clone(),
                    reason: format!(
                        "sample rate {rate} Hz; the studio runs at {sample_rate} Hz — convert \
                         it first, e.g. `sox in.wav -r {sample_rate} out.wav`"
                    ),
                });
            }
            Box::new(reader)
        }
    })
}
