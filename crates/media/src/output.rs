//! What `--video-out` and `--audio-out` name: a file, or a device (`studio-devices` opens
//! those). Parsing needs no device, so every program reads these specs the same way.

use std::path::PathBuf;

/// One `--video-out`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoOut {
    /// A Y4M file.
    File(PathBuf),
    /// A v4l2loopback device: the one named, or the first found.
    V4l2(Option<PathBuf>),
    /// OBS Virtual Camera's shared memory (Windows).
    Obs,
}

/// One `--audio-out`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioOut {
    /// A WAV file.
    File(PathBuf),
    /// The "Streaming Studio Microphone" through PulseAudio or PipeWire (Linux).
    Pulse,
    /// An output device by name (or part of it): VB-Cable's input on Windows, BlackHole on
    /// macOS. Empty names the default output.
    Device(String),
}

impl VideoOut {
    pub fn parse(spec: &str) -> Result<VideoOut, String> {
        match spec {
            "v4l2" => Ok(VideoOut::V4l2(None)),
            "obs" => Ok(VideoOut::Obs),
            _ => match spec.strip_prefix("v4l2:") {
                Some("") => Err("`v4l2:` needs a device, e.g. `v4l2:/dev/video10`".into()),
                Some(path) => Ok(VideoOut::V4l2(Some(PathBuf::from(path)))),
                None => Ok(VideoOut::File(PathBuf::from(spec))),
            },
        }
    }
}

impl AudioOut {
    pub fn parse(spec: &str) -> Result<AudioOut, String> {
        match spec {
            "pulse" => Ok(AudioOut::Pulse),
            _ => match spec.strip_prefix("device:") {
                Some(name) => Ok(AudioOut::Device(name.trim().to_string())),
                None => Ok(AudioOut::File(PathBuf::from(spec))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_to_devices_or_files() {
        assert_eq!(VideoOut::parse("v4l2"), Ok(VideoOut::V4l2(None)));
        assert_eq!(
            VideoOut::parse("v4l2:/dev/video10"),
            Ok(VideoOut::V4l2(Some("/dev/video10".into())))
        );
        assert_eq!(VideoOut::parse("obs"), Ok(VideoOut::Obs));
        assert_eq!(
            VideoOut::parse("out.y4m"),
            Ok(VideoOut::File("out.y4m".into()))
        );
        assert!(VideoOut::parse("v4l2:").is_err());
        assert_eq!(AudioOut::parse("pulse"), Ok(AudioOut::Pulse));
        assert_eq!(
            AudioOut::parse("device:CABLE Input"),
            Ok(AudioOut::Device("CABLE Input".into()))
        );
        assert_eq!(
            AudioOut::parse("out.wav"),
            Ok(AudioOut::File("out.wav".into()))
        );
    }
}
