//! A face chosen while the face models are not downloaded: `studio run --face` stops before
//! anything starts with what is missing, its licence and the command that fetches it; with
//! `--fetch-models` it fetches them (from a loopback file server here), and the face is worn.

mod common;
#[path = "../../models/tests/support/file_server.rs"]
mod file_server;

use common::{standin_face_model_entries, standin_models, studio};
use file_server::FileServer;
use std::path::{Path, PathBuf};
use studio_face::standin::textured;
use studio_media::source::{FrameRate, VideoFormat, VideoSource};
use studio_media::y4m::{Y4mReader, Y4mWriter};
use studio_proto::config::FACE_MODEL_IDS;

/// A user file whose face model entries point at `files` (the stand-ins, with their real
/// checksums and sizes), on tract so both sides agree.
fn config_serving_standins(dir: &Path, files: &FileServer) -> PathBuf {
    let models = standin_face_model_entries(|name, bytes| {
        files.serve(name, bytes);
        files.url(name)
    });
    let config = dir.join("config.json");
    let user = serde_json::json!({
        "servers": {"video": {"backend": "tract"}},
        "face": {"detect_every": 1},
        "models": models,
    });
    std::fs::write(&config, user.to_string()).unwrap();
    config
}

/// A 3-second clip of one still picture, and a photo of a face.
fn inputs(dir: &Path) -> (PathBuf, PathBuf, studio_media::I420Image) {
    let (w, h) = (640u32, 360u32);
    let picture = textured(w, h, 11).to_i420();
    let clip = dir.join("in.y4m");
    let format = VideoFormat {
        width: w,
        height: h,
        rate: FrameRate::per_second(15),
    };
    let mut writer = Y4mWriter::create(&clip, format).unwrap();
    for _ in 0..45 {
        writer.write(&picture).unwrap();
    }
    writer.finish().unwrap();
    let photo = textured(320, 240, 7);
    let photo_path = dir.join("me.png");
    image::RgbImage::from_raw(photo.width(), photo.height(), photo.data().to_vec())
        .unwrap()
        .save_with_format(&photo_path, image::ImageFormat::Png)
        .unwrap();
    (clip, photo_path, picture)
}

fn run_with_face(
    config: &Path,
    cache: &Path,
    clip: &Path,
    photo: &Path,
    output: &Path,
    extra: &[&str],
) -> std::process::Output {
    studio()
        .arg("--config")
        .arg(config)
        .args([
            "run",
            "--headless",
            "--seconds",
            "3",
            "--audio-in",
            "tone:440",
        ])
        .arg("--video-in")
        .arg(clip)
        .arg("--face")
        .arg(photo)
        .arg("--video-out")
        .arg(output)
        .args(extra)
        .env("STUDIO_CACHE_DIR", cache)
        .env_remove("STUDIO_FACE_MODELS")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_face_models_stop_the_run_with_the_command_that_fetches_them() {
    let files = FileServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_serving_standins(dir.path(), &files);
    let (clip, photo, _) = inputs(dir.path());
    let output = dir.path().join("out.y4m");
    let cache = dir.path().join("cache");
    let config_for_run = config.clone();
    let out = tokio::task::spawn_blocking(move || {
        run_with_face(&config_for_run, &cache, &clip, &photo, &output, &[])
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("studio models fetch det_10g w600k_r50 inswapper_128"),
        "{stderr}"
    );
    assert!(stderr.contains("--fetch-models"), "{stderr}");
    assert!(
        stderr.contains("non-commercial research use only"),
        "{stderr}"
    );
    // Stopped before anything started: nothing downloaded, no output written.
    for id in FACE_MODEL_IDS {
        assert!(files.requests(&format!("{id}.onnx")).is_empty(), "{id}");
    }
    assert!(!dir.path().join("out.y4m").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_fetch_models_the_models_are_fetched_and_the_face_is_worn() {
    let files = FileServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_serving_standins(dir.path(), &files);
    let (clip, photo, picture) = inputs(dir.path());
    let output = dir.path().join("out.y4m");
    let cache = dir.path().join("cache");
    let (config_for_run, cache_for_run, output_for_run) =
        (config.clone(), cache.clone(), output.clone());
    let out = tokio::task::spawn_blocking(move || {
        run_with_face(
            &config_for_run,
            &cache_for_run,
            &clip,
            &photo,
            &output_for_run,
            &["--fetch-models"],
        )
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("fetching the face models"), "{stderr}");
    for id in FACE_MODEL_IDS {
        let name = format!("{id}.onnx");
        assert_eq!(files.requests(&name).len(), 1, "{name} downloaded once");
        assert_eq!(
            std::fs::read(cache.join("models").join(&name)).unwrap(),
            std::fs::read(standin_models().join(&name)).unwrap(),
            "{name} in the cache"
        );
    }
    // The face was worn: frames came out changed from the input.
    let mut reader = Y4mReader::open(&output).unwrap();
    let (y_in, _, _) = picture.planes();
    let mut swapped = 0;
    while let Some(frame) = reader.next_image().unwrap() {
        let (y_out, _, _) = frame.planes();
        let flat = y_out.iter().all(|&v| v == y_out[0]);
        if !flat && y_out != y_in {
            swapped += 1;
        }
    }
    assert!(swapped > 20, "only {swapped} frames carry the swapped face");
}
