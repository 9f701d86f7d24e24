//! Cloud mode end to end against the fake RunPod API on loopback, whose pods are real
//! `studio-server` processes: the headless run, capacity, balance and rate-limit answers, a
//! missing key and a killed app's pods.

mod common;

use serde_json::Value;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;
use studio_cloud_fake::{Caller, FakeOptions, FakeRunpod, Fault};

const KEY: &str = "rpa_test_key_for_the_fake";

async fn fake() -> FakeRunpod {
    FakeRunpod::start(FakeOptions {
        server_binary: common::server_binary(),
        api_key: KEY.into(),
        provisioning: Duration::from_millis(300),
        pod_env: Vec::new(),
    })
    .await
    .expect("start the fake RunPod API")
}

/// `studio run --headless --mode cloud` against `fake`, with its own data folder.
fn studio_cloud(fake: &FakeRunpod, data: &Path, extra: &[&str]) -> std::process::Command {
    let mut command = common::studio();
    command
        .args(["run", "--headless", "--mode", "cloud"])
        .args(extra)
        .env("RUNPOD_API_KEY", KEY)
        .env("RUNPOD_API_URL", fake.api_url())
        .env("RUNPOD_PROXY_URL_TEMPLATE", fake.proxy_url_template())
        .env("STUDIO_DATA_DIR", data)
        .env("STUDIO_LOG", "warn");
    command
}

async fn output(mut command: std::process::Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().expect("run studio"))
        .await
        .expect("join")
}

fn count(fake: &FakeRunpod, method: &str, path_prefix: &str) -> usize {
    fake.seen()
        .iter()
        .filter(|s| s.method == method && s.path.starts_with(path_prefix))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cloud_run_creates_two_pods_uses_them_and_deletes_them() {
    let fake = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let (video, audio, report) = (
        dir.path().join("out.y4m"),
        dir.path().join("out.wav"),
        dir.path().join("report.json"),
    );
    let mut command = studio_cloud(&fake, &dir.path().join("data"), &["--seconds", "2"]);
    command
        .arg("--video-out")
        .arg(&video)
        .arg("--audio-out")
        .arg(&audio)
        .arg("--report")
        .arg(&report);
    let out = output(command).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("pods deleted"), "{stdout}");
    assert!(!stderr.contains(KEY), "the key leaked into the log");

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    // Outputs as in local mode: every frame and sample came back through the pods.
    assert_eq!(report["video"]["frames_in"], 60);
    assert_eq!(report["video"]["frames_out"], 60);
    assert_eq!(
        report["audio"]["samples_out"],
        report["audio"]["samples_in"]
    );
    assert!(std::fs::metadata(&video).unwrap().len() > 0);
    assert!(std::fs::metadata(&audio).unwrap().len() > 0);

    let cloud = &report["cloud"];
    let pods = cloud["pods"].as_array().unwrap();
    assert_eq!(pods.len(), 2);
    assert_eq!(pods[0]["role"], "video");
    assert_eq!(pods[1]["role"], "audio");
    assert_eq!(pods[0]["gpu_type"], "NVIDIA GeForce RTX 4090");
    assert!(cloud["time_to_ready_s"].as_f64().unwrap() > 0.0);
    assert_eq!(cloud["hourly_usd"], 1.38);
    assert!(cloud["cost_estimate_usd"].as_f64().unwrap() > 0.0);
    assert_eq!(cloud["deleted"], true);
    for pod in pods {
        let id = pod["pod_id"].as_str().unwrap();
        assert_eq!(count(&fake, "DELETE", &format!("/v2/pods/{id}")), 1);
    }
    assert!(fake.pods().is_empty(), "pods left: {:?}", fake.pods());
    assert_eq!(count(&fake, "POST", "/v2/pods"), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_an_api_key_cloud_mode_says_how_to_give_one_and_sends_nothing() {
    let fake = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = studio_cloud(&fake, dir.path(), &["--seconds", "1"]);
    // No key in the environment, and no keyring service to find one in.
    command
        .env_remove("RUNPOD_API_KEY")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("HOME", dir.path())
        .env("XDG_RUNTIME_DIR", dir.path());
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cloud mode needs a RunPod API key: set RUNPOD_API_KEY"),
        "{stderr}"
    );
    assert!(fake.seen().is_empty(), "requests sent: {:?}", fake.seen());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gpu_type_without_capacity_is_passed_over_for_the_next() {
    let fake = fake().await;
    fake.set_no_capacity("NVIDIA GeForce RTX 4090");
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let mut command = studio_cloud(&fake, &dir.path().join("data"), &["--seconds", "1"]);
    command.arg("--report").arg(&report);
    let out = output(command).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("NVIDIA GeForce RTX 4090: no capacity"),
        "{stderr}"
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    for pod in report["cloud"]["pods"].as_array().unwrap() {
        assert_eq!(pod["gpu_type"], "NVIDIA RTX A5000");
    }
    assert!(fake.pods().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_balance_too_low_stops_with_a_clear_message_and_leaves_nothing() {
    let fake = fake().await;
    // The video pod is created; the audio pod's create fails once (503, retried), then 402.
    fake.pass_next_create();
    fake.fail_next_create(Fault::Unavailable);
    fake.fail_next_create(Fault::Balance);
    let dir = tempfile::tempdir().unwrap();
    let command = studio_cloud(&fake, &dir.path().join("data"), &["--seconds", "1"]);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("studio: RunPod says the account balance is too low"),
        "{stderr}"
    );
    assert!(fake.pods().is_empty(), "pods left: {:?}", fake.pods());
    // 503 retried, then 402 stopped: nothing tried after it, and the video pod deleted.
    assert_eq!(count(&fake, "POST", "/v2/pods"), 3);
    assert_eq!(count(&fake, "DELETE", "/v2/pods/"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limited_create_waits_as_runpod_asks() {
    let fake = fake().await;
    fake.fail_next_create(Fault::RateLimited(Duration::from_secs(2)));
    let dir = tempfile::tempdir().unwrap();
    let out = output(studio_cloud(
        &fake,
        &dir.path().join("data"),
        &["--seconds", "1"],
    ))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("waiting 2 s as it asks"), "{stderr}");
    let creates: Vec<Duration> = fake
        .seen()
        .iter()
        .filter(|s| s.method == "POST")
        .map(|s| s.at)
        .collect();
    assert_eq!(creates.len(), 3);
    let waited = creates[1] - creates[0];
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(3),
        "waited {waited:?}"
    );
    assert!(fake.pods().is_empty());
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn pods_of_a_killed_app_are_deleted_at_its_next_start() {
    let fake = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Another install's pod on the same account: never touched.
    let foreign = reqwest::Client::new()
        .post(format!("{}/pods", fake.api_url()))
        .bearer_auth(KEY)
        .json(&serde_json::json!({
            "name": "streaming-studio-0ther1-video", "image": "img",
            "gpu": {"id": "NVIDIA L4", "count": 1, "minCudaVersion": "12.4"},
            "cloud": "SECURE", "disk": 20,
            "mounts": {"persistent": {"size": 20, "path": "/workspace"}},
            "ports": ["8000/http", "70000/tcp"],
            "env": {"STUDIO_ROLE": "video", "STUDIO_TOKEN": "other"}
        }))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let mut first = studio_cloud(&fake, &data, &["--seconds", "60"]);
    let mut child = first
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the run has both of its pods and is streaming through them.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mine = fake
            .pods()
            .into_iter()
            .filter(|p| p.id != foreign && p.runtime.is_some())
            .count();
        if mine == 2 && count(&fake, "POST", "/v2/pods") == 3 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no pods came up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    child.kill().unwrap(); // SIGKILL: no chance to clean up.
    child.wait().unwrap();
    let orphans: Vec<String> = fake
        .pods()
        .into_iter()
        .map(|p| p.id)
        .filter(|id| *id != foreign)
        .collect();
    assert_eq!(orphans.len(), 2, "the killed app's pods are still billed");

    let out = output(studio_cloud(&fake, &data, &["--seconds", "1"])).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("deleting 2 pod(s) an earlier run left behind"),
        "{stderr}"
    );
    for id in &orphans {
        assert_eq!(count(&fake, "DELETE", &format!("/v2/pods/{id}")), 1, "{id}");
    }
    let left: Vec<String> = fake.pods().into_iter().map(|p| p.id).collect();
    assert_eq!(left, [foreign]);
}

/// What real pods need: signalling through the proxy, media over WebRTC with ICE-TCP to the
/// address each pod's server advertises (RUNPOD_PUBLIC_IP and its TCP port).
#[tokio::test(flavor = "multi_thread")]
async fn a_cloud_run_over_webrtc_reaches_the_pods_over_ice_tcp() {
    let fake = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let mut command = studio_cloud(
        &fake,
        &dir.path().join("data"),
        &["--seconds", "4", "--transport", "webrtc"],
    );
    command.arg("--report").arg(&report);
    let out = output(command).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(report["transport"], "webrtc-tcp");
    let (frames_in, frames_out) = (
        report["video"]["frames_in"].as_u64().unwrap(),
        report["video"]["frames_out"].as_u64().unwrap(),
    );
    // Video is never queued: under load a few frames are replaced, never most.
    assert!(
        frames_out * 10 >= frames_in * 8,
        "{frames_out} of {frames_in} frames"
    );
    let (samples_in, samples_out) = (
        report["audio"]["samples_in"].as_i64().unwrap(),
        report["audio"]["samples_out"].as_i64().unwrap(),
    );
    assert!(
        (samples_in - samples_out).abs() <= 4800,
        "{samples_out} of {samples_in} samples"
    );
    let pods = report["cloud"]["pods"].as_array().unwrap();
    assert_eq!(pods.len(), 2);
    // The hourly price is the catalog's `price.<cloud>` × GPU count, for both pods.
    let catalog = studio_cloud_fake::default_offers();
    let mut listed = 0.0;
    for pod in pods {
        assert_eq!(pod["public_ip"], "127.0.0.1");
        assert!(pod["ice_tcp_port"].as_u64().unwrap() > 0);
        assert_eq!(pod["cloud"], "SECURE");
        let offer = catalog
            .iter()
            .find(|o| o.id == pod["gpu_type"].as_str().unwrap())
            .unwrap();
        let price = offer.secure.unwrap() * f64::from(studio_cloud::lifecycle::GPU_COUNT);
        assert_eq!(pod["cost_per_hr"].as_f64().unwrap(), price);
        listed += price;
    }
    assert_eq!(report["cloud"]["hourly_usd"].as_f64().unwrap(), listed);
    assert_eq!(report["cloud"]["deleted"], true);
    assert!(fake.pods().is_empty(), "pods left: {:?}", fake.pods());
    // Two creates, two deletes, every request within the spec and every answer too.
    assert_eq!(count(&fake, "POST", "/v2/pods"), 2);
    assert_eq!(count(&fake, "DELETE", "/v2/pods/"), 2);
    assert_spec_kept(&fake);
}

/// No request the studio sent broke RunPod's schemas, and no answer the fake gave did.
fn assert_spec_kept(fake: &FakeRunpod) {
    let broken: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|s| !s.violations.is_empty())
        .collect();
    assert!(broken.is_empty(), "requests outside the spec: {broken:#?}");
    for answer in fake.answers() {
        let problems = fake.spec().check_response(
            &answer.operation,
            answer.status,
            answer.content_type.as_deref(),
            &answer.headers,
            &answer.body,
        );
        assert!(
            problems.is_empty(),
            "{} {}: {problems:#?}",
            answer.operation,
            answer.status
        );
    }
}

/// A studio killed with SIGKILL never starts again: its pods delete themselves, each with
/// its own pod-scoped key, once their servers saw no session and no request for the idle
/// timeout (shortened here to 3 s).
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn pods_of_a_killed_studio_that_never_returns_delete_themselves() {
    const IDLE: Duration = Duration::from_secs(3);
    let dir = tempfile::tempdir().unwrap();
    // A session whose app died closes once nothing arrives for `limits.session_idle_s`
    // (shortened like the pod's idle timeout); then the pod counts as idle.
    let pod_config = dir.path().join("pod-config.json");
    std::fs::write(&pod_config, r#"{"limits": {"session_idle_s": 3}}"#).unwrap();
    let fake = FakeRunpod::start(FakeOptions {
        server_binary: common::server_binary(),
        api_key: KEY.into(),
        provisioning: Duration::from_millis(300),
        pod_env: vec![
            ("STUDIO_IDLE_TIMEOUT_S".into(), IDLE.as_secs().to_string()),
            ("STUDIO_CONFIG".into(), pod_config.display().to_string()),
        ],
    })
    .await
    .expect("start the fake RunPod API");
    let mut run = studio_cloud(
        &fake,
        &dir.path().join("data"),
        &["--seconds", "120", "--transport", "webrtc"],
    );
    let mut child = run
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let running = fake.pods().iter().filter(|p| p.runtime.is_some()).count();
        if running == 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no pods came up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Streaming through both pods for longer than the idle timeout keeps them.
    tokio::time::sleep(IDLE + Duration::from_secs(2)).await;
    let pods: Vec<String> = fake.pods().into_iter().map(|p| p.id).collect();
    assert_eq!(pods.len(), 2, "pods in use were deleted");
    child.kill().unwrap(); // SIGKILL: the studio cannot clean up, and is never started again.
    child.wait().unwrap();
    let killed = std::time::Instant::now();
    while !fake.pods().is_empty() {
        assert!(
            killed.elapsed() < IDLE + Duration::from_secs(20),
            "pods still billing {:?} after the studio died: {:?}",
            killed.elapsed(),
            fake.pods()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let gone_after = killed.elapsed();
    assert!(
        gone_after >= IDLE - Duration::from_millis(500),
        "deleted after {gone_after:?}"
    );
    for id in &pods {
        let deletes: Vec<_> = fake
            .seen()
            .into_iter()
            .filter(|s| s.method == "DELETE" && s.path == format!("/v2/pods/{id}"))
            .collect();
        assert_eq!(deletes.len(), 1, "{id}: {deletes:?}");
        assert_eq!(
            deletes[0].caller,
            Caller::Pod(id.clone()),
            "{id} deleted by {:?}",
            deletes[0].caller
        );
    }
    assert_spec_kept(&fake);
}

/// Servers the app starts on this computer never act as a pod, whatever the environment
/// holds: a local server with a pod's identity would delete that pod.
#[tokio::test(flavor = "multi_thread")]
async fn local_servers_do_not_inherit_a_pods_identity() {
    let fake = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = common::studio();
    command
        .args(["run", "--headless", "--seconds", "3"])
        .env("RUNPOD_POD_ID", "somepod")
        .env("RUNPOD_API_KEY", KEY)
        .env("RUNPOD_API_URL", fake.api_url())
        // Were the identity passed on, the servers would delete "their" pod at once.
        .env("STUDIO_MAX_LIFETIME_S", "0")
        .env("STUDIO_DATA_DIR", dir.path())
        .env("STUDIO_LOG", "warn");
    let out = output(command).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        fake.seen().is_empty(),
        "a local server called RunPod: {:?}",
        fake.seen()
    );
}
