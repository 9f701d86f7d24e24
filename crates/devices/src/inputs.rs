//! Opening what `--video-in` and `--audio-in` name: cameras and microphones here, everything
//! else (synthetic sources, files) handed to `studio_media::input`.

use studio_media::error::MediaError;
use studio_media::input::{AudioInput, VideoInput};
use studio_media::source::{AudioSource, VideoFormat, VideoSource};

/// Open a video source. Synthetic sources and cameras take the size and rate from
/// `default_format` (a camera settles on the closest it offers); files keep their own.
pub fn open_video(
    input: &VideoInput,
    default_format: VideoFormat,
) -> Result<Box<dyn VideoSource>, MediaError> {
    match input {
        VideoInput::Camera(spec) => open_camera(spec, default_format),
        other => studio_media::input::open_video(other, default_format),
    }
}

/// Open an audio source producing mono at `sample_rate`: a microphone (resampled to it), or
/// what `studio_media::input::open_audio` opens.
pub fn open_audio(
    input: &AudioInput,
    sample_rate: u32,
) -> Result<Box<dyn AudioSource>, MediaError> {
    match input {
        AudioInput::Microphone(name) => Ok(Box::new(crate::sound::MicrophoneSource::open(
            name.as_deref(),
            sample_rate,
        )?)),
        other => studio_media::input::open_audio(other, sample_rate),
    }
}

/// Open a camera with the system's capture API: V4L2 on Linux, Media Foundation on Windows,
/// AVFoundation on macOS.
#[cfg(any(target_os = "linux", windows, target_os = "macos"))]
fn open_camera(spec: &str, format: VideoFormat) -> Result<Box<dyn VideoSource>, MediaError> {
    use crate::camera::CameraSource;
    let owned = spec.to_string();
    #[cfg(target_os = "linux")]
    let opener =
        move || crate::camera::v4l2_capture::V4l2Capture::open(std::path::Path::new(&owned));
    #[cfg(windows)]
    let opener = move || crate::media_foundation::MfCapture::open(&owned);
    #[cfg(target_os = "macos")]
    let opener = move || crate::avfoundation::AvCapture::open(&owned);
    let name = spec.to_string();
    let camera = CameraSource::open(Box::new(opener), format.width, format.height, format.rate)?
        .on_state_change(move |state| tracing::warn!("{name}: {state}"));
    Ok(Box::new(camera))
}

#[cfg(not(any(target_os = "linux", windows, target_os = "macos")))]
fn open_camera(spec: &str, _: VideoFormat) -> Result<Box<dyn VideoSource>, MediaError> {
    Err(MediaError::BadSpec(format!(
        "camera `{spec}`: camera capture is not available on this system; use a .y4m file"
    )))
}
