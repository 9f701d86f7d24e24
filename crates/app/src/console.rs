//! The studio in a terminal: what `studio` does where no window can open (a server, a remote
//! shell). The same run the window's Start gives — the first camera (else the test pattern),
//! the default microphone (else a tone), the virtual camera and microphone where this system
//! has them — with a status line every second, until Ctrl-C.

use std::time::Duration;
use studio_media::input::{AudioInput, VideoInput};
use studio_proto::config::Config;
use studio_run::manager::ManagerOptions;
use studio_run::{CancellationToken, Outcome, RunSpec, Servers, StoppedEarly};

/// How often the status line is printed.
const STATUS_EVERY: Duration = Duration::from_secs(1);

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
    println!(
        "out: the virtual camera and microphone where this system has them (`studio doctor` \
         says how to add them)"
    );
    let spec = RunSpec {
        video_in,
        audio_in: AudioInput::Microphone(None),
        microphone_fallback: true,
        virtual_camera: true,
        virtual_microphone: true,
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
