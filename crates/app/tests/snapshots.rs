//! Pictures of the window's main states, rendered with wgpu (software Vulkan in CI) and
//! compared with the PNGs committed beside this file. Each state is reached by feeding the
//! state store the events that lead to it, exactly as the driver does.
//!
//! To accept a deliberate change: `UPDATE_SNAPSHOTS=true cargo test -p studio-app --test snapshots`.

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use studio_app::state::{Command, Event, FaceRefusal, Snapshot, Store, Thumbnail};
use studio_app::window::{View, apply_theme, show};
use studio_media::VideoFrame;
use studio_media::source::{FrameRate, VideoFormat, VideoSource};
use studio_media::synthetic::TestPattern;
use studio_proto::Role;
use studio_proto::api::{
    FaceAdded, Load, ModelState, ModelStatus, ServerStatus, SessionState, SessionStatus,
    TransportKind, VoiceAdded, VoiceEntry, VoiceKind,
};
use studio_proto::config::Config;
use studio_proto::control::{EnhancerPace, LiveSettings};
use studio_run::manager::ManagerEvent;

const SIZE: egui::Vec2 = egui::Vec2::new(1280.0, 800.0);

fn store() -> Store {
    Store::new(&Config::defaults().unwrap())
}

fn status(role: Role, models: Vec<ModelStatus>, processed: u64, sessions: usize) -> Event {
    status_at(role, models, processed, sessions, Instant::now())
}

fn status_at(
    role: Role,
    models: Vec<ModelStatus>,
    processed: u64,
    sessions: usize,
    at: Instant,
) -> Event {
    Event::Status {
        status: Box::new(ServerStatus {
            role,
            version: "0.1.0".into(),
            engine: "identity".into(),
            backend: "cpu".into(),
            device: "cpu".into(),
            models,
            sessions: (0..sessions)
                .map(|i| SessionStatus {
                    id: format!("s{i}"),
                    transport: TransportKind::Raw,
                    state: SessionState::Open,
                    frames_in: processed,
                    frames_out: processed,
                    frames_dropped: 0,
                    samples_in: 0,
                    samples_out: 0,
                    converted_blocks: 0,
                    settings: LiveSettings::default(),
                    queue_drops: Default::default(),
                    enhancer: None,
                })
                .collect(),
            load: Load {
                process_ms_mean: if processed > 0 { 0.42 } else { 0.0 },
                processed_total: processed,
            },
            uptime_s: 3.0,
        }),
        at,
    }
}

fn model(id: &str, state: ModelState, done: u64, total: u64, error: Option<&str>) -> ModelStatus {
    ModelStatus {
        id: id.into(),
        state,
        bytes_done: done,
        bytes_total: Some(total),
        error: error.map(str::to_string),
        rate_bytes_per_s: None,
        eta_s: None,
        sha256: None,
        trust: None,
    }
}

fn ready(role: Role, pid: u32) -> Event {
    Event::Manager(ManagerEvent::Ready {
        role,
        pid,
        url: "http://127.0.0.1:40000".into(),
    })
}

/// A face picture made here, so the snapshot needs no image file: a light oval on grey.
fn face_thumbnail() -> Arc<Thumbnail> {
    let (w, h) = (72u32, 96u32);
    let mut rgba = Vec::with_capacity((w * h * 4) as usize);
    for y in 0..h {
        for x in 0..w {
            let dx = (x as f32 - 36.0) / 24.0;
            let dy = (y as f32 - 44.0) / 32.0;
            let shade = if dx * dx + dy * dy < 1.0 { 205 } else { 70 };
            rgba.extend([shade, shade, shade, 255]);
        }
    }
    Arc::new(Thumbnail {
        width: w,
        height: h,
        rgba,
        image_width: 720,
        image_height: 960,
    })
}

fn voice(id: &str, name: &str, kind: VoiceKind, ready: bool) -> VoiceEntry {
    VoiceEntry {
        id: id.into(),
        name: name.into(),
        kind,
        latency_ms: 20.0,
        block_ms: 10.0,
        context_ms: 30.0,
        crossfade_ms: 10.0,
        ready,
        problem: (!ready).then(|| "model file ada.onnx is missing".into()),
        convert_ms: None,
        needs: Vec::new(),
        index_rate: None,
    }
}

fn voices() -> Event {
    Event::Voices(Ok(vec![
        voice("robot", "Robot", VoiceKind::Dsp, true),
        voice("deep", "Deep", VoiceKind::Dsp, true),
        voice("ada", "Ada (neural)", VoiceKind::Neural, false),
    ]))
}

fn test_frame() -> VideoFrame {
    let format = VideoFormat {
        width: 1280,
        height: 720,
        rate: FrameRate::per_second(30),
    };
    let mut pattern = TestPattern::new(format);
    let image = (0..12)
        .map(|_| pattern.next_image().unwrap().unwrap())
        .last()
        .unwrap();
    VideoFrame {
        seq: 11,
        capture: studio_media::Timestamp::from_duration(Duration::ZERO),
        image,
    }
}

fn harness(snapshot: Snapshot, frame: Option<VideoFrame>) -> Harness<'static, (Snapshot, View)> {
    let mut harness = Harness::builder()
        .with_size(SIZE)
        .with_context_setup(apply_theme)
        .build_ui_state(
            move |ui, (snapshot, view): &mut (Snapshot, View)| {
                if let Some(frame) = &frame {
                    view.set_previews(ui.ctx(), Some(frame), Some(frame));
                }
                show(ui, snapshot, view);
            },
            (snapshot, View::default()),
        );
    harness.run();
    harness
}

fn idle() -> Snapshot {
    store().snapshot()
}

fn starting() -> Snapshot {
    let mut store = store();
    store.command(Command::Start);
    store.apply(ready(Role::Audio, 4242));
    store.apply(status(Role::Audio, vec![], 0, 0));
    store.apply(status(
        Role::Video,
        vec![
            model("det_10g", ModelState::Ready, 16_900_000, 16_900_000, None),
            model(
                "w600k_r50",
                ModelState::Verifying,
                174_000_000,
                174_000_000,
                None,
            ),
            model(
                "inswapper_128",
                ModelState::Downloading,
                212_000_000,
                554_000_000,
                None,
            ),
            model("gfpgan_1.4", ModelState::Pending, 0, 348_000_000, None),
        ],
        0,
        0,
    ));
    store.snapshot()
}

fn running() -> Snapshot {
    running_store().snapshot()
}

fn running_store() -> Store {
    let mut store = store();
    let face = PathBuf::from("/home/sam/Pictures/ada.jpg");
    store.command(Command::AddFace(face.clone()));
    store.command(Command::Start);
    store.apply(Event::FaceLoaded {
        path: face.clone(),
        result: Ok(face_thumbnail()),
    });
    let t0 = Instant::now();
    for (role, pid) in [(Role::Video, 4241), (Role::Audio, 4242)] {
        store.apply(ready(role, pid));
        store.apply(Event::ServerUp(role, true));
        store.apply(status_at(role, vec![], 300, 1, t0));
        let per_s = if role == Role::Video { 30 } else { 50 };
        store.apply(status_at(
            role,
            vec![],
            300 + per_s,
            1,
            t0 + Duration::from_secs(1),
        ));
        store.apply(Event::Session(role, true));
    }
    store.apply(Event::FaceUploaded {
        path: face,
        result: Ok(FaceAdded {
            id: "f-1".into(),
            // Corners: the same face as 460 x 620 pixels from (130, 150).
            bbox: [130.0, 150.0, 590.0, 770.0],
            faces: 1,
            warning: None,
        }),
    });
    store.apply(voices());
    store.command(Command::ChooseVoice("robot".into()));
    store.apply(Event::Latency(Role::Video, 41.3));
    store.apply(Event::Latency(Role::Audio, 23.8));
    store
}

fn error() -> Snapshot {
    let mut store = store();
    let face = PathBuf::from("/home/sam/Pictures/holiday.jpg");
    store.command(Command::AddFace(face.clone()));
    store.command(Command::Start);
    store.apply(Event::FaceLoaded {
        path: face.clone(),
        result: Ok(face_thumbnail()),
    });
    store.apply(ready(Role::Video, 4241));
    store.apply(Event::ServerUp(Role::Video, true));
    store.apply(Event::FaceUploaded {
        path: face,
        result: Err(FaceRefusal::other(
            "no face was found in this image: try a clear, front-facing photo",
        )),
    });
    store.apply(ready(Role::Audio, 4242));
    store.apply(Event::Voices(Err(
        "voices are not available in this version: media passes through unchanged".into(),
    )));
    store.apply(status(
        Role::Video,
        vec![
            model("det_10g", ModelState::Ready, 16_900_000, 16_900_000, None),
            model(
                "inswapper_128",
                ModelState::Failed,
                131_000_000,
                554_000_000,
                Some("the download stopped: connection reset (3 tries); press Start to resume"),
            ),
        ],
        0,
        0,
    ));
    store.snapshot()
}

/// A face chosen on a video server without the face models: the offer, then its fetch.
fn face_models(fetching: bool) -> Snapshot {
    let mut store = store();
    let face = PathBuf::from("/home/sam/Pictures/holiday.jpg");
    store.command(Command::AddFace(face.clone()));
    store.command(Command::Start);
    store.apply(Event::FaceLoaded {
        path: face.clone(),
        result: Ok(face_thumbnail()),
    });
    store.apply(ready(Role::Video, 4241));
    store.apply(Event::ServerUp(Role::Video, true));
    store.apply(ready(Role::Audio, 4242));
    store.apply(voices());
    store.apply(Event::FaceUploaded {
        path: face,
        result: Err(FaceRefusal {
            message: "the face models are not on this server yet".into(),
            models_missing: true,
        }),
    });
    if fetching {
        store.command(Command::FetchFaceModels);
        store.apply(status(
            Role::Video,
            vec![
                model("det_10g", ModelState::Ready, 16_923_827, 16_923_827, None),
                model(
                    "w600k_r50",
                    ModelState::Downloading,
                    98_000_000,
                    174_383_860,
                    None,
                ),
                model("inswapper_128", ModelState::Pending, 0, 555_303_150, None),
            ],
            0,
            1,
        ));
    }
    store.snapshot()
}

#[test]
fn idle_window() {
    let mut harness = harness(idle(), None);
    harness.get_by_label("Start");
    harness.get_by_label_contains("Start runs both servers");
    harness.snapshot("idle");
}

#[test]
fn starting_with_downloads_in_progress() {
    let snapshot = starting();
    let models = &snapshot.server(Role::Video).models;
    assert_eq!(models[2].state, ModelState::Downloading);
    let mut harness = harness(snapshot, None);
    harness.get_by_label("Stop");
    harness.get_by_label("downloading");
    harness.get_by_label("212.0 MB of 554.0 MB");
    harness.snapshot("starting");
}

#[test]
fn running_with_previews_face_and_voice() {
    let snapshot = running();
    assert_eq!(snapshot.phase, studio_app::state::Phase::Running);
    let mut harness = harness(snapshot, Some(test_frame()));
    harness.get_by_label("30.0 fps");
    harness.get_by_label("Face found.");
    harness.get_by_label_contains("Voice: Robot");
    harness.snapshot("running");
}

#[test]
fn error_failed_download_and_refused_face() {
    let snapshot = error();
    let notice = snapshot.notice.clone().unwrap();
    assert!(notice.text.contains("inswapper_128"), "{notice:?}");
    let mut harness = harness(snapshot, None);
    harness.get_by_label("failed");
    harness.get_by_label("the download stopped: connection reset (3 tries); press Start to resume");
    harness.get_by_label_contains("no face was found");
    harness.get_by_label_contains("could not get a model");
    harness.snapshot("error");
}

/// A voice added from a file while its shared model downloads, one on its way to the server,
/// and one ready with its cost measured on this server.
fn adding_a_voice() -> Snapshot {
    let mut store = store();
    store.command(Command::Start);
    for (role, pid) in [(Role::Video, 4241), (Role::Audio, 4242)] {
        store.apply(ready(role, pid));
        store.apply(Event::ServerUp(role, true));
        store.apply(Event::Session(role, true));
    }
    let tenor = VoiceEntry {
        convert_ms: Some(38.0),
        latency_ms: 130.0,
        ..voice("file-1b2c3d4e5f60", "Tenor", VoiceKind::Neural, true)
    };
    store.apply(Event::Voices(Ok(vec![
        voice("robot", "Robot", VoiceKind::Dsp, true),
        tenor,
    ])));
    let alto = PathBuf::from("/home/sam/Voices/Alto.onnx");
    store.command(Command::AddVoice(alto.clone()));
    store.apply(Event::VoiceUploaded {
        path: alto,
        index_problem: None,
        result: Ok(VoiceAdded {
            id: "file-a1b2c3d4e5f6".into(),
            entry: VoiceEntry {
                problem: Some("waiting for contentvec_768".into()),
                needs: vec!["contentvec_768".into()],
                ..voice("file-a1b2c3d4e5f6", "Alto", VoiceKind::Neural, false)
            },
        }),
    });
    store.command(Command::AddVoice(PathBuf::from(
        "/home/sam/Voices/Bass.onnx",
    )));
    store.apply(status(
        Role::Audio,
        vec![model(
            "contentvec_768",
            ModelState::Downloading,
            151_000_000,
            377_655_729,
            None,
        )],
        0,
        1,
    ));
    store.snapshot()
}

#[test]
fn a_voice_from_a_file_waits_for_its_shared_model() {
    let snapshot = adding_a_voice();
    // Chosen at once, sent to the sessions once it is ready.
    assert_eq!(snapshot.chosen_voice.as_deref(), Some("file-a1b2c3d4e5f6"));
    let mut harness = harness(snapshot, None);
    // Tall enough that the voice section, below the face's, is in the picture.
    harness.set_size(egui::Vec2::new(SIZE.x, 1280.0));
    harness.run();
    harness.get_by_label("fetching contentvec_768 40%");
    harness.get_by_label("ready · 130 ms delay · 38 ms per block here");
    harness.get_by_label_contains("Bass · sending to the audio server");
    harness.get_by_label("Add a voice…");
    harness.snapshot("adding-a-voice");
}

#[test]
fn face_models_offered_with_their_licence() {
    let snapshot = face_models(false);
    assert!(snapshot.face_models.is_some());
    let mut harness = harness(snapshot, None);
    harness.get_by_label_contains("The face swap needs 3 model files");
    harness.get_by_label_contains("non-commercial research use only");
    harness.get_by_label("Fetch face models");
    harness.snapshot("face-models");
}

#[test]
fn face_models_fetching() {
    let snapshot = face_models(true);
    assert!(snapshot.face_models.as_ref().is_some_and(|o| o.fetching));
    let mut harness = harness(snapshot, None);
    harness.get_by_label("Fetching the face models…");
    assert!(harness.query_by_label("Fetch face models").is_none());
    harness.snapshot("fetching-face-models");
}

/// Running with GFPGAN on and its rate left to the video server, which says how often it
/// runs it to keep up with the camera.
fn running_with_the_enhancer() -> Snapshot {
    let mut store = running_store();
    store.command(Command::Enhancer(Some("gfpgan_1.4".into())));
    let mut event = status_at(Role::Video, vec![], 360, 1, Instant::now());
    if let Event::Status { status, .. } = &mut event {
        status.sessions[0].enhancer = Some(EnhancerPace {
            every: 2,
            automatic: true,
            fps: 30.0,
            limit: None,
        });
    }
    store.apply(event);
    store.snapshot()
}

#[test]
fn the_enhancer_left_automatic_says_how_often_it_runs() {
    let snapshot = running_with_the_enhancer();
    let mut harness = harness(snapshot, Some(test_frame()));
    // Tall enough that the quality section is in the picture.
    harness.set_size(egui::Vec2::new(SIZE.x, 2000.0));
    harness.run();
    harness.get(
        egui_kittest::kittest::by()
            .label("Enhancer runs")
            .value("Automatic"),
    );
    harness.get_by_label("Enhancer: every 2nd frame to keep 30 fps.");
    harness.snapshot("enhancer-automatic");
}
