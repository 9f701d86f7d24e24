//! Helpers shared by the app's end-to-end tests: the binaries, and the processes they start.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// How the studio starts this build's servers, with `config_file` as their user file.
pub fn local_servers(
    config_file: Option<PathBuf>,
    config: &studio_proto::config::Config,
) -> studio_run::manager::ManagerOptions {
    studio_run::manager::ManagerOptions {
        server_binary: server_binary(),
        config_file,
        restart: config.servers.restart.clone(),
        inject_delay: Default::default(),
    }
}

// This build's `studio-server`, a server process started for a test, and the stand-in face
// models, as the run's tests have them.
#[path = "../../run/tests/support/mod.rs"]
mod run_support;
// Each test file uses a different part of this module.
#[allow(unused_imports)]
pub use run_support::{
    ServerProcess, server_binary, standin_face_model_entries, standin_models,
    standin_voice_model_entries, standin_voice_models, start_server,
};

/// `studio` with the server binary it must use and no user configuration.
pub fn studio() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_studio"));
    command
        .env("STUDIO_SERVER_BIN", server_binary())
        .env_remove("STUDIO_CONFIG")
        .env("STUDIO_LOG", "warn");
    command
}

/// Children of `pid` (Linux `/proc`), as `(pid, command line)`.
#[cfg(target_os = "linux")]
pub fn children(pid: u32) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // The fields after the command name: state, then the parent's pid.
        let Some(after_name) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
            continue;
        };
        let mut fields = after_name.split_whitespace();
        let (_state, parent) = (fields.next(), fields.next());
        if parent.and_then(|p| p.parse::<u32>().ok()) == Some(pid) {
            let cmdline = std::fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            found.push((child, cmdline));
        }
    }
    found
}

/// True while `pid` exists and is not a zombie.
#[cfg(target_os = "linux")]
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next()),
            Some("Z") | Some("X")
        ),
        Err(_) => false,
    }
}

/// The running server of `role` under `parent`, waiting up to `timeout` for it.
#[cfg(target_os = "linux")]
pub fn wait_for_server(parent: u32, role: &str, except: Option<u32>, timeout: Duration) -> u32 {
    let deadline = Instant::now() + timeout;
    loop {
        let found = children(parent).into_iter().find(|(pid, cmd)| {
            cmd.contains("studio-server")
                && cmd.contains(&format!("--role {role}"))
                && Some(*pid) != except
        });
        if let Some((pid, _)) = found {
            return pid;
        }
        assert!(Instant::now() < deadline, "no {role} server under {parent}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(unix)]
pub fn signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) with a pid we started and a valid signal number has no memory effects.
    let rc = unsafe { libc::kill(pid as i32, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal})");
}

pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

/// The faces the engine finds in `frame` when it wears `photo`, through the same code and
/// stand-in models as the server (tract, the detector on every frame).
pub fn face_boxes(
    frame: &studio_media::I420Image,
    photo: &studio_media::RgbImage,
) -> Vec<studio_face::Detection> {
    use studio_media::engine::{VideoProcessor, VideoSetting};
    let options = studio_infer::ModelOptions {
        backend: studio_infer::BackendChoice::Tract,
        ..studio_infer::ModelOptions::default()
    };
    let engine = std::sync::Arc::new(studio_face::pipeline::FaceEngine::new(
        studio_face::pipeline::FaceModels::load_dir(&standin_models(), &options).unwrap(),
        1,
    ));
    let target = engine.add_face(photo).unwrap();
    let mut processor = engine.processor();
    processor
        .apply(&VideoSetting::Face(Some(target.id)))
        .unwrap();
    processor.process(studio_media::VideoFrame {
        seq: 0,
        capture: studio_media::Timestamp(0),
        image: frame.clone(),
    });
    processor.faces().to_vec()
}

/// Whether pixel `(x, y)` lies inside one of `faces`' boxes (a pixel of margin for the blend).
pub fn inside_any(faces: &[studio_face::Detection], x: u32, y: u32) -> bool {
    let (x, y) = (x as f32, y as f32);
    faces.iter().any(|f| {
        let b = f.bbox;
        x >= b[0].floor() - 1.0
            && x <= b[2].ceil() + 1.0
            && y >= b[1].floor() - 1.0
            && y <= b[3].ceil() + 1.0
    })
}

/// Step the window until `done` holds for the studio's snapshot.
pub fn step_until(
    harness: &mut egui_kittest::Harness<'_, studio_app::window::StudioWindow>,
    timeout: Duration,
    what: &str,
    done: impl Fn(&studio_app::state::Snapshot) -> bool,
) -> studio_app::state::Snapshot {
    let deadline = Instant::now() + timeout;
    loop {
        harness.step();
        let snapshot = harness.state().studio().snapshot();
        if done(&snapshot) {
            harness.step();
            return snapshot;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; snapshot: {snapshot:#?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait up to `timeout` until `done` holds for the studio's snapshot, and return it.
pub fn wait_for_snapshot(
    studio: &studio_app::service::Studio,
    timeout: Duration,
    what: &str,
    done: impl Fn(&studio_app::state::Snapshot) -> bool,
) -> studio_app::state::Snapshot {
    let deadline = Instant::now() + timeout;
    loop {
        let snapshot = studio.snapshot();
        if done(&snapshot) {
            return snapshot;
        }
        assert!(
            Instant::now() < deadline,
            "waited in vain for {what}: {snapshot:#?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A file as a desktop hands it to the window when dropped.
#[derive(Debug)]
pub struct Dropped(pub PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &std::path::Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

/// A WAV file's rate and every sample in it.
pub fn read_all_samples(path: &std::path::Path) -> (u32, Vec<f32>) {
    use studio_media::source::AudioSource;
    let mut reader = studio_media::wav::WavReader::open(path).expect("output WAV");
    let rate = reader.sample_rate();
    let mut samples = Vec::new();
    while let Some(chunk) = reader.read(48_000).expect("samples") {
        if chunk.is_empty() {
            break;
        }
        samples.extend(chunk);
    }
    (rate, samples)
}
