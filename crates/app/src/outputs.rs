//! What `--video-out` and `--audio-out` name besides files: the virtual camera
//! (`v4l2[:/dev/videoN]` on Linux, `obs` on Windows) and the virtual microphone (`pulse` on
//! Linux). Devices are opened here, before the run, so a missing driver is reported with its
//! fix before any server starts.

use anyhow::Context;
use std::path::PathBuf;
use studio_media::sink::{AudioWrite, VideoWrite};

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

/// The one file output (the run creates it, after checking its inputs) and the devices,
/// already open.
pub type Opened<W> = (Option<PathBuf>, Vec<Box<W>>);

/// Split the outputs into the one file (the run writes it) and opened devices.
pub fn open_video(
    outs: &[VideoOut],
    width: u32,
    height: u32,
    fps: f64,
) -> anyhow::Result<Opened<dyn VideoWrite>> {
    let mut file = None;
    let mut devices: Vec<Box<dyn VideoWrite>> = Vec::new();
    for out in outs {
        match out {
            VideoOut::File(path) => {
                if file.replace(path.clone()).is_some() {
                    anyhow::bail!("only one video file output at a time");
                }
            }
            VideoOut::V4l2(path) => devices.push(open_v4l2(path.as_deref(), width, height)?),
            VideoOut::Obs => devices.push(open_obs(width, height, fps)?),
        }
    }
    Ok((file, devices))
}

pub fn open_audio(outs: &[AudioOut], sample_rate: u32) -> anyhow::Result<Opened<dyn AudioWrite>> {
    let mut file = None;
    let mut devices: Vec<Box<dyn AudioWrite>> = Vec::new();
    for out in outs {
        match out {
            AudioOut::File(path) => {
                if file.replace(path.clone()).is_some() {
                    anyhow::bail!("only one audio file output at a time");
                }
            }
            AudioOut::Pulse => devices.push(open_pulse(sample_rate)?),
            AudioOut::Device(name) => {
                let name = (!name.is_empty()).then_some(name.as_str());
                let output = studio_media::devices::sound::SpeakerOutput::open(name, sample_rate)
                    .context("the audio output device")?;
                devices.push(Box::new(output));
            }
        }
    }
    Ok((file, devices))
}

#[cfg(target_os = "linux")]
fn open_v4l2(
    path: Option<&std::path::Path>,
    width: u32,
    height: u32,
) -> anyhow::Result<Box<dyn VideoWrite>> {
    let camera = studio_media::devices::v4l2::open_virtual_camera(path, width, height)
        .context("the virtual camera")?;
    Ok(Box::new(camera))
}

#[cfg(not(target_os = "linux"))]
fn open_v4l2(_: Option<&std::path::Path>, _: u32, _: u32) -> anyhow::Result<Box<dyn VideoWrite>> {
    anyhow::bail!("v4l2loopback is Linux only; on Windows use `--video-out obs`")
}

#[cfg(windows)]
fn open_obs(width: u32, height: u32, fps: f64) -> anyhow::Result<Box<dyn VideoWrite>> {
    use studio_media::devices::obs::{ObsQueueWriter, QueueLayout, windows_mapping::Mapping};
    let mapping =
        Mapping::create(&QueueLayout::new(width, height)).context("OBS Virtual Camera")?;
    Ok(Box::new(
        ObsQueueWriter::new(mapping, width, height, fps).context("OBS Virtual Camera")?,
    ))
}

#[cfg(not(windows))]
fn open_obs(_: u32, _: u32, _: f64) -> anyhow::Result<Box<dyn VideoWrite>> {
    anyhow::bail!(
        "OBS Virtual Camera is the Windows virtual camera; on Linux use `--video-out v4l2` \
         (macOS has no virtual camera support yet)"
    )
}

#[cfg(unix)]
fn open_pulse(sample_rate: u32) -> anyhow::Result<Box<dyn AudioWrite>> {
    use studio_media::devices::pulse::VirtualMicrophone;
    use studio_media::devices::runner::SystemRunner;
    let microphone = VirtualMicrophone::open(SystemRunner, sample_rate, process_alive)
        .context("the virtual microphone")?;
    Ok(Box::new(microphone))
}

#[cfg(not(unix))]
fn open_pulse(_: u32) -> anyhow::Result<Box<dyn AudioWrite>> {
    anyhow::bail!(
        "`pulse` is the Linux virtual microphone; on Windows install VB-Cable and pick its \
         input as the output device"
    )
}

/// Whether a process runs (a leftover virtual microphone's owner).
#[cfg(unix)]
fn process_alive(pid: u32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as i32, 0) == 0 }
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

    #[cfg(not(windows))]
    #[test]
    fn obs_off_windows_says_what_to_use_instead() {
        let error = open_video(&[VideoOut::Obs], 64, 48, 30.0).err().unwrap();
        assert!(format!("{error:#}").contains("--video-out v4l2"));
    }
}
