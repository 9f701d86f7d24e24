//! Browser interop: headless Chromium (fake camera and microphone) opens a WebRTC session
//! with a real video server through `POST /v1/sessions`, and the processed frames that come
//! back must decode in the page. The page is served from loopback by this test, which also
//! relays the offer (same origin) and receives the page's verdict.

mod common;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use common::{command, spawn};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const TOKEN: &str = "chromium-test-token";

const PAGE: &str = r#"<!doctype html>
<html><body><video id="v" autoplay muted playsinline></video><script>
async function report(result) {
  await fetch('/result', {method: 'POST', body: JSON.stringify(result)});
}
async function main() {
  const media = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 360}, audio: true});
  const pc = new RTCPeerConnection();
  for (const track of media.getTracks()) {
    // Keep the resolution when the encoder is short of CPU (drop frames instead).
    if (track.kind === 'video') track.contentHint = 'detail';
    pc.addTransceiver(track, {direction: 'sendrecv'});
  }
  pc.createDataChannel('studio');
  const video = document.getElementById('v');
  pc.ontrack = (e) => { if (e.track.kind === 'video') video.srcObject = new MediaStream([e.track]); };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((done) => {
    if (pc.iceGatheringState === 'complete') return done();
    pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') done(); };
    setTimeout(done, 3000);
  });
  const answer = await fetch('/offer', {method: 'POST', body: pc.localDescription.sdp});
  if (answer.status !== 201) return report({error: 'offer refused: ' + answer.status + ' ' + await answer.text()});
  await pc.setRemoteDescription({type: 'answer', sdp: await answer.text()});
  const started = Date.now();
  while (Date.now() - started < 30000) {
    await new Promise((r) => setTimeout(r, 500));
    const stats = await pc.getStats();
    let decoded = 0, codec = '';
    stats.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        decoded = s.framesDecoded || 0;
        const c = stats.get(s.codecId); if (c) codec = c.mimeType;
      }
    });
    if (decoded >= 30 && video.videoWidth > 0) {
      return report({decoded, codec, width: video.videoWidth, height: video.videoHeight, ice: pc.iceConnectionState});
    }
  }
  report({error: 'no decoded frames', ice: pc.iceConnectionState});
}
main().catch((e) => report({error: String(e)}));
</script></body></html>"#;

struct Relay {
    server_url: String,
    results: mpsc::Sender<serde_json::Value>,
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

async fn offer(State(relay): State<Arc<Relay>>, body: String) -> impl IntoResponse {
    let answer = reqwest::Client::new()
        .post(format!("{}/v1/sessions", relay.server_url))
        .bearer_auth(TOKEN)
        .header("content-type", "application/sdp")
        .body(body)
        .send()
        .await;
    match answer {
        Ok(response) => {
            let status =
                StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let text = response.text().await.unwrap_or_default();
            (status, [(header::CONTENT_TYPE, "application/sdp")], text).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

async fn result(State(relay): State<Arc<Relay>>, body: String) -> StatusCode {
    let value = serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body));
    let _ = relay.results.send(value).await;
    StatusCode::NO_CONTENT
}

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|name| {
            Command::new(name)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_decodes_the_processed_video_of_a_webrtc_session() {
    let browser = chromium().expect("Chromium is installed (.ci/run installs Debian's chromium)");
    let server = spawn(command(&["--role", "video", "--port", "0"], TOKEN));
    let (results, mut verdicts) = mpsc::channel(1);
    let relay = Arc::new(Relay {
        server_url: server.url.clone(),
        results,
    });
    let app = Router::new()
        .route("/", get(page))
        .route("/offer", post(offer))
        .route("/result", post(result))
        .with_state(relay);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let page_url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let profile = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            "--allow-loopback-in-peer-connection",
            "--autoplay-policy=no-user-gesture-required",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(&page_url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start Chromium");

    let verdict = tokio::time::timeout(Duration::from_secs(90), verdicts.recv()).await;
    let _ = child.kill().await;
    let verdict = verdict
        .expect("the page reported within 90 s")
        .expect("a verdict");
    assert!(verdict.get("error").is_none(), "page: {verdict}");
    assert!(verdict["decoded"].as_u64().unwrap_or(0) >= 30, "{verdict}");
    assert_eq!(verdict["codec"], "video/H264", "{verdict}");
    // Chromium may still scale its camera down under load; the processed picture keeps the
    // shape of what it sent (640×360 or a smaller 16:9).
    let (w, h) = (
        verdict["width"].as_u64().unwrap_or(0),
        verdict["height"].as_u64().unwrap_or(0),
    );
    assert!(
        (160..=640).contains(&w) && w * 9 == h * 16,
        "the processed picture keeps the camera's shape: {verdict}"
    );
}
