//! Face swap in two clicks, in the window over real servers: a face added while the face
//! models are missing brings the offer (files, size, licence) with one button; the video
//! server fetches them (from a loopback file server here), verifies and loads them, and the
//! swap starts without a restart: the processed preview differs from the camera inside the
//! face box only.

mod common;
#[path = "../../models/tests/support/file_server.rs"]
mod file_server;

use common::{face_boxes, inside_any, standin_face_model_entries, step_until};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use file_server::FileServer;
use std::path::Path;
use std::time::{Duration, Instant};
use studio_app::service::{Studio, StudioOptions};
use studio_app::state::{Camera, Command, FaceUpload, Phase, Process, RunDevices};
use studio_app::window::StudioWindow;
use studio_face::standin::textured;
use studio_media::source::{FrameRate, VideoFormat};
use studio_media::y4m::Y4mWriter;
use studio_proto::Role;
use studio_proto::config::{Config, FACE_MODEL_IDS};

/// One configuration for the window and its servers: the face models served by `files`, a
/// private cache, tract and the detector on every frame (so the test's boxes are the same).
fn config_json(dir: &Path, files: &FileServer) -> String {
    let models = standin_face_model_entries(|name, bytes| {
        files.serve(name, bytes);
        files.url(name)
    });
    serde_json::json!({
        "servers": {
            "video": {"backend": "tract"},
            "cache_dir": dir.join("cache").display().to_string()
        },
        "face": {"detect_every": 1},
        "models": models,
    })
    .to_string()
}

#[test]
fn a_face_without_its_models_is_swapped_after_one_click_on_fetch() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let files = runtime.block_on(FileServer::start());
    let dir = tempfile::tempdir().unwrap();
    let json = config_json(dir.path(), &files);
    let config_file = dir.path().join("config.json");
    std::fs::write(&config_file, &json).unwrap();

    // The camera: a still picture with a face the stand-in detector finds.
    let (w, h) = (320u32, 240u32);
    let picture = textured(w, h, 11).to_i420();
    let clip = dir.path().join("camera.y4m");
    let format = VideoFormat {
        width: w,
        height: h,
        rate: FrameRate::per_second(15),
    };
    let mut writer = Y4mWriter::create(&clip, format).unwrap();
    for _ in 0..900 {
        writer.write(&picture).unwrap();
    }
    writer.finish().unwrap();
    let photo = textured(200, 160, 7);
    let photo_path = dir.path().join("me.png");
    image::RgbImage::from_raw(photo.width(), photo.height(), photo.data().to_vec())
        .unwrap()
        .save_with_format(&photo_path, image::ImageFormat::Png)
        .unwrap();

    let config = Config::from_layers(Some(("test config", json.as_str()))).unwrap();
    let options = StudioOptions {
        manager: Ok(common::local_servers(Some(config_file), &config)),
        config,
        devices: RunDevices::none(),
        global_talk_key: false,
        choices_file: None,
    };
    let studio = Studio::start(runtime.handle(), options, || {});
    studio.send(Command::SetCamera(Camera::VideoFile(clip)));
    let mut harness = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 900.0))
        .build_ui_state(
            |ui, window: &mut StudioWindow| window.frame(ui),
            StudioWindow::new(studio),
        );

    harness.get_by_label("Image file (PNG or JPEG)").click();
    harness
        .get_by_label("Image file (PNG or JPEG)")
        .type_text(&photo_path.display().to_string());
    harness.step();
    harness.get_by_label("Add").click();
    harness.get_by_label("Start").click();
    let offered = step_until(
        &mut harness,
        Duration::from_secs(60),
        "the offer to fetch the face models",
        |s| s.face_models.is_some(),
    );
    let Process::Ready { pid } = offered.server(Role::Video).process else {
        panic!("no video server: {offered:#?}");
    };
    // What, how much and under which licence, before anything is downloaded.
    assert!(
        harness
            .query_by_label_contains("The face swap needs 3 model files")
            .is_some()
    );
    assert!(
        harness
            .query_by_label_contains("non-commercial research use only")
            .is_some()
    );
    assert!(
        FACE_MODEL_IDS
            .iter()
            .all(|id| files.requests(&format!("{id}.onnx")).is_empty())
    );

    harness.get_by_label("Fetch face models").click();
    let swapped = step_until(
        &mut harness,
        Duration::from_secs(90),
        "the face found after the fetch",
        |s| {
            s.faces
                .first()
                .is_some_and(|f| matches!(f.upload, FaceUpload::Detected { .. }))
                && s.phase == Phase::Running
        },
    );
    assert_eq!(swapped.face_models, None, "the offer is gone");
    assert_eq!(
        swapped.server(Role::Video).process,
        Process::Ready { pid },
        "no restart"
    );
    for id in FACE_MODEL_IDS {
        assert_eq!(files.requests(&format!("{id}.onnx")).len(), 1, "{id}");
    }

    // The processed preview: changed inside the detected face box, untouched outside it.
    let faces = face_boxes(&picture, &photo);
    assert!(!faces.is_empty(), "the stand-in detector found no face");
    let previews = harness
        .state()
        .studio()
        .previews()
        .expect("a running preview");
    let (y_in, _, _) = picture.planes();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        harness.step();
        let processed = previews.processed.borrow().clone();
        if let Some(frame) = processed.filter(|f| f.image.planes().0 != y_in) {
            let (y_out, _, _) = frame.image.planes();
            for (i, (a, b)) in y_in.iter().zip(y_out).enumerate() {
                if a != b {
                    let (x, y) = (i as u32 % w, i as u32 / w);
                    assert!(
                        inside_any(&faces, x, y),
                        "luma ({x},{y}) changed outside every face box"
                    );
                }
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the processed preview never showed the swapped face"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    harness.get_by_label("Stop").click();
    step_until(&mut harness, Duration::from_secs(20), "idle", |s| {
        s.phase == Phase::Idle
    });
}
