//! `POST /v1/faces` and the live face swap on a real `studio-server` process, with the
//! stand-in face models (tract or ONNX Runtime, whichever the server finds).

mod common;

use std::io::Cursor;
use std::path::PathBuf;
use std::time::Duration;
use studio_client::ServerClient;
use studio_face::standin::textured;
use studio_media::{RgbImage, Timestamp, VideoFrame};
use studio_proto::control::{Control, EnhanceEvery};
use studio_transport::SessionEvent;

const TOKEN: &str = "test-token-0123456789";

struct Server {
    _process: common::Server,
    url: String,
    _dir: tempfile::TempDir,
}

/// A video server on the stand-in face models, with small upload limits.
fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        r#"{"face": {"detect_every": 1, "max_image_bytes": 400000, "max_image_pixels": 1000000}}"#,
    )
    .unwrap();
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../face/tests/models");
    let mut command = common::command(&["--role", "video", "--port", "0", "--config"], TOKEN);
    command
        .arg(&config)
        .env("STUDIO_FACE_MODELS", models)
        .env("STUDIO_CACHE_DIR", dir.path().join("cache"))
        .env_remove("STUDIO_CONFIG");
    let server = common::spawn(command);
    Server {
        url: server.url.clone(),
        _process: server,
        _dir: dir,
    }
}

async fn next(events: &mut tokio::sync::mpsc::Receiver<SessionEvent>) -> SessionEvent {
    tokio::time::timeout(Duration::from_secs(60), events.recv())
        .await
        .expect("event in time")
        .expect("session open")
}

fn encode(img: &RgbImage, format: image::ImageFormat) -> Vec<u8> {
    let buf = image::RgbImage::from_raw(img.width(), img.height(), img.data().to_vec()).unwrap();
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(buf)
        .write_to(&mut out, format)
        .unwrap();
    out.into_inner()
}

async fn post(http: &reqwest::Client, server: &Server, body: Vec<u8>) -> (u16, serde_json::Value) {
    let r = http
        .post(format!("{}/v1/faces", server.url))
        .bearer_auth(TOKEN)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn faces_upload_and_bad_images_get_clear_4xx_while_the_server_keeps_serving() {
    let server = start();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let good = encode(&textured(320, 240, 7), image::ImageFormat::Png);
    // The engine loads in the background: 503 until then.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let added = loop {
        let (status, body) = post(&http, &server, good.clone()).await;
        if status != 503 {
            assert_eq!(status, 200, "{body}");
            break body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "engine never loaded: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let id = added["id"].as_str().unwrap().to_string();
    assert_eq!(added["bbox"].as_array().unwrap().len(), 4);
    let faces = added["faces"].as_u64().unwrap();
    assert!(faces >= 1);
    assert_eq!(added.get("warning").is_some(), faces > 1);

    let flat = {
        let mut img = RgbImage::new(640, 640);
        img.data_mut().fill(128);
        img
    };
    let mut truncated = good.clone();
    truncated.truncate(good.len() / 2);
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("empty", Vec::new(), 400, "empty_image"),
        (
            "not an image",
            b"hello, this is text".to_vec(),
            415,
            "unsupported_image",
        ),
        ("truncated png", truncated, 400, "unreadable_image"),
        (
            "too many bytes",
            vec![0x89; 500_000],
            413,
            "image_too_large",
        ),
        (
            "too many pixels",
            encode(&RgbImage::new(1200, 1000), image::ImageFormat::Png),
            413,
            "image_too_large",
        ),
        (
            "no face",
            encode(&flat, image::ImageFormat::Png),
            422,
            "no_face",
        ),
    ];
    for (what, body, want, code) in cases {
        let (status, json) = post(&http, &server, body).await;
        assert_eq!(status, want, "{what}: {json}");
        assert_eq!(json["error"]["code"], code, "{what}: {json}");
        assert!(!json["error"]["message"].as_str().unwrap().is_empty());
    }
    // JPEG is taken too; without the token nothing is.
    let (status, _) = post(
        &http,
        &server,
        encode(&textured(320, 240, 9), image::ImageFormat::Jpeg),
    )
    .await;
    assert_eq!(status, 200);
    let unauth = http
        .post(format!("{}/v1/faces", server.url))
        .body(good.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unauth.status().as_u16(), 401);

    // Still serving: a session swaps with the uploaded face from the next frame on.
    let client = ServerClient::new(&server.url, TOKEN).unwrap();
    let (_offer, mut session) = client.open_raw_session().await.unwrap();
    let frame = VideoFrame {
        seq: 0,
        capture: Timestamp(0),
        image: textured(320, 240, 11).to_i420(),
    };
    session.sender.send_video(frame.clone());
    match next(&mut session.events).await {
        SessionEvent::Video(back) => assert_eq!(back, frame, "no face chosen: unchanged"),
        other => panic!("expected a frame, got {other:?}"),
    }
    session.sender.send_control(Control::SetFace {
        face_id: Some("face-999".into()),
    });
    match next(&mut session.events).await {
        SessionEvent::ControlAck(ack) => assert!(ack.error.unwrap().contains("face-999")),
        other => panic!("expected an ack, got {other:?}"),
    }
    session.sender.send_control(Control::SetFace {
        face_id: Some(id.clone()),
    });
    match next(&mut session.events).await {
        SessionEvent::ControlAck(ack) => assert_eq!(ack.error, None),
        other => panic!("expected an ack, got {other:?}"),
    }
    let second = VideoFrame {
        seq: 1,
        ..frame.clone()
    };
    session.sender.send_video(second.clone());
    let swapped = match next(&mut session.events).await {
        SessionEvent::Video(back) => {
            assert_eq!((back.seq, back.capture), (second.seq, second.capture));
            assert_ne!(
                back.image, second.image,
                "the chosen face changes the frame"
            );
            back
        }
        other => panic!("expected a frame, got {other:?}"),
    };
    // The person's own mouth back over the swapped face, from the next frame on.
    session.sender.send_control(Control::MouthMask { on: true });
    match next(&mut session.events).await {
        SessionEvent::ControlAck(ack) => assert_eq!(ack.error, None),
        other => panic!("expected an ack, got {other:?}"),
    }
    let third = VideoFrame {
        seq: 2,
        ..frame.clone()
    };
    session.sender.send_video(third.clone());
    let mouth_kept = match next(&mut session.events).await {
        SessionEvent::Video(back) => {
            assert_ne!(back.image, third.image, "still swapped");
            assert_ne!(back.image, swapped.image, "but the mouth is the camera's");
            back
        }
        other => panic!("expected a frame, got {other:?}"),
    };
    // The swapper's own colours instead of the room's light (on by default).
    session
        .sender
        .send_control(Control::ColourTransfer { on: false });
    match next(&mut session.events).await {
        SessionEvent::ControlAck(ack) => assert_eq!(ack.error, None),
        other => panic!("expected an ack, got {other:?}"),
    }
    session.sender.send_video(VideoFrame {
        seq: 3,
        ..frame.clone()
    });
    match next(&mut session.events).await {
        SessionEvent::Video(back) => {
            assert_ne!(back.image, third.image, "still swapped");
            assert_ne!(back.image, mouth_kept.image, "in the swapper's own colours");
        }
        other => panic!("expected a frame, got {other:?}"),
    }
    // The occlusion mask, on the stand-in XSeg beside the other models.
    session.sender.send_control(Control::Occlusion { on: true });
    match next(&mut session.events).await {
        SessionEvent::ControlAck(ack) => assert_eq!(ack.error, None),
        other => panic!("expected an ack, got {other:?}"),
    }
    // The region mask, on the stand-in face parser beside the other models.
    session
        .sender
        .send_control(Control::RegionMask { on: true });
    match next(&mut session.events).await {
        SessionEvent::ControlAck(ack) => assert_eq!(ack.error, None),
        other => panic!("expected an ack, got {other:?}"),
    }
    // Face mapping: the uploaded face as a person wearing itself; more pairs than the bound
    // are refused.
    let pair = studio_proto::control::PersonWears {
        person: id.clone(),
        wears: id.clone(),
    };
    session.sender.send_control(Control::MapPeople {
        pairs: vec![pair.clone()],
    });
    match next(&mut session.events).await {
        SessionEvent::ControlAck(ack) => assert_eq!(ack.error, None),
        other => panic!("expected an ack, got {other:?}"),
    }
    session.sender.send_control(Control::MapPeople {
        pairs: vec![pair.clone(); studio_proto::control::MAX_PEOPLE + 1],
    });
    match next(&mut session.events).await {
        SessionEvent::ControlAck(ack) => {
            let error = ack.error.expect("too many people refused");
            assert!(error.contains("at most"), "{error}");
        }
        other => panic!("expected an ack, got {other:?}"),
    }
    // Every face in the picture, not only the largest.
    session.sender.send_control(Control::AllFaces { on: true });
    match next(&mut session.events).await {
        SessionEvent::ControlAck(ack) => assert_eq!(ack.error, None),
        other => panic!("expected an ack, got {other:?}"),
    }
    // Pixel boost: 1, 2 or 4; anything else is refused and the last good one stays.
    session
        .sender
        .send_control(Control::PixelBoost { factor: 2 });
    match next(&mut session.events).await {
        SessionEvent::ControlAck(ack) => assert_eq!(ack.error, None),
        other => panic!("expected an ack, got {other:?}"),
    }
    session
        .sender
        .send_control(Control::PixelBoost { factor: 3 });
    match next(&mut session.events).await {
        SessionEvent::ControlAck(ack) => {
            let error = ack.error.expect("a pixel boost of 3 is refused");
            assert!(error.contains("1, 2 or 4"), "{error}");
        }
        other => panic!("expected an ack, got {other:?}"),
    }
    session.sender.send_video(VideoFrame {
        seq: 4,
        ..frame.clone()
    });
    match next(&mut session.events).await {
        SessionEvent::Video(back) => assert_ne!(back.image, frame.image, "swapped at ×2"),
        other => panic!("expected a frame, got {other:?}"),
    }
    // Another swapper: an unknown one is refused by name; HyperSwap, beside the other models,
    // runs from a frame soon after, with the face chosen before.
    session.sender.send_control(Control::Swapper {
        model_id: "roop".into(),
    });
    match next(&mut session.events).await {
        SessionEvent::ControlAck(ack) => {
            let error = ack.error.expect("an unknown swapper is refused");
            assert!(error.contains("hyperswap_1a_256"), "{error}");
        }
        other => panic!("expected an ack, got {other:?}"),
    }
    session.sender.send_control(Control::Swapper {
        model_id: "hyperswap_1a_256".into(),
    });
    match next(&mut session.events).await {
        SessionEvent::ControlAck(ack) => assert_eq!(ack.error, None),
        other => panic!("expected an ack, got {other:?}"),
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let status: serde_json::Value =
            common::get_json(&http, &server.url, "/v1/status", TOKEN).await;
        let engine = status["engine"].as_str().unwrap_or_default().to_string();
        if engine.contains("hyperswap 256") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the swapper never changed: {engine}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    session.sender.send_video(VideoFrame {
        seq: 5,
        ..frame.clone()
    });
    match next(&mut session.events).await {
        SessionEvent::Video(back) => assert_ne!(back.image, frame.image, "swapped by HyperSwap"),
        other => panic!("expected a frame, got {other:?}"),
    }
    // The face enhancer, on the stand-in GPEN-BFR 256 beside the other models; a name that
    // is not one of the enhancers is refused, the choice before it kept.
    session.sender.send_control(Control::Enhancer {
        model: Some("gpen_bfr_256".into()),
    });
    match next(&mut session.events).await {
        SessionEvent::ControlAck(ack) => assert_eq!(ack.error, None),
        other => panic!("expected an ack, got {other:?}"),
    }
    session.sender.send_control(Control::Enhancer {
        model: Some("codeformer".into()),
    });
    match next(&mut session.events).await {
        SessionEvent::ControlAck(ack) => {
            let error = ack.error.expect("refused");
            assert!(error.contains("gpen_bfr_256"), "{error}");
        }
        other => panic!("expected an ack, got {other:?}"),
    }
    session
        .sender
        .send_control(Control::EnhancerStrength { strength: 60 });
    match next(&mut session.events).await {
        SessionEvent::ControlAck(ack) => assert_eq!(ack.error, None),
        other => panic!("expected an ack, got {other:?}"),
    }
    // How often it runs: a number of frames out of range is refused; automatic, the
    // default, is taken.
    session.sender.send_control(Control::EnhanceEvery {
        frames: EnhanceEvery::Frames(0),
    });
    match next(&mut session.events).await {
        SessionEvent::ControlAck(ack) => {
            let error = ack.error.expect("refused");
            assert!(error.contains("1 to 30"), "{error}");
        }
        other => panic!("expected an ack, got {other:?}"),
    }
    session.sender.send_control(Control::EnhanceEvery {
        frames: EnhanceEvery::Auto,
    });
    match next(&mut session.events).await {
        SessionEvent::ControlAck(ack) => assert_eq!(ack.error, None),
        other => panic!("expected an ack, got {other:?}"),
    }
    // Status says how often the enhancer runs once the engine has it and a frame went
    // through it.
    let mut pace = serde_json::Value::Null;
    for seq in 6..46 {
        session.sender.send_video(VideoFrame {
            seq,
            // A 30 fps camera's, after the last frame's (captured at 0).
            capture: Timestamp((seq - 5) * 33_333),
            ..frame.clone()
        });
        match next(&mut session.events).await {
            SessionEvent::Video(back) => assert_ne!(back.image, frame.image, "still swapped"),
            other => panic!("expected a frame, got {other:?}"),
        }
        let status: serde_json::Value =
            common::get_json(&http, &server.url, "/v1/status", TOKEN).await;
        pace = status["sessions"][0]["enhancer"].clone();
        if !pace.is_null() {
            break;
        }
    }
    assert_eq!(pace["automatic"], true, "{pace}");
    let every = pace["every"].as_u64().unwrap_or(0);
    assert!((1..=30).contains(&every), "{pace}");
    assert_eq!(pace["fps"], 30.0, "{pace}");
    let health = http
        .get(format!("{}/v1/health", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let status: serde_json::Value = common::get_json(&http, &server.url, "/v1/status", TOKEN).await;
    let engine = status["engine"].as_str().unwrap();
    assert!(engine.contains("ready"), "{engine}");
    assert_eq!(status["sessions"][0]["settings"]["mouth_mask"], true);
    assert_eq!(status["sessions"][0]["settings"]["colour_transfer"], false);
    assert_eq!(status["sessions"][0]["settings"]["occlusion"], true);
    assert_eq!(status["sessions"][0]["settings"]["all_faces"], true);
    assert_eq!(status["sessions"][0]["settings"]["region_mask"], true);
    assert_eq!(
        status["sessions"][0]["settings"]["people"][0]["person"],
        id.as_str()
    );
    assert!(engine.contains("parser"), "{engine}");
    assert_eq!(status["sessions"][0]["settings"]["pixel_boost"], 2);
    assert_eq!(
        status["sessions"][0]["settings"]["swapper"],
        "hyperswap_1a_256"
    );
    assert!(engine.contains("occluder"), "{engine}");
    assert!(engine.contains("enhancer gpen_bfr_256"), "{engine}");
    assert_eq!(
        status["sessions"][0]["settings"]["enhancer"],
        "gpen_bfr_256"
    );
    assert_eq!(status["sessions"][0]["settings"]["enhancer_strength"], 60);
    assert_eq!(status["sessions"][0]["settings"]["enhance_every"], "auto");
}
