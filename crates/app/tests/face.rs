//! The face swap end to end: `studio run --headless --face PHOTO` against a real video server
//! on the stand-in face models; in the output file, pixels change only inside the face boxes
//! the detector finds in the input, and with `--keep-occluders` an occluder drawn in front of
//! the face leaves exactly as it came.

mod common;

use common::{ServerProcess, face_boxes, inside_any, standin_models, start_server, studio};
use std::path::Path;
use std::sync::Arc;
use studio_app::service::{load_thumbnail, upload_face};
use studio_app::state::{Event, FaceUpload, Store};
use studio_face::pipeline::{FaceEngine, FaceModels};
use studio_face::standin::textured;
use studio_infer::{BackendChoice, ModelOptions};
use studio_media::RgbImage;
use studio_media::source::VideoSource;
use studio_media::source::{FrameRate, VideoFormat};
use studio_media::y4m::{Y4mReader, Y4mWriter};
use studio_proto::config::Config;

fn write_png(img: &RgbImage, path: &Path) {
    image::RgbImage::from_raw(img.width(), img.height(), img.data().to_vec())
        .unwrap()
        .save_with_format(path, image::ImageFormat::Png)
        .unwrap();
}

#[test]
fn a_headless_run_with_a_face_changes_pixels_only_inside_detected_face_boxes() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (640u32, 360u32);
    let input_image = textured(w, h, 11).to_i420();
    let input = dir.path().join("in.y4m");
    let mut writer = Y4mWriter::create(
        &input,
        VideoFormat {
            width: w,
            height: h,
            rate: FrameRate::per_second(15),
        },
    )
    .unwrap();
    for _ in 0..45 {
        writer.write(&input_image).unwrap();
    }
    writer.finish().unwrap();
    let photo = textured(320, 240, 7);
    let photo_path = dir.path().join("me.png");
    write_png(&photo, &photo_path);
    // tract on both sides, and the detector on every frame, so the boxes are the same.
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        r#"{"servers": {"video": {"backend": "tract"}}, "face": {"detect_every": 1}}"#,
    )
    .unwrap();
    let output = dir.path().join("out.y4m");
    let report = dir.path().join("report.json");
    let status = studio()
        .arg("--config")
        .arg(&config)
        .args([
            "run",
            "--headless",
            "--seconds",
            "3",
            "--audio-in",
            "tone:440",
            "--video-in",
        ])
        .arg(&input)
        .arg("--face")
        .arg(&photo_path)
        .arg("--video-out")
        .arg(&output)
        .arg("--report")
        .arg(&report)
        .env("STUDIO_FACE_MODELS", standin_models())
        .env("STUDIO_CACHE_DIR", dir.path().join("cache"))
        .status()
        .unwrap();
    assert!(status.success());

    let faces = face_boxes(&input_image, &photo);
    assert!(!faces.is_empty(), "the stand-in detector found no face");
    let mut reader = Y4mReader::open(&output).unwrap();
    let (mut frames, mut swapped) = (0, 0);
    let (yi, ui, vi) = input_image.planes();
    while let Some(out) = reader.next_image().unwrap() {
        let (yo, uo, vo) = out.planes();
        // Slots before the first processed frame (lip sync's shift) hold a flat card.
        if yo.iter().all(|&v| v == yo[0]) {
            continue;
        }
        frames += 1;
        let mut changed = false;
        for (i, (a, b)) in yi.iter().zip(yo).enumerate() {
            if a != b {
                let (x, y) = (i as u32 % w, i as u32 / w);
                assert!(
                    inside_any(&faces, x, y),
                    "frame {frames}: luma ({x},{y}) changed outside every face box"
                );
                changed = true;
            }
        }
        for (i, ((a, b), (c, d))) in ui.iter().zip(uo).zip(vi.iter().zip(vo)).enumerate() {
            if a != b || c != d {
                let (x, y) = (2 * (i as u32 % (w / 2)), 2 * (i as u32 / (w / 2)));
                assert!(
                    inside_any(&faces, x, y) || inside_any(&faces, x + 1, y + 1),
                    "frame {frames}: chroma at ({x},{y}) changed outside every face box"
                );
            }
        }
        swapped += usize::from(changed);
    }
    assert!(frames >= 40, "only {frames} of 45 frames came out");
    assert!(
        swapped > frames / 2,
        "only {swapped} of {frames} frames carry the swapped face"
    );
}

/// A Y4M file of `frames` copies of `image` at 15 fps.
fn write_y4m(path: &Path, image: &studio_media::I420Image, frames: usize) {
    let format = VideoFormat {
        width: image.width(),
        height: image.height(),
        rate: FrameRate::per_second(15),
    };
    let mut writer = Y4mWriter::create(path, format).unwrap();
    for _ in 0..frames {
        writer.write(image).unwrap();
    }
    writer.finish().unwrap();
}

/// `studio run --headless` of `input` wearing `photo` on the stand-ins (tract, the detector on
/// every frame), with `extra` flags; the output's frames that carry processed video (the
/// slots before the first one hold a flat card).
fn swap_headless(
    dir: &Path,
    input: &Path,
    photo: &Path,
    extra: &[&str],
) -> Vec<studio_media::I420Image> {
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        r#"{"servers": {"video": {"backend": "tract"}}, "face": {"detect_every": 1}}"#,
    )
    .unwrap();
    let output = dir.join(format!("out{}.y4m", extra.len()));
    let status = studio()
        .arg("--config")
        .arg(&config)
        .args([
            "run",
            "--headless",
            "--seconds",
            "3",
            "--audio-in",
            "tone:440",
            "--video-in",
        ])
        .arg(input)
        .arg("--face")
        .arg(photo)
        .args(extra)
        .arg("--video-out")
        .arg(&output)
        .env("STUDIO_FACE_MODELS", standin_models())
        .env("STUDIO_CACHE_DIR", dir.join("cache"))
        .status()
        .unwrap();
    assert!(status.success());
    let mut reader = Y4mReader::open(&output).unwrap();
    let mut frames = Vec::new();
    while let Some(out) = reader.next_image().unwrap() {
        let (y, _, _) = out.planes();
        if !y.iter().all(|&v| v == y[0]) {
            frames.push(out);
        }
    }
    frames
}

/// The issue's done-means: an occluder (saturated green, which the XSeg stand-in reads as
/// "not face") drawn in front of the face stays pixel-identical in the output with
/// `--keep-occluders`, and is swapped over without it.
#[test]
fn with_keep_occluders_an_occluder_in_front_of_the_face_leaves_as_it_came() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (640u32, 360u32);
    let photo = textured(320, 240, 7);
    let photo_path = dir.path().join("me.png");
    write_png(&photo, &photo_path);
    // The face the detector finds, then a green square over its middle (within the frame).
    let plain = textured(w, h, 11);
    let faces = face_boxes(&plain.to_i420(), &photo);
    let face = studio_face::detect::largest(&faces).expect("the stand-in detector found no face");
    let [x1, y1, x2, y2] = face.bbox;
    let (x1, y1) = (x1.max(0.0), y1.max(0.0));
    let (x2, y2) = (x2.min(w as f32 - 1.0), y2.min(h as f32 - 1.0));
    let (cx, cy) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
    let half = ((x2 - x1).min(y2 - y1) * 0.2).max(8.0);
    let square = [cx - half, cy - half, cx + half, cy + half].map(|v| v as u32 & !1);
    let mut occluded = plain.clone();
    for y in square[1]..square[3] {
        for x in square[0]..square[2] {
            let o = ((y * w + x) * 3) as usize;
            occluded.data_mut()[o..o + 3].copy_from_slice(&[0, 255, 0]);
        }
    }
    let input_image = occluded.to_i420();
    let input = dir.path().join("in.y4m");
    write_y4m(&input, &input_image, 45);
    let faces = face_boxes(&input_image, &photo);
    assert!(
        faces.iter().any(|f| f.bbox[0] <= square[0] as f32
            && f.bbox[1] <= square[1] as f32
            && f.bbox[2] >= square[2] as f32
            && f.bbox[3] >= square[3] as f32),
        "the occluder {square:?} is not inside a face box: {faces:?}"
    );
    // The occluder's inner part: the blurred mask reaches 0 a few crop pixels inside its edge.
    let m = (square[2] - square[0]) / 4;
    let [ix0, iy0, ix1, iy1] = [square[0] + m, square[1] + m, square[2] - m, square[3] - m];
    let inner = |x: u32, y: u32| x >= ix0 && x < ix1 && y >= iy0 && y < iy1;

    let kept = swap_headless(dir.path(), &input, &photo_path, &["--keep-occluders"]);
    let swapped = swap_headless(dir.path(), &input, &photo_path, &[]);
    assert!(
        kept.len() >= 40 && swapped.len() >= 40,
        "{} and {} frames",
        kept.len(),
        swapped.len()
    );
    let (yi, ui, vi) = input_image.planes();
    let (mut checked, mut face_changed) = (0, 0);
    for out in &kept {
        let (yo, uo, vo) = out.planes();
        for (i, (a, b)) in yi.iter().zip(yo).enumerate() {
            let (x, y) = (i as u32 % w, i as u32 / w);
            if inner(x, y) {
                assert_eq!(a, b, "luma ({x},{y}) of the occluder changed");
                checked += 1;
            } else if a != b {
                face_changed += 1;
            }
        }
        for (i, ((a, b), (c, d))) in ui.iter().zip(uo).zip(vi.iter().zip(vo)).enumerate() {
            let (x, y) = (2 * (i as u32 % (w / 2)), 2 * (i as u32 / (w / 2)));
            if inner(x, y) && inner(x + 1, y + 1) {
                assert_eq!(
                    (a, c),
                    (b, d),
                    "chroma at ({x},{y}) of the occluder changed"
                );
            }
        }
    }
    assert!(
        checked >= 40 * 100,
        "only {checked} occluder pixels checked"
    );
    assert!(
        face_changed > kept.len() * 500,
        "the rest of the face was not swapped ({face_changed} changed values)"
    );
    // Without the mask the same pixels are swapped over in (nearly) every frame.
    let over = swapped
        .iter()
        .filter(|out| {
            let (yo, _, _) = out.planes();
            let changed = (0..yi.len())
                .filter(|&i| inner(i as u32 % w, i as u32 / w) && yi[i] != yo[i])
                .count();
            changed * 2 > (ix1 - ix0) as usize * (iy1 - iy0) as usize
        })
        .count();
    assert!(
        over * 10 >= swapped.len() * 9,
        "only {over} of {} frames swapped the occluder",
        swapped.len()
    );
}

#[test]
fn a_photo_that_is_not_an_image_stops_the_run_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("me.png");
    std::fs::write(&photo, b"not a picture").unwrap();
    let output = studio()
        .args(["run", "--headless", "--seconds", "1", "--face"])
        .arg(&photo)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a JPEG, PNG or WebP"), "{stderr}");
}

const TOKEN: &str = "face-test-token-0123456789";

/// A `studio-server --role video` on the stand-in face models.
fn video_server(dir: &Path) -> ServerProcess {
    let config = dir.join("server.json");
    // tract, as the detector run here below uses, so both give the same box.
    std::fs::write(&config, r#"{"servers": {"video": {"backend": "tract"}}}"#).unwrap();
    start_server(&["--role", "video", "--port", "0"], TOKEN, |command| {
        command
            .arg("--config")
            .arg(&config)
            .env("STUDIO_FACE_MODELS", standin_models())
            .env("STUDIO_CACHE_DIR", dir.join("cache"))
    })
}

#[tokio::test]
async fn the_window_holds_and_draws_the_box_the_detector_found_in_an_uploaded_photo() {
    let dir = tempfile::tempdir().unwrap();
    let server = video_server(dir.path());
    // The detector's own box, `[x1, y1, x2, y2]`, for a photo whose box is away from the
    // corner (with a box at (0, 0) both readings draw the same rectangle): the first such
    // photo among a few textures, chosen the same way on every run.
    let options = ModelOptions {
        backend: BackendChoice::Tract,
        ..ModelOptions::default()
    };
    let engine = FaceEngine::new(
        FaceModels::load_dir(&standin_models(), &options).unwrap(),
        1,
    );
    let (photo, [x1, y1, x2, y2]) = (0..32u32)
        .filter_map(|seed| {
            let photo = textured(320, 240, seed);
            let bbox = engine.add_face(&photo).ok()?.bbox;
            Some((photo, bbox))
        })
        .find(|(_, [x1, y1, _, _])| *x1 > 1.0 && *y1 > 1.0)
        .expect("one of the textures puts the box away from the corner");
    let photo_path = dir.path().join("me.png");
    write_png(&photo, &photo_path);

    // What the window's driver does: read the thumbnail, upload the file through the client
    // (which waits while the stand-in models load), and hand the answer to the store.
    let client = studio_client::ServerClient::new(&server.url, TOKEN).unwrap();
    let answer = upload_face(&client, &photo_path).await;
    let thumbnail = Arc::new(load_thumbnail(&photo_path).unwrap());
    let mut store = Store::new(&Config::defaults().unwrap());
    store.command(studio_app::state::Command::AddFace(photo_path.clone()));
    store.apply(Event::FaceLoaded {
        path: photo_path.clone(),
        result: Ok(thumbnail.clone()),
    });
    store.apply(Event::FaceUploaded {
        path: photo_path,
        result: answer,
    });
    let snapshot = store.snapshot();
    let FaceUpload::Detected { face_box, .. } = &snapshot.faces[0].upload else {
        panic!("the upload failed: {:?}", snapshot.faces[0].upload);
    };

    let close = |a: f32, b: f32| (a - b).abs() < 1e-3;
    assert!(
        close(face_box.x1, x1)
            && close(face_box.y1, y1)
            && close(face_box.x2, x2)
            && close(face_box.y2, y2),
        "the window holds {face_box:?}, the detector found {:?}",
        [x1, y1, x2, y2]
    );

    // Drawn over the thumbnail as shown, at the detector's corners scaled to it.
    let shown = egui::Rect::from_min_size(
        egui::pos2(40.0, 30.0),
        egui::vec2(thumbnail.width as f32, thumbnail.height as f32),
    );
    let outline = studio_app::window::face_outline(shown, &thumbnail, face_box);
    let sx = thumbnail.width as f32 / photo.width() as f32;
    let sy = thumbnail.height as f32 / photo.height() as f32;
    assert!(close(outline.min.x, 40.0 + x1 * sx), "{outline:?}");
    assert!(close(outline.min.y, 30.0 + y1 * sy), "{outline:?}");
    assert!(close(outline.width(), (x2 - x1) * sx), "{outline:?}");
    assert!(close(outline.height(), (y2 - y1) * sy), "{outline:?}");
}

/// Face mapping headless: `--map PERSON=FACE` has the person in the first photo (here the
/// camera's own picture, so its largest face is that person) wear the second photo's face,
/// whatever `--face` says.
#[test]
fn with_map_the_person_wears_their_own_face() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (640u32, 360u32);
    let picture = textured(w, h, 11);
    let input_image = picture.to_i420();
    let input = dir.path().join("in.y4m");
    write_y4m(&input, &input_image, 45);
    let (photo, other) = (textured(320, 240, 7), textured(320, 240, 9));
    let (photo_path, other_path, person_path) = (
        dir.path().join("me.png"),
        dir.path().join("other.png"),
        dir.path().join("person.png"),
    );
    write_png(&photo, &photo_path);
    write_png(&other, &other_path);
    write_png(&picture, &person_path);
    let map = format!("{}={}", person_path.display(), other_path.display());
    let mapped = swap_headless(dir.path(), &input, &photo_path, &["--map", &map]);
    let chosen = swap_headless(dir.path(), &input, &photo_path, &[]);
    assert!(mapped.len() >= 40 && chosen.len() >= 40);
    let face = *studio_face::detect::largest(&face_boxes(&input_image, &photo))
        .expect("the stand-in detector found no face");
    let [x0, y0, x1, y1] = face.bbox.map(|v| v.max(0.0) as u32);
    let (yi, _, _) = input_image.planes();
    let in_face = |plane: &[u8]| -> Vec<u8> {
        (y0..y1.min(h))
            .flat_map(|y| (x0..x1.min(w)).map(move |x| (y * w + x) as usize))
            .map(|i| plane[i])
            .collect()
    };
    let (camera, with_map, with_face) = (
        in_face(yi),
        in_face(mapped[mapped.len() - 1].planes().0),
        in_face(chosen[chosen.len() - 1].planes().0),
    );
    assert_ne!(with_map, camera, "the mapped person was not swapped");
    assert_ne!(
        with_map, with_face,
        "the person wears the chosen face, not their own"
    );
}
