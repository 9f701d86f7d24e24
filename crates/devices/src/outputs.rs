//! Opening what `--video-out` and `--audio-out` name besides files (the specs are
//! `studio_media::output`'s): the virtual camera (`v4l2[:/dev/videoN]` on Linux, `obs` on
//! Windows), the virtual microphone (`pulse` on Linux) and output devices (`device:<name>`).
//! Devices are opened before the run, so a missing driver is reported with its fix before any
//! server starts.

use anyhow::Context;
use std::path::PathBuf;
use studio_media::output::{AudioOut, VideoOut};
use studio_media::sink::{AudioWrite, VideoWrite};

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
                let output = crate::sound::SpeakerOutput::open(name, sample_rate)
                    .context("the audio output device")?;
                devices.push(Box::new(output));
            }
        }
    }
    Ok((file, devices))
}

/// This system's virtual camera: v4l2loopback on Linux, OBS Virtual Camera on Windows; macOS
/// has none yet.
pub fn virtual_camera() -> Option<VideoOut> {
    if cfg!(target_os = "linux") {
        Some(VideoOut::V4l2(None))
    } else if cfg!(windows) {
        Some(VideoOut::Obs)
    } else {
        None
    }
}

/// The virtual cable's playback side, found by part of its name.
const WINDOWS_CABLE: &str = "CABLE Input";
const MACOS_CABLE: &str = "BlackHole";

/// This system's virtual microphone: the studio's own PulseAudio/PipeWire microphone on
/// Linux, VB-Cable on Windows, BlackHole on macOS.
pub fn virtual_microphone() -> AudioOut {
    if cfg!(target_os = "linux") {
        AudioOut::Pulse
    } else if cfg!(windows) {
        AudioOut::Device(WINDOWS_CABLE.into())
    } else {
        AudioOut::Device(MACOS_CABLE.into())
    }
}

/// Whether an output device is one of the virtual microphones (the studio's own, VB-Cable,
/// BlackHole): the processed voice goes there already and must not be played into it twice.
pub fn is_virtual_microphone(name: &str) -> bool {
    let name = name.to_lowercase();
    [
        crate::pulse::MICROPHONE_DESCRIPTION,
        WINDOWS_CABLE,
        MACOS_CABLE,
    ]
    .iter()
    .any(|cable| name.contains(&cable.to_lowercase()))
}

/// What to install when the virtual microphone's cable is missing.
fn cable_hint() -> &'static str {
    if cfg!(windows) {
        "Install VB-Cable (free, from vb-audio.com/Cable), restart the studio, then choose          \"CABLE Output\" as the microphone in your call app"
    } else {
        "Install BlackHole 2ch (free, from existential.audio/blackhole), restart the studio, then          choose \"BlackHole 2ch\" as the microphone in your call app"
    }
}

/// Devices a window run opened, and the ones it could not, each with its fix.
pub struct VirtualDevices {
    pub video: Vec<Box<dyn VideoWrite>>,
    pub audio: Vec<Box<dyn AudioWrite>>,
    pub problems: Vec<String>,
}

/// Open the virtual camera and microphone asked for. One that cannot open is left out and
/// its problem returned: the studio still runs, with its previews, and says what to install.
pub fn open_virtual(
    camera: bool,
    microphone: bool,
    (width, height, fps): (u32, u32, f64),
    sample_rate: u32,
) -> VirtualDevices {
    let mut opened = VirtualDevices {
        video: Vec::new(),
        audio: Vec::new(),
        problems: Vec::new(),
    };
    if camera {
        match virtual_camera() {
            Some(out) => match open_video(&[out], width, height, fps) {
                Ok((_, devices)) => opened.video.extend(devices),
                Err(e) => opened.problems.push(format!("{e:#}")),
            },
            None => opened.problems.push(
                "There is no virtual camera on macOS yet: share the studio's window in your \
                 call instead"
                    .into(),
            ),
        }
    }
    if microphone {
        let out = virtual_microphone();
        match open_audio(std::slice::from_ref(&out), sample_rate) {
            Ok((_, devices)) => opened.audio.extend(devices),
            Err(e) if matches!(out, AudioOut::Device(_)) => {
                opened.problems.push(format!("{e:#}. {}", cable_hint()))
            }
            Err(e) => opened.problems.push(format!("{e:#}")),
        }
    }
    opened
}

#[cfg(target_os = "linux")]
fn open_v4l2(
    path: Option<&std::path::Path>,
    width: u32,
    height: u32,
) -> anyhow::Result<Box<dyn VideoWrite>> {
    let camera =
        crate::v4l2::open_virtual_camera(path, width, height).context("the virtual camera")?;
    Ok(Box::new(camera))
}

#[cfg(not(target_os = "linux"))]
fn open_v4l2(_: Option<&std::path::Path>, _: u32, _: u32) -> anyhow::Result<Box<dyn VideoWrite>> {
    anyhow::bail!("v4l2loopback is Linux only; on Windows use `--video-out obs`")
}

#[cfg(windows)]
fn open_obs(width: u32, height: u32, fps: f64) -> anyhow::Result<Box<dyn VideoWrite>> {
    use crate::obs::{ObsQueueWriter, QueueLayout, windows_mapping::Mapping};
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
    use crate::pulse::VirtualMicrophone;
    use crate::runner::SystemRunner;
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
    fn a_virtual_device_that_cannot_open_is_explained_and_the_run_goes_on() {
        let opened = open_virtual(true, false, (64, 48, 30.0), 48_000);
        assert_eq!(
            opened.video.len() + opened.problems.len(),
            1,
            "opened or explained, never silently dropped"
        );
        if let Some(problem) = opened.problems.first() {
            assert!(
                problem.contains("v4l2loopback") || problem.contains("macOS"),
                "names what is missing: {problem}"
            );
        }
        let none = open_virtual(false, false, (64, 48, 30.0), 48_000);
        assert!(none.video.is_empty() && none.audio.is_empty() && none.problems.is_empty());
    }

    #[cfg(not(windows))]
    #[test]
    fn obs_off_windows_says_what_to_use_instead() {
        let error = open_video(&[VideoOut::Obs], 64, 48, 30.0).err().unwrap();
        assert!(format!("{error:#}").contains("--video-out v4l2"));
    }
}
