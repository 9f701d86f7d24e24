//! The person's choices survive a restart of the studio: made in one studio, remembered in
//! the app data folder, chosen again by the next one; a face whose file went away is said so.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};
use studio_app::service::{Studio, StudioOptions};
use studio_app::state::{Camera, Command, FaceImage, Microphone, RunDevices, Snapshot};
use studio_proto::config::Config;

fn studio(runtime: &tokio::runtime::Runtime, choices: &Path) -> Studio {
    let config = Config::from_layers(Some((
        "test config",
        r#"{"voices": {"robot": {"name": "Robot", "kind": "dsp"}}}"#,
    )))
    .unwrap();
    let options = StudioOptions {
        manager: Ok(common::local_servers(None, &config)),
        config,
        devices: RunDevices::none(),
        global_talk_key: false,
        choices_file: Some(choices.to_path_buf()),
    };
    Studio::start(runtime.handle(), options, || {})
}

fn wait_for(studio: &Studio, what: &str, done: impl Fn(&Snapshot) -> bool) -> Snapshot {
    common::wait_for_snapshot(studio, Duration::from_secs(20), what, done)
}

#[test]
fn choices_made_in_one_studio_come_back_in_the_next() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let choices = dir.path().join("data").join("choices.json");
    let (ada, bob, clip) = (
        dir.path().join("ada.png"),
        dir.path().join("bob.png"),
        dir.path().join("clip.y4m"),
    );
    for face in [&ada, &bob] {
        image::RgbImage::from_fn(40, 40, |x, y| image::Rgb([x as u8 * 6, y as u8 * 6, 90]))
            .save(face)
            .unwrap();
    }
    std::fs::write(&clip, b"YUV4MPEG2 W8 H8 F30:1 C420jpeg\n").unwrap();

    let first = studio(&runtime, &choices);
    for command in [
        Command::SetCamera(Camera::VideoFile(clip.clone())),
        Command::ChooseMicrophone(Microphone::TestTone),
        Command::AddFace(ada.clone()),
        Command::AddFace(bob.clone()),
        Command::ChooseFace(Some(0)),
        Command::ChooseVoice("robot".into()),
    ] {
        first.send(command);
    }
    wait_for(&first, "the choices", |s| {
        s.chosen_face == Some(0) && s.chosen_voice.as_deref() == Some("robot")
    });
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&choices).is_ok_and(|t| t.contains("robot")) {
        assert!(Instant::now() < deadline, "the choices were never saved");
        std::thread::sleep(Duration::from_millis(20));
    }

    let second = studio(&runtime, &choices);
    let restored = wait_for(&second, "the restored choices", |s| {
        s.faces.len() == 2
            && s.faces
                .iter()
                .all(|f| matches!(f.image, FaceImage::Loaded(_)))
            && s.chosen_voice.as_deref() == Some("robot")
    });
    assert_eq!(restored.camera, Camera::VideoFile(clip));
    assert_eq!(restored.chosen_face, Some(0));
    assert_eq!(restored.faces[0].path, ada);
    assert_eq!(restored.notice, None);
    drop(second);

    // A face moved away meanwhile: said so, and the rest comes back.
    std::fs::remove_file(&ada).unwrap();
    let third = studio(&runtime, &choices);
    let restored = wait_for(&third, "the notice", |s| {
        s.notice.is_some() && s.faces.len() == 1
    });
    let notice = restored.notice.unwrap();
    assert!(!notice.is_error, "{notice:?}");
    assert!(notice.text.contains("ada.png"), "{notice:?}");
    assert_eq!(restored.faces[0].path, bob);
}
