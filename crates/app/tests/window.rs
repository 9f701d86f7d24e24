//! The window driven as a person would (through AccessKit, with egui_kittest) over real
//! `studio-server` processes: start, run, change face and voice live, stop.

mod common;

use common::step_until;

use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use std::path::Path;
use std::time::{Duration, Instant};
use studio_app::service::{Studio, StudioOptions};
use studio_app::state::{FaceImage, FaceUpload, Phase, Process, RunDevices, Snapshot};
use studio_app::window::StudioWindow;
use studio_proto::Role;
use studio_proto::api::ServerStatus;
use studio_proto::config::Config;
use studio_run::manager::ManagerOptions;

const VOICES: &str = r#"{"voices": {
    "robot": {"name": "Robot", "kind": "dsp"},
    "deep": {"name": "Deep", "kind": "dsp"}
}}"#;

struct Rig {
    runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

fn window(rig: &Rig, config_dir: &Path) -> Harness<'static, StudioWindow> {
    window_with(rig, config_dir, VOICES)
}

/// A window whose own configuration is `app_config`; the servers read [`VOICES`].
fn window_with(rig: &Rig, config_dir: &Path, app_config: &str) -> Harness<'static, StudioWindow> {
    let config_file = config_dir.join("config.json");
    std::fs::write(&config_file, VOICES).unwrap();
    let config = Config::from_layers(Some(("test config", app_config))).unwrap();
    let options = StudioOptions {
        manager: Ok(common::local_servers(Some(config_file), &config)),
        config,
        devices: RunDevices::none(),
        global_talk_key: false,
        choices_file: None,
    };
    let studio = Studio::start(rig.runtime.handle(), options, || {});
    Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
        .build_ui_state(
            |ui, window: &mut StudioWindow| window.frame(ui),
            StudioWindow::new(studio),
        )
}

fn rig() -> Rig {
    Rig {
        runtime: tokio::runtime::Runtime::new().unwrap(),
        _dir: tempfile::tempdir().unwrap(),
    }
}

/// Click a control as a person would: scrolled into view first (the left column scrolls).
fn click(harness: &mut Harness<'_, StudioWindow>, label: &str) {
    harness.get_by_label(label).scroll_to_me();
    // The scroll animates over a few frames.
    for _ in 0..30 {
        harness.step();
    }
    harness.get_by_label(label).click();
}

fn server_status(rig: &Rig, harness: &Harness<'_, StudioWindow>, role: Role) -> ServerStatus {
    let client = harness
        .state()
        .studio()
        .server_client(role)
        .expect("a running server");
    rig.runtime.block_on(client.status()).expect("status")
}

fn pid(snapshot: &Snapshot, role: Role) -> u32 {
    match snapshot.server(role).process {
        Process::Ready { pid } => pid,
        ref other => panic!("{role} server not ready: {other:?}"),
    }
}

#[cfg(target_os = "linux")]
#[test]
fn start_runs_both_servers_shows_live_figures_and_stop_ends_them() {
    let rig = rig();
    let dir = tempfile::tempdir().unwrap();
    let mut harness = window(&rig, dir.path());
    harness.get_by_label("Start").click();
    let running = step_until(&mut harness, Duration::from_secs(60), "running", |s| {
        s.phase == Phase::Running
            && s.servers
                .iter()
                .all(|c| c.latency_ms.is_some() && c.engine.is_some())
    });
    let pids = [pid(&running, Role::Video), pid(&running, Role::Audio)];
    assert!(pids.iter().all(|&p| common::alive(p)));
    harness.get_by_label("Stop");
    assert_eq!(
        harness
            .get_all_by_label_contains("Running (process")
            .count(),
        2
    );
    // Frames come back through the video server, and the rate follows from its status.
    let figures = step_until(&mut harness, Duration::from_secs(10), "a frame rate", |s| {
        s.server(Role::Video).rate_per_s.is_some_and(|r| r > 5.0)
    });
    assert!(figures.server(Role::Video).latency_ms.unwrap() < 1000.0);
    assert_eq!(server_status(&rig, &harness, Role::Video).sessions.len(), 1);

    harness.get_by_label("Stop").click();
    let idle = step_until(&mut harness, Duration::from_secs(20), "idle", |s| {
        s.phase == Phase::Idle
    });
    assert_eq!(idle.notice, None, "a clean stop says nothing");
    assert!(
        common::wait_until(Duration::from_secs(5), || pids
            .iter()
            .all(|&p| !common::alive(p))),
        "both servers are gone after Stop"
    );
    harness.get_by_label("Start");
}

#[cfg(target_os = "linux")]
#[test]
fn face_and_voice_changes_reach_the_running_servers_without_a_restart() {
    let rig = rig();
    let dir = tempfile::tempdir().unwrap();
    let face = dir.path().join("ada.png");
    image::RgbImage::from_fn(64, 80, |x, y| {
        image::Rgb([(x * 3) as u8, (y * 3) as u8, 128])
    })
    .save(&face)
    .unwrap();
    let mut harness = window(&rig, dir.path());
    harness.get_by_label("Start").click();
    let running = step_until(&mut harness, Duration::from_secs(60), "running", |s| {
        s.phase == Phase::Running
    });
    let pids = [pid(&running, Role::Video), pid(&running, Role::Audio)];

    // Voice: chosen in the window, in force in the audio server's session.
    click(&mut harness, "Robot");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        harness.step();
        let status = server_status(&rig, &harness, Role::Audio);
        if status
            .sessions
            .first()
            .and_then(|s| s.settings.voice_id.as_deref())
            == Some("robot")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "voice never reached the server: {status:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    click(&mut harness, "Deep");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        harness.step();
        let status = server_status(&rig, &harness, Role::Audio);
        if status
            .sessions
            .first()
            .and_then(|s| s.settings.voice_id.as_deref())
            == Some("deep")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "second voice never arrived: {status:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // Face: the image is read and shown, then sent to the video server; this server has no
    // face models yet, and the window offers to fetch them.
    click(&mut harness, "Image file (PNG or JPEG)");
    harness
        .get_by_label("Image file (PNG or JPEG)")
        .type_text(&face.display().to_string());
    harness.step();
    click(&mut harness, "Add");
    let answered = step_until(
        &mut harness,
        Duration::from_secs(10),
        "the face upload",
        |s| {
            s.faces.first().is_some_and(|f| {
                matches!(
                    f.upload,
                    FaceUpload::Failed(_)
                        | FaceUpload::Detected { .. }
                        | FaceUpload::NeedsModels(_)
                )
            })
        },
    );
    let entry = &answered.faces[0];
    assert!(matches!(entry.image, FaceImage::Loaded(_)));
    let FaceUpload::NeedsModels(message) = &entry.upload else {
        panic!("unexpected answer {:?}", entry.upload)
    };
    assert!(message.contains("face models"), "{message}");
    assert!(answered.face_models.is_some());
    assert!(harness.query_by_label("Fetch face models").is_some());
    let video = server_status(&rig, &harness, Role::Video);
    assert_eq!(
        video.sessions[0].settings.face_id, None,
        "a refused face changes nothing"
    );

    // Choosing "No face swap" goes through live too, and nothing was restarted.
    harness.get_by_label("No face swap").click();
    harness.step();
    assert_eq!(
        [
            pid(&harness.state().studio().snapshot(), Role::Video),
            pid(&harness.state().studio().snapshot(), Role::Audio)
        ],
        pids
    );
    assert_eq!(server_status(&rig, &harness, Role::Audio).sessions.len(), 1);

    // Quality: the pixel boost reaches the video session live.
    click(&mut harness, "×2");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        harness.step();
        let status = server_status(&rig, &harness, Role::Video);
        if status.sessions.first().and_then(|s| s.settings.pixel_boost) == Some(2) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the pixel boost never reached the server: {status:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(harness.state().studio().snapshot().pixel_boost, 2);

    // Pitch and timbre: the sliders move the voice in the running session.
    let slider = egui::accesskit::Role::Slider;
    harness
        .get_by_role_and_label(slider, "Voice pitch")
        .scroll_to_me();
    // The scroll animates over a few frames; a value set meanwhile can miss the slider.
    for _ in 0..30 {
        harness.step();
    }
    harness
        .get_by_role_and_label(slider, "Voice pitch")
        .set_value_accesskit(7.0);
    harness.step();
    harness.step();
    harness
        .get_by_role_and_label(slider, "Voice timbre")
        .set_value_accesskit(-1.5);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        harness.step();
        let status = server_status(&rig, &harness, Role::Audio);
        if status.sessions.first().and_then(|s| s.settings.voice_shift) == Some((7.0, -1.5)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the voice shift never reached the server: {status:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    harness.get_by_label("Stop").click();
    step_until(&mut harness, Duration::from_secs(20), "idle", |s| {
        s.phase == Phase::Idle
    });
}

/// Step the window until the audio server's session wears `voice`.
fn wait_for_voice(rig: &Rig, harness: &mut Harness<'_, StudioWindow>, voice: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        harness.step();
        let status = server_status(rig, harness, Role::Audio);
        if status
            .sessions
            .first()
            .and_then(|s| s.settings.voice_id.as_deref())
            == Some(voice)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{voice} never reached the server: {status:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn radio_chosen(harness: &Harness<'_, StudioWindow>, label: &str) -> bool {
    harness.get_by_label(label).accesskit_node().toggled() == Some(egui::accesskit::Toggled::True)
}

#[cfg(target_os = "linux")]
#[test]
fn a_voice_the_server_refuses_is_shown_refused_and_the_previous_voice_stays_chosen() {
    let rig = rig();
    let dir = tempfile::tempdir().unwrap();
    // The window offers a voice the audio server does not have (a configuration the two
    // do not share, as with a server started elsewhere).
    let app_config = r#"{"voices": {
        "robot": {"name": "Robot", "kind": "dsp"},
        "deep": {"name": "Deep", "kind": "dsp"},
        "ghost": {"name": "Ghost", "kind": "dsp", "pitch": 7}
    }}"#;
    let mut harness = window_with(&rig, dir.path(), app_config);
    harness.get_by_label("Start").click();
    step_until(&mut harness, Duration::from_secs(60), "running", |s| {
        s.phase == Phase::Running
    });
    click(&mut harness, "Robot");
    wait_for_voice(&rig, &mut harness, "robot");

    click(&mut harness, "Ghost");
    let refused = step_until(&mut harness, Duration::from_secs(10), "the refusal", |s| {
        s.voice_refused.is_some()
    });
    let refusal = refused.voice_refused.clone().unwrap();
    assert_eq!(refusal.id, "ghost");
    assert!(refusal.reason.contains("ghost"), "{refusal:?}");
    assert_eq!(refused.chosen_voice.as_deref(), Some("robot"));
    // Shown where it was chosen, in plain words with the server's reason, and Robot is
    // chosen again in the window as on the server.
    harness.get_by_label_contains("The audio server would not use Ghost: ");
    harness.get_by_label_contains(refusal.reason.as_str());
    assert!(radio_chosen(&harness, "Robot"));
    assert!(!radio_chosen(&harness, "Ghost"));
    harness.get_by_label_contains("Voice: Robot");
    let audio = server_status(&rig, &harness, Role::Audio);
    assert_eq!(
        audio.sessions[0].settings.voice_id.as_deref(),
        Some("robot"),
        "the server kept the voice it had"
    );

    // The next choice goes through as usual, and the refusal is gone.
    click(&mut harness, "Deep");
    wait_for_voice(&rig, &mut harness, "deep");
    step_until(
        &mut harness,
        Duration::from_secs(10),
        "the refusal to go",
        |s| s.voice_refused.is_none(),
    );
    assert!(
        harness.query_by_label_contains("would not use").is_none(),
        "the refusal is still shown"
    );

    harness.get_by_label("Stop").click();
    step_until(&mut harness, Duration::from_secs(20), "idle", |s| {
        s.phase == Phase::Idle
    });
}

#[test]
fn a_missing_server_binary_is_reported_in_plain_words() {
    let rig = rig();
    let config = Config::from_layers(Some((
        "test config",
        r#"{"servers": {"restart": {"initial_backoff_ms": 50, "max_backoff_ms": 100, "start_timeout_ms": 1500}}}"#,
    )))
    .unwrap();
    let options = StudioOptions {
        manager: Ok(ManagerOptions {
            server_binary: "/nonexistent/studio-server".into(),
            config_file: None,
            restart: config.servers.restart.clone(),
            inject_delay: Default::default(),
        }),
        config,
        devices: RunDevices::none(),
        global_talk_key: false,
        choices_file: None,
    };
    let studio = Studio::start(rig.runtime.handle(), options, || {});
    let mut harness = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
        .build_ui_state(
            |ui, window: &mut StudioWindow| window.frame(ui),
            StudioWindow::new(studio),
        );
    harness.get_by_label("Start").click();
    let failed = step_until(&mut harness, Duration::from_secs(20), "the failure", |s| {
        s.phase == Phase::Idle && s.notice.is_some()
    });
    let notice = failed.notice.unwrap();
    assert!(notice.is_error);
    assert!(
        notice.text.contains("/nonexistent/studio-server"),
        "{}",
        notice.text
    );
    harness.get_by_label_contains("could not start");
    harness.get_by_label("Start");
}

#[test]
fn cloud_mode_says_what_it_needs_and_starts_no_server() {
    let rig = rig();
    let config = Config::defaults().unwrap();
    let options = StudioOptions {
        manager: Err("not used: cloud mode starts no local server".into()),
        config,
        devices: RunDevices::none(),
        global_talk_key: false,
        choices_file: None,
    };
    let studio = Studio::start(rig.runtime.handle(), options, || {});
    let mut harness = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
        .build_ui_state(
            |ui, window: &mut StudioWindow| window.frame(ui),
            StudioWindow::new(studio),
        );
    harness.get_by_label("Cloud").click();
    // The key is looked up in the environment and the keyring (absent in a test run).
    let checked = step_until(
        &mut harness,
        Duration::from_secs(20),
        "the key check",
        |s| s.cloud.api_key != studio_app::state::ApiKey::NotChecked,
    );
    if std::env::var_os("RUNPOD_API_KEY").is_none() {
        assert_eq!(checked.cloud.api_key, studio_app::state::ApiKey::Missing);
        harness.get_by_label("Cloud mode needs a RunPod API key.");
    }
    harness.get_by_label("Price cap, $ per hour");
    harness.get_by_label("Start").click();
    let after = step_until(&mut harness, Duration::from_secs(5), "the notice", |s| {
        s.notice.is_some()
    });
    assert_eq!(after.phase, Phase::Idle, "nothing starts in cloud mode");
    assert!(after.server(Role::Video).process == Process::NotRunning);
}

#[test]
fn dropped_photos_become_faces_a_dropped_video_the_camera_and_anything_else_is_refused() {
    let rig = rig();
    let dir = tempfile::tempdir().unwrap();
    let (photo, clip, notes) = (
        dir.path().join("ada.JPG"),
        dir.path().join("clip.y4m"),
        dir.path().join("notes.txt"),
    );
    image::RgbImage::from_fn(40, 40, |x, y| image::Rgb([x as u8 * 6, y as u8 * 6, 90]))
        .save_with_format(&photo, image::ImageFormat::Jpeg)
        .unwrap();
    std::fs::write(&clip, b"YUV4MPEG2 W8 H8 F30:1 C420jpeg\n").unwrap();
    std::fs::write(&notes, b"hello").unwrap();
    let mut harness = window(&rig, dir.path());
    harness.step();
    for path in [&photo, &clip, &notes] {
        harness
            .input_mut()
            .dropped_files
            .push(std::sync::Arc::new(common::Dropped(path.clone())));
    }
    let dropped = step_until(&mut harness, Duration::from_secs(10), "the drop", |s| {
        s.faces
            .first()
            .is_some_and(|f| matches!(f.image, FaceImage::Loaded(_)))
    });
    assert_eq!(dropped.faces.len(), 1);
    assert_eq!(dropped.faces[0].path, photo);
    assert_eq!(dropped.chosen_face, Some(0));
    assert_eq!(
        dropped.camera,
        studio_app::state::Camera::VideoFile(clip.clone())
    );
    let notice = dropped.notice.expect("the text file is refused");
    assert!(notice.text.contains("notes.txt"), "{notice:?}");
    assert!(harness.query_by_label("ada.JPG").is_some());
}

/// Face mapping in the window: with two faces, a row says who wears which; it can be
/// changed and removed.
#[test]
fn with_two_faces_a_person_can_be_given_a_face_to_wear() {
    let rig = rig();
    let dir = tempfile::tempdir().unwrap();
    let mut harness = window(&rig, dir.path());
    assert!(
        harness.query_by_label("Add a person").is_none(),
        "one face or none: no rows"
    );
    harness.step();
    for (name, shade) in [("me.png", 40u8), ("ada.png", 200u8)] {
        let path = dir.path().join(name);
        image::RgbImage::from_fn(32, 40, |x, y| image::Rgb([shade, x as u8, y as u8]))
            .save(&path)
            .unwrap();
        harness
            .input_mut()
            .dropped_files
            .push(std::sync::Arc::new(common::Dropped(path)));
    }
    step_until(&mut harness, Duration::from_secs(10), "two faces", |s| {
        s.faces.len() == 2
    });
    click(&mut harness, "Add a person");
    let mapped = step_until(&mut harness, Duration::from_secs(5), "a row", |s| {
        !s.people.is_empty()
    });
    // Me (the first face) wears Ada (the chosen one, the last added).
    assert_eq!(
        mapped.people,
        [studio_app::state::PersonRow {
            person: 0,
            wears: 1
        }]
    );
    assert!(harness.query_by_label("wears").is_some());
    click(&mut harness, "Remove");
    step_until(&mut harness, Duration::from_secs(5), "no row", |s| {
        s.people.is_empty()
    });
}
