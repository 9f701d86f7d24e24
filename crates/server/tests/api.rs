//! The server's HTTP API and raw sessions, on a real `studio-server` process over loopback.

use futures_util::StreamExt;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;
use studio_client::ServerClient;
use studio_media::{AudioBlock, I420Image, Timestamp, VideoFrame};
use studio_proto::api::{RawSessionOffer, ServerStatus};
use studio_proto::control::Control;
use studio_transport::SessionEvent;

mod common;

use common::Server;

const TOKEN: &str = "test-token-0123456789";

fn start(role: &str) -> Server {
    let mut command = common::command(&["--role", role, "--port", "0"], TOKEN);
    command.env_remove("STUDIO_CONFIG");
    common::spawn(command)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.expect("error body is JSON");
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

#[tokio::test]
async fn first_line_names_the_loopback_address_and_role() {
    let server = start("video");
    assert!(server.listening.listening.starts_with("127.0.0.1:"));
    assert_eq!(server.listening.role, studio_proto::Role::Video);
    let port: u16 = server.listening.listening["127.0.0.1:".len()..]
        .parse()
        .expect("port");
    assert_ne!(port, 0);
}

#[tokio::test]
async fn health_is_open_and_everything_else_needs_the_token() {
    let server = start("audio");
    let http = http();
    let health = http
        .get(format!("{}/v1/health", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"status": "ok"})
    );

    for (method, path) in [
        ("GET", "/v1/status"),
        ("GET", "/v1/events"),
        ("POST", "/v1/sessions"),
        ("DELETE", "/v1/sessions/abc"),
        ("POST", "/v1/faces"),
        ("GET", "/v1/voices"),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let url = format!("{}{path}", server.url);
        let none = http.request(method.clone(), &url).send().await.unwrap();
        assert_eq!(
            error_code(none).await,
            (401, "unauthorized".into()),
            "{path}"
        );
        let wrong = http
            .request(method, &url)
            .bearer_auth("not-the-token")
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_code(wrong).await,
            (401, "unauthorized".into()),
            "{path}"
        );
    }

    let status: ServerStatus = common::get_json(&http, &server.url, "/v1/status", TOKEN).await;
    assert_eq!(status.role, studio_proto::Role::Audio);
    assert_eq!(status.engine, "voice");
    assert!(status.sessions.is_empty());
}

#[tokio::test]
async fn malformed_requests_get_json_errors_and_change_nothing() {
    let server = start("video");
    let http = http();
    let sessions = format!("{}/v1/sessions", server.url);
    let cases = [
        ("application/json", "{not json", 400, "bad_request"),
        (
            "application/json",
            r#"{"transport":"carrier-pigeon"}"#,
            400,
            "bad_request",
        ),
        ("text/plain", "hello", 415, "unsupported_media_type"),
        ("application/sdp", "v=0", 400, "bad_request"),
        (
            "application/json",
            r#"{"transport":"webrtc"}"#,
            415,
            "unsupported_media_type",
        ),
    ];
    for (content_type, body, status, code) in cases {
        let response = http
            .post(&sessions)
            .bearer_auth(TOKEN)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(response).await, (status, code.into()), "{body}");
    }
    let unknown = http
        .get(format!("{}/v1/nothing", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(unknown).await, (404, "not_found".into()));
    let wrong_method = http
        .put(format!("{}/v1/health", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(wrong_method).await.0, 405);
    let missing = http
        .delete(format!("{}/v1/sessions/nope", server.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(missing).await, (404, "not_found".into()));

    let client = ServerClient::new(&server.url, TOKEN).unwrap();
    assert!(client.status().await.unwrap().sessions.is_empty());
}

#[tokio::test]
async fn faces_and_voices_belong_to_their_roles() {
    let video = start("video");
    let audio = start("audio");
    let http = http();
    let call = |url: String, post: bool| {
        let request = if post { http.post(url) } else { http.get(url) };
        request.bearer_auth(TOKEN).send()
    };
    // The default config has no face models on disk yet: the video server says so.
    let faces_on_video = call(format!("{}/v1/faces", video.url), true).await.unwrap();
    assert_eq!(error_code(faces_on_video).await.0, 503);
    let faces_on_audio = call(format!("{}/v1/faces", audio.url), true).await.unwrap();
    assert_eq!(error_code(faces_on_audio).await.0, 404);
    let voices_on_audio = call(format!("{}/v1/voices", audio.url), false)
        .await
        .unwrap();
    assert_eq!(voices_on_audio.status(), 200);
    let voices_on_video = call(format!("{}/v1/voices", video.url), false)
        .await
        .unwrap();
    assert_eq!(error_code(voices_on_video).await.0, 404);
}

fn frame(seq: u64) -> VideoFrame {
    let mut image = I420Image::black(64, 48);
    for (i, px) in image.planes_mut().0.iter_mut().enumerate() {
        *px = (i as u64 * 7 + seq) as u8;
    }
    VideoFrame {
        seq,
        capture: Timestamp(1_000 + seq * 33_333),
        image,
    }
}

fn block(seq: u64) -> AudioBlock {
    AudioBlock {
        seq,
        capture: Timestamp(seq * 20_000),
        sample_rate: 48_000,
        samples: (0..960)
            .map(|i| ((i as f32) * 0.01 + seq as f32).sin())
            .collect(),
    }
}

async fn next_event(events: &mut tokio::sync::mpsc::Receiver<SessionEvent>) -> SessionEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event in time")
        .expect("session still open")
}

#[tokio::test]
async fn a_raw_session_returns_frames_unchanged_and_applies_controls() {
    let server = start("video");
    let client = ServerClient::new(&server.url, TOKEN).unwrap();

    // The offer comes back as 201 with a Location.
    let response = http()
        .post(format!("{}/v1/sessions", server.url))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"transport": "raw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let offer: RawSessionOffer = response.json().await.unwrap();
    assert_eq!(location, format!("/v1/sessions/{}", offer.id));
    assert!(offer.address.starts_with("127.0.0.1:"));

    // A connection with the wrong key is turned away; the right one is served.
    let mut intruder = studio_transport::SessionHandle::connect_raw(&offer.address, "wrong")
        .await
        .unwrap();
    assert!(matches!(
        next_event(&mut intruder.events).await,
        SessionEvent::Closed { .. }
    ));
    let mut session = studio_transport::SessionHandle::connect_raw(&offer.address, &offer.key)
        .await
        .unwrap();
    let seq = session.sender.send_control(Control::SetFace {
        face_id: Some("f1".into()),
    });
    // No face models here: the choice is refused, clearly, and frames pass unchanged.
    match next_event(&mut session.events).await {
        SessionEvent::ControlAck(ack) => {
            assert_eq!(ack.seq, seq);
            let error = ack.error.expect("refused without face models");
            assert!(error.contains("not ready"), "{error}");
        }
        other => panic!("expected an ack, got {other:?}"),
    }
    let seq = session
        .sender
        .send_control(Control::SetFace { face_id: None });
    match next_event(&mut session.events).await {
        SessionEvent::ControlAck(ack) => assert_eq!((ack.seq, ack.error), (seq, None)),
        other => panic!("expected an ack, got {other:?}"),
    }
    for seq in 0..5 {
        let sent = frame(seq);
        session.sender.send_video(sent.clone());
        match next_event(&mut session.events).await {
            SessionEvent::Video(back) => assert_eq!(back, sent),
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    let status = client.status().await.unwrap();
    let entry = status
        .sessions
        .iter()
        .find(|s| s.id == offer.id)
        .expect("session listed");
    assert_eq!(entry.state, studio_proto::api::SessionState::Open);
    assert_eq!((entry.frames_in, entry.frames_out), (5, 5));
    assert_eq!(
        entry.settings.face_id, None,
        "a refused setting is not kept"
    );

    client.close_session(&offer.id).await.unwrap();
    match next_event(&mut session.events).await {
        SessionEvent::Closed { .. } => {}
        other => panic!("expected the session to close, got {other:?}"),
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !client.status().await.unwrap().sessions.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "session not removed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_raw_session_returns_audio_sample_exact_and_in_order() {
    let server = start("audio");
    let client = ServerClient::new(&server.url, TOKEN).unwrap();
    let (_offer, mut session) = client.open_raw_session().await.unwrap();
    let sent: Vec<AudioBlock> = (0..50).map(block).collect();
    for b in &sent {
        session.sender.send_audio(b.clone());
    }
    for expected in &sent {
        match next_event(&mut session.events).await {
            SessionEvent::Audio(back) => assert_eq!(&back, expected),
            other => panic!("expected audio, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn events_stream_status_as_sessions_come_and_go() {
    let server = start("audio");
    let client = ServerClient::new(&server.url, TOKEN).unwrap();
    let response = http()
        .get(format!("{}/v1/events", server.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut stream = response.bytes_stream();
    let mut text = String::new();
    let mut session = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    // Read events until one shows the session we open after the first event.
    loop {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("events in time")
            .expect("stream open")
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let event: String = text.drain(..end + 2).collect();
            let Some(data) = event.lines().find_map(|l| l.strip_prefix("data:")) else {
                continue;
            };
            assert!(event.contains("event: status"));
            let status: ServerStatus = serde_json::from_str(data.trim()).unwrap();
            if session.is_none() {
                assert!(status.sessions.is_empty());
                session = Some(client.open_raw_session().await.unwrap());
            } else if !status.sessions.is_empty() {
                return;
            }
        }
    }
}

#[test]
fn a_server_without_a_token_refuses_to_start() {
    let output = Command::new(env!("CARGO_BIN_EXE_studio-server"))
        .args(["--role", "video", "--port", "0"])
        .env_remove("STUDIO_TOKEN")
        .env_remove("STUDIO_CONFIG")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("token is required"));
}

#[test]
fn a_bad_config_file_is_reported_by_key_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, r#"{"video": {"fps": "thirty"}}"#).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_studio-server"))
        .args(["--role", "video", "--port", "0", "--config"])
        .arg(&path)
        .env("STUDIO_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(r#"video.fps: expected a positive integer, got "thirty""#),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "nothing listened");
}

#[test]
fn the_server_exits_when_its_watched_stdin_closes() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_studio-server"))
        .args(["--role", "audio", "--port", "0", "--watch-stdin"])
        .env("STUDIO_TOKEN", TOKEN)
        .env_remove("STUDIO_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("listening"));
    drop(child.stdin.take());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "clean exit, got {status}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "server still running");
        std::thread::sleep(Duration::from_millis(20));
    }
}
