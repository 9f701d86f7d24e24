//! The studio in a terminal: what `studio` does where no window can open (a server, a remote
//! shell). The same run the window's Start gives — the first camera (else the test pattern),
//! the default microphone (else a tone), the virtual camera and microphone where this system
//! has them, else files in a folder it names — with a status line every second, until Ctrl-C.

use std::path::PathBuf;
use std::time::Duration;
use studio_media::input::{AudioInput, VideoInput};
use studio_proto::config::Config;
use studio_run::manager::ManagerOptions;
use studio_run::{CancellationToken, DeviceFallback, Outcome, RunSpec, Servers, StoppedEarly};

/// How often the status line is printed.
const STATUS_EVERY: Duration = Duration::from_secs(1);
/// How much the files that stand in for missing virtual devices keep: enough to look at and
/// listen to, bounded (a Y4M file takes over 1 MB per 720p frame).
const FALLBACK_VIDEO_SECONDS: f64 = 5.0;
const FALLBACK_AUDIO_SECONDS: f64 = 600.0;
/// Overrides where those files go.
pub const OUTPUT_DIR_ENV: &str = "STUDIO_OUTPUT_DIR";

/// The folder for the stand-in files: `STUDIO_OUTPUT_DIR`, else the app data folder's
/// `output`, else the current folder's.
fn output_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(OUTPUT_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    directories::ProjectDirs::from("", "", "streaming-studio")
        .map(|d| d.data_dir().join("output"))
        .unwrap_or_else(|| PathBuf::from("studio-output"))
}

/// The camera the console run uses: the first one this system lists, else the test pattern.
fn first_camera() -> (VideoInput, String) {
    let camera = crate::doctor::cameras()
        .unwrap_or_default()
        .into_iter()
        .next();
    match camera {
        Some(d) => {
            let spec = d
                .spec
                .strip_prefix("camera:")
                .unwrap_or(&d.spec)
                .to_string();
            (VideoInput::Camera(spec), d.name)
        }
        None => (VideoInput::Test, "no camera found: the test pattern".into()),
    }
}

/// Run until `cancel` (Ctrl-C) and print what happened.
pub async fn run(
    config: &Config,
    manager: ManagerOptions,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let (video_in, camera) = first_camera();
    println!("studio: no display found, so the studio runs in this terminal (Ctrl-C stops it)");
    println!("camera: {camera}");
    println!("microphone: the default one (a tone if there is none)");
    let fallback = DeviceFallback {
        dir: output_dir(),
        video_seconds: FALLBACK_VIDEO_SECONDS,
        audio_seconds: FALLBACK_AUDIO_SECONDS,
    };
    println!(
        "out: the virtual camera and microphone where this system has them (`studio doctor` \
         says how to add them), else files in {}",
        fallback.dir.display()
    );
    let spec = RunSpec {
        video_in,
        audio_in: AudioInput::Microphone(None),
        microphone_fallback: true,
        virtual_camera: true,
        virtual_microphone: true,
        device_fallback: Some(fallback),
        status_every: Some(STATUS_EVERY),
        ..RunSpec::new(Servers::Local(manager))
    };
    match studio_run::run(config, spec, cancel).await {
        Ok(Outcome { report, .. }) => {
            println!(
                "studio: stopped after {:.1} s: video {} frames in, {} out; audio {} samples in, {} out; {} server restart(s)",
                report.seconds,
                report.video.frames_in,
                report.video.frames_out,
                report.audio.samples_in,
                report.audio.samples_out,
                report.restarts,
            );
            Ok(())
        }
        // Ctrl-C before the servers were up is a stop like any other.
        Err(e) if e.is::<StoppedEarly>() => {
            println!("studio: stopped before the servers were ready");
            Ok(())
        }
        Err(e) => Err(e),
    }
}
