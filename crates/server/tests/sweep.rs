//! A black-box sweep of bad input and load against real `studio-server` processes of both
//! roles. Each case asserts the answer (status and JSON error code); after each, the server
//! must answer health within a second, its memory must not jump, and its log must hold no
//! panic.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use studio_media::{AudioBlock, I420Image, Timestamp, VideoFrame};
use studio_proto::api::{Listening, RawSessionOffer, ServerStatus};
use studio_proto::control::Control;
use studio_transport::{SessionEvent, SessionHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "sweep-token-0123456789";
/// Lower limits than the defaults, so floods reach them quickly.
const LIMITS: &str = r#"{
    "face": {"detect_every": 1, "max_image_bytes": 300000, "max_image_pixels": 1000000},
    "limits": {
        "max_sessions": 3, "session_idle_s": 2, "session_body_bytes": 4096,
        "small_body_bytes": 1024, "header_read_timeout_ms": 1000, "request_timeout_ms": 2000,
        "max_event_streams": 2, "max_connections": 64,
        "ice_tcp_pending": 4, "ice_tcp_per_address": 2
    }
}"#;
/// How much a server's resident memory may grow over the whole sweep.
const RSS_GROWTH_LIMIT_KB: u64 = 150 * 1024;

struct Server {
    child: Child,
    url: String,
    address: String,
    ice_tcp: u16,
    stderr: PathBuf,
    rss_start_kb: u64,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start(role: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(&config, LIMITS).unwrap();
    let stderr = dir.path().join("stderr.log");
    let ice_tcp = free_port();
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../face/tests/models");
    let mut child = Command::new(env!("CARGO_BIN_EXE_studio-server"))
        .args([
            "--role",
            role,
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--config",
        ])
        .arg(&config)
        .arg("--ice-tcp-port")
        .arg(ice_tcp.to_string())
        .env("STUDIO_TOKEN", TOKEN)
        .env("STUDIO_FACE_MODELS", models)
        .env("STUDIO_CACHE_DIR", dir.path().join("cache"))
        .env("STUDIO_LOG", "info")
        .env_remove("STUDIO_CONFIG")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("start studio-server");
    let mut first = Vec::new();
    let mut stdout = child.stdout.take().unwrap();
    let mut byte = [0u8; 1];
    while stdout.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
        first.push(byte[0]);
    }
    let listening: Listening = serde_json::from_slice(&first).expect("first line is JSON");
    let rss_start_kb = rss_kb(child.id());
    Server {
        url: format!("http://{}", listening.listening),
        address: listening.listening,
        ice_tcp,
        stderr,
        rss_start_kb,
        child,
        _dir: dir,
    }
}

/// Resident memory from `/proc/PID/status`.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// After every case: health within a second, memory within bounds, no panic logged.
async fn still_well(server: &mut Server, case: &str) {
    let started = Instant::now();
    let health = tokio::time::timeout(
        Duration::from_secs(1),
        http().get(format!("{}/v1/health", server.url)).send(),
    )
    .await;
    assert!(
        matches!(&health, Ok(Ok(r)) if r.status() == 200),
        "{case}: health did not answer within a second ({:?})",
        started.elapsed()
    );
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "{case}: the server exited"
    );
    let rss = rss_kb(server.child.id());
    assert!(
        rss < server.rss_start_kb + RSS_GROWTH_LIMIT_KB,
        "{case}: memory grew from {} kB to {rss} kB",
        server.rss_start_kb
    );
    let log = std::fs::read_to_string(&server.stderr).unwrap_or_default();
    assert!(
        !log.contains("panicked"),
        "{case}: a panic was logged:\n{log}"
    );
}

/// The status and JSON error code of an answer.
async fn answer(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let code = body["error"]["code"].as_str().unwrap_or("").to_owned();
    (status, code)
}

async fn status(server: &Server) -> ServerStatus {
    http()
        .get(format!("{}/v1/status", server.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn open_raw(server: &Server) -> reqwest::Response {
    http()
        .post(format!("{}/v1/sessions", server.url))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"transport": "raw"}))
        .send()
        .await
        .unwrap()
}

async fn wait_sessions(server: &Server, n: usize, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let open = status(server).await.sessions.len();
        if open == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{open} sessions listed, expected {n}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn next_event(events: &mut tokio::sync::mpsc::Receiver<SessionEvent>) -> SessionEvent {
    tokio::time::timeout(Duration::from_secs(20), events.recv())
        .await
        .expect("an event in time")
        .expect("the session is open")
}

/// Whether the server closes `stream` (end of stream or reset) within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

async fn auth_cases(server: &mut Server) {
    let url = format!("{}/v1/status", server.url);
    let cases: [(&str, Option<String>, u16); 6] = [
        ("no authorization", None, 401),
        ("wrong token", Some("Bearer nope".into()), 401),
        ("another scheme", Some(format!("Basic {TOKEN}")), 401),
        ("scheme only", Some("Bearer".into()), 401),
        ("lower-case scheme", Some(format!("bearer {TOKEN}")), 200),
        ("padded token", Some(format!("Bearer  {TOKEN}  ")), 200),
    ];
    for (case, header, want) in cases {
        let mut request = http().get(&url);
        if let Some(h) = header {
            request = request.header("authorization", h);
        }
        let (got, code) = answer(request.send().await.unwrap()).await;
        assert_eq!(got, want, "{case}");
        if want == 401 {
            assert_eq!(code, "unauthorized", "{case}");
        }
        still_well(server, case).await;
    }
}

/// A request body case: name, content type, body, and the status and error code it gets.
type BodyCase = (
    &'static str,
    Option<&'static str>,
    Vec<u8>,
    u16,
    &'static str,
);

async fn body_cases(server: &mut Server) {
    let url = format!("{}/v1/sessions", server.url);
    let post = |content_type: Option<&str>, body: Vec<u8>| {
        let mut r = http().post(&url).bearer_auth(TOKEN).body(body);
        if let Some(t) = content_type {
            r = r.header("content-type", t.to_owned());
        }
        r.send()
    };
    let cases: Vec<BodyCase> = vec![
        (
            "no content type",
            None,
            b"{}".to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "text body",
            Some("text/plain"),
            b"hi".to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "broken json",
            Some("application/json"),
            b"{\"transport\":".to_vec(),
            400,
            "bad_request",
        ),
        (
            "unknown transport",
            Some("application/json"),
            br#"{"transport":"carrier-pigeon"}"#.to_vec(),
            400,
            "bad_request",
        ),
        (
            "webrtc as json",
            Some("application/json"),
            br#"{"transport":"webrtc"}"#.to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "oversized session body",
            Some("application/json"),
            vec![b' '; 1 << 20],
            413,
            "body_too_large",
        ),
        (
            "garbage sdp",
            Some("application/sdp"),
            b"v=0\r\nthis is not sdp".to_vec(),
            400,
            "bad_request",
        ),
        (
            "sdp not utf-8",
            Some("application/sdp"),
            vec![0xff, 0xfe, 0x00, 0x80],
            400,
            "bad_request",
        ),
    ];
    for (case, content_type, body, want, want_code) in cases {
        let (got, code) = answer(post(content_type, body).await.unwrap()).await;
        assert_eq!((got, code.as_str()), (want, want_code), "{case}");
        still_well(server, case).await;
    }
    // A route that takes no body answers without buffering one.
    let (got, code) = answer(
        http()
            .delete(format!("{}/v1/sessions/none", server.url))
            .bearer_auth(TOKEN)
            .body(vec![0u8; 256 << 10])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (got, code.as_str()),
        (404, "not_found"),
        "a body on a body-less route"
    );
    still_well(server, "a body on a body-less route").await;
}

async fn path_cases(server: &mut Server) {
    let long = "a".repeat(4000);
    let cases = [
        (
            "unknown session",
            format!("/v1/sessions/{long}"),
            "DELETE",
            404,
            "not_found",
        ),
        (
            "dotted session id",
            "/v1/sessions/..%2F..%2Fetc".to_owned(),
            "DELETE",
            404,
            "not_found",
        ),
        (
            "unknown route",
            "/v1/nothing-here".to_owned(),
            "GET",
            404,
            "not_found",
        ),
        (
            "wrong method",
            "/v1/status".to_owned(),
            "PUT",
            405,
            "method_not_allowed",
        ),
        (
            "unknown model",
            "/v1/models/..%2Fsecret".to_owned(),
            "POST",
            404,
            "not_found",
        ),
    ];
    for (case, path, method, want, want_code) in cases {
        let request = http()
            .request(method.parse().unwrap(), format!("{}{path}", server.url))
            .bearer_auth(TOKEN);
        let (got, code) = answer(request.send().await.unwrap()).await;
        assert_eq!((got, code.as_str()), (want, want_code), "{case}");
        still_well(server, case).await;
    }
}

async fn session_flood(server: &mut Server) {
    wait_sessions(server, 0, Duration::from_secs(10)).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let r = open_raw(server).await;
        assert_eq!(r.status(), 201);
        let offer: RawSessionOffer = r.json().await.unwrap();
        ids.push(offer.id);
    }
    for _ in 0..5 {
        let (got, code) = answer(open_raw(server).await).await;
        assert_eq!((got, code.as_str()), (503, "too_many_sessions"));
    }
    still_well(server, "session flood").await;
    for id in &ids {
        let r = http()
            .delete(format!("{}/v1/sessions/{id}", server.url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    wait_sessions(server, 0, Duration::from_secs(5)).await;
    let r = open_raw(server).await;
    assert_eq!(r.status(), 201, "places come back once sessions close");
    // Never connected: it goes when its connection wait ends; cancel it now.
    let offer: RawSessionOffer = r.json().await.unwrap();
    let _ = http()
        .delete(format!("{}/v1/sessions/{}", server.url, offer.id))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    wait_sessions(server, 0, Duration::from_secs(5)).await;
    still_well(server, "sessions closed").await;
}

/// Silent and bogus connections to a raw session's port do not keep the app out.
async fn raw_connection_cases(server: &mut Server) -> (SessionHandle, String) {
    let offer: RawSessionOffer = open_raw(server).await.json().await.unwrap();
    let mut silent = Vec::new();
    for _ in 0..12 {
        silent.push(TcpStream::connect(&offer.address).await.unwrap());
    }
    // One that announces a 64 MiB first message, and one that sends a video frame first.
    let mut huge = TcpStream::connect(&offer.address).await.unwrap();
    let mut header = vec![1u8];
    header.extend_from_slice(&(64u32 << 20).to_le_bytes());
    huge.write_all(&header).await.unwrap();
    let mut wrong_kind = TcpStream::connect(&offer.address).await.unwrap();
    wrong_kind.write_all(&[2, 0, 0, 0, 1]).await.unwrap();
    assert!(
        closed_within(&mut huge, Duration::from_secs(3)).await,
        "an oversized key is refused at once"
    );
    assert!(
        closed_within(&mut wrong_kind, Duration::from_secs(3)).await,
        "a first message that is not the key is refused"
    );
    let started = Instant::now();
    let session = tokio::time::timeout(
        Duration::from_secs(10),
        SessionHandle::connect_raw(&offer.address, &offer.key),
    )
    .await
    .expect("connect in time")
    .expect("connect");
    // Give the key time to be read: the session must open while the silent ones wait.
    let deadline = Instant::now() + Duration::from_secs(6);
    loop {
        let s = status(server).await;
        if s.sessions
            .iter()
            .any(|x| x.id == offer.id && x.state == studio_proto::api::SessionState::Open)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the app's connection was held up by silent ones"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(started.elapsed() < Duration::from_secs(6));
    drop(silent);
    still_well(server, "silent and bogus raw connections").await;
    (session, offer.id)
}

async fn slowloris(server: &mut Server) {
    let mut trickles = Vec::new();
    for _ in 0..20 {
        trickles.push(TcpStream::connect(&server.address).await.unwrap());
    }
    let request = b"GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    let started = Instant::now();
    let mut closed = 0;
    for stream in &mut trickles {
        let _ = stream.write_all(&request[..10]).await;
    }
    // Headers one byte at a time: cut off once the header deadline passes.
    for _ in 0..30 {
        for stream in &mut trickles {
            let _ = stream.write_all(b"a").await;
        }
        still_well(server, "slowloris in progress").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for stream in &mut trickles {
        if closed_within(stream, Duration::from_secs(2)).await {
            closed += 1;
        }
    }
    assert_eq!(
        closed,
        trickles.len(),
        "every trickling connection is cut off"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    still_well(server, "slowloris").await;

    // A body trickled under the request deadline: 408 with a JSON error.
    let mut slow_body = TcpStream::connect(&server.address).await.unwrap();
    let head = format!(
        "POST /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 2000\r\n\r\n"
    );
    slow_body.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(6);
    while Instant::now() < deadline {
        let _ = slow_body.write_all(b" ").await;
        let mut buf = [0u8; 1024];
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(100), slow_body.read(&mut buf)).await
        {
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
            if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                break;
            }
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    still_well(server, "slow body").await;
}

async fn event_stream_cap(server: &mut Server) {
    let open = || {
        http()
            .get(format!("{}/v1/events", server.url))
            .bearer_auth(TOKEN)
            .send()
    };
    let first = open().await.unwrap();
    let second = open().await.unwrap();
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let (got, code) = answer(open().await.unwrap()).await;
    assert_eq!((got, code.as_str()), (503, "too_many_streams"));
    drop(first);
    // The place comes back once the server notices the client went, at its next event.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let again = open().await.unwrap();
        if again.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a closed stream's place came back"
        );
        // A change makes every stream write, and a closed one find out.
        if let Ok(offer) = open_raw(server).await.json::<RawSessionOffer>().await {
            let _ = http()
                .delete(format!("{}/v1/sessions/{}", server.url, offer.id))
                .bearer_auth(TOKEN)
                .send()
                .await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(second);
    still_well(server, "event streams").await;
}

async fn ice_tcp_cases(server: &mut Server) {
    let ice = format!("127.0.0.1:{}", server.ice_tcp);
    // A flood from one address: beyond the per-address limit, connections close at once.
    let mut flood = Vec::new();
    for _ in 0..40 {
        if let Ok(stream) = TcpStream::connect(&ice).await {
            flood.push(stream);
        }
    }
    let mut still_open = 0;
    for stream in &mut flood {
        if !closed_within(stream, Duration::from_millis(200)).await {
            still_open += 1;
        }
    }
    assert!(
        still_open <= 2,
        "{still_open} of 40 flooding connections kept"
    );
    drop(flood);
    still_well(server, "ICE-TCP flood").await;

    // Garbage and a STUN request for no session: closed promptly.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut garbage = TcpStream::connect(&ice).await.unwrap();
    garbage.write_all(&[0, 4, 1, 2, 3, 4]).await.unwrap();
    assert!(closed_within(&mut garbage, Duration::from_secs(2)).await);
    let mut stun = TcpStream::connect(&ice).await.unwrap();
    let mut packet = vec![0x00, 0x01, 0x00, 0x0c, 0x21, 0x12, 0xa4, 0x42];
    packet.extend_from_slice(&[7u8; 12]);
    packet.extend_from_slice(&[0x00, 0x06, 0x00, 0x07]);
    packet.extend_from_slice(b"abc:def\0");
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&packet);
    stun.write_all(&framed).await.unwrap();
    assert!(closed_within(&mut stun, Duration::from_secs(2)).await);
    still_well(server, "ICE-TCP garbage and unknown session").await;

    // A trickle: a 64 KiB frame a byte at a time costs the router no copies, and health
    // stays quick meanwhile.
    let mut trickle = TcpStream::connect(&ice).await.unwrap();
    trickle.write_all(&[0xff, 0xff]).await.unwrap();
    for _ in 0..50 {
        let _ = trickle.write_all(&[0u8; 1]).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    still_well(server, "ICE-TCP trickle").await;
}

/// A PNG whose header (with correct CRCs) claims `width`×`height`, with an empty data chunk:
/// enough for a decoder to read the size.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut header = width.to_be_bytes().to_vec();
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let empty: &[u8] = &[];
    let chunks: [(&[u8], &[u8]); 3] = [(b"IHDR", &header), (b"IDAT", empty), (b"IEND", empty)];
    for (name, data) in chunks {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut chunk = name.to_vec();
        chunk.extend_from_slice(data);
        png.extend_from_slice(&chunk);
        png.extend_from_slice(&crc32(&chunk).to_be_bytes());
    }
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn frame(seq: u64) -> VideoFrame {
    VideoFrame {
        seq,
        capture: Timestamp(1_000 + seq * 33_333),
        image: I420Image::black(64, 48),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_video_server_survives_the_sweep() {
    let mut server = start("video");
    still_well(&mut server, "start").await;
    auth_cases(&mut server).await;
    body_cases(&mut server).await;
    path_cases(&mut server).await;

    // Faces: oversized, malformed, huge dimensions.
    let faces = format!("{}/v1/faces", server.url);
    let huge_png = png_claiming(60_000, 60_000);
    // Wait for the stand-in engine so images reach the decoder.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !status(&server).await.engine.contains("ready") {
        assert!(Instant::now() < deadline, "the face engine loads");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let image_cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "oversized image",
            vec![0xff; 400_000],
            413,
            "image_too_large",
        ),
        (
            "not an image",
            b"GIF89a not really".to_vec(),
            415,
            "unsupported_image",
        ),
        (
            "truncated jpeg",
            vec![0xff, 0xd8, 0xff, 0xe0, 0, 16],
            400,
            "unreadable_image",
        ),
        ("huge dimensions", huge_png, 413, "image_too_large"),
        ("empty image", Vec::new(), 400, "empty_image"),
    ];
    for (case, body, want, want_code) in image_cases {
        let r = http()
            .post(&faces)
            .bearer_auth(TOKEN)
            .body(body)
            .send()
            .await
            .unwrap();
        let (got, code) = answer(r).await;
        assert_eq!((got, code.as_str()), (want, want_code), "{case}");
        still_well(&mut server, case).await;
    }

    session_flood(&mut server).await;
    let (mut session, id) = raw_connection_cases(&mut server).await;

    // A control for the other role is refused, not stored.
    let seq = session.sender.send_control(Control::SetVoice {
        voice_id: "x".repeat(100_000),
    });
    match next_event(&mut session.events).await {
        SessionEvent::ControlAck(ack) => {
            assert_eq!(ack.seq, seq);
            assert!(ack.error.is_some_and(|e| e.contains("audio server")));
        }
        other => panic!("expected an ack, got {other:?}"),
    }
    let listed = status(&server).await;
    let entry = listed.sessions.iter().find(|s| s.id == id).unwrap();
    assert_eq!(entry.settings.voice_id, None);
    // A flood of controls: bounded, the rest counted.
    for _ in 0..500 {
        session.sender.send_control(Control::Talk { active: true });
    }
    session.sender.send_video(frame(1));
    still_well(&mut server, "controls for the other role").await;

    // Idle: a connected session that sends nothing is closed.
    wait_sessions(&server, 0, Duration::from_secs(10)).await;
    let mut closed = false;
    while let Ok(Some(event)) =
        tokio::time::timeout(Duration::from_secs(5), session.events.recv()).await
    {
        if matches!(event, SessionEvent::Closed { .. }) {
            closed = true;
            break;
        }
    }
    assert!(closed, "the idle session was closed on the app's side too");
    still_well(&mut server, "idle session").await;

    event_stream_cap(&mut server).await;
    slowloris(&mut server).await;
    ice_tcp_cases(&mut server).await;
    eprintln!(
        "video server: RSS {} kB at start, {} kB after the sweep",
        server.rss_start_kb,
        rss_kb(server.child.id())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_audio_server_survives_the_sweep() {
    let mut server = start("audio");
    still_well(&mut server, "start").await;
    auth_cases(&mut server).await;
    body_cases(&mut server).await;

    let r = http()
        .post(format!("{}/v1/faces", server.url))
        .bearer_auth(TOKEN)
        .body(vec![0u8; 100_000])
        .send()
        .await
        .unwrap();
    let (got, code) = answer(r).await;
    assert_eq!(
        (got, code.as_str()),
        (404, "not_found"),
        "faces on the audio server"
    );
    still_well(&mut server, "faces on the audio server").await;

    // NaN, infinities, huge values, empty and odd blocks: every block comes back.
    let offer: RawSessionOffer = open_raw(&server).await.json().await.unwrap();
    let mut session = SessionHandle::connect_raw(&offer.address, &offer.key)
        .await
        .unwrap();
    let blocks: Vec<Vec<f32>> = vec![
        vec![f32::NAN; 960],
        vec![f32::INFINITY; 960],
        vec![f32::NEG_INFINITY; 960],
        vec![f32::MAX; 960],
        (0..960)
            .map(|i| if i % 2 == 0 { f32::NAN } else { 1e30 })
            .collect(),
        vec![0.0; 1],
        vec![0.5; 4801],
    ];
    for voice in ["dsp:pitch=12", "robot"] {
        session.sender.send_control(Control::SetVoice {
            voice_id: voice.into(),
        });
        session.sender.send_control(Control::Talk { active: true });
        for (seq, samples) in blocks.iter().enumerate() {
            session.sender.send_audio(AudioBlock {
                seq: seq as u64,
                capture: Timestamp(1_000 + seq as u64 * 20_000),
                sample_rate: 48_000,
                samples: samples.clone(),
            });
        }
        let mut audio = 0;
        while audio < blocks.len() {
            match next_event(&mut session.events).await {
                SessionEvent::Audio(_) => audio += 1,
                SessionEvent::ControlAck(_) => {}
                other => panic!("{voice}: expected audio back, got {other:?}"),
            }
        }
        still_well(&mut server, "NaN and infinite audio").await;
    }
    session.sender.close();
    drop(session);

    session_flood(&mut server).await;
    event_stream_cap(&mut server).await;
    slowloris(&mut server).await;
    ice_tcp_cases(&mut server).await;
    eprintln!(
        "audio server: RSS {} kB at start, {} kB after the sweep",
        server.rss_start_kb,
        rss_kb(server.child.id())
    );
}
