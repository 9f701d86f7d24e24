//! A pod's server deletes its own pod: real `studio-server` processes as the pods of the fake
//! RunPod API, which gives them RunPod's `RUNPOD_POD_ID` and a pod-scoped `RUNPOD_API_KEY`.
//! Idle timeouts and lifetimes are shortened to seconds (`STUDIO_IDLE_TIMEOUT_S`,
//! `STUDIO_MAX_LIFETIME_S`).

use std::time::{Duration, Instant};
use studio_cloud_fake::{Caller, FakeOptions, FakeRunpod};

const KEY: &str = "rpa_account_key_for_the_fake";
const TOKEN: &str = "pod-server-token-5678";

async fn fake(pod_env: &[(&str, &str)]) -> FakeRunpod {
    FakeRunpod::start(FakeOptions {
        server_binary: env!("CARGO_BIN_EXE_studio-server").into(),
        api_key: KEY.into(),
        provisioning: Duration::from_millis(100),
        pod_env: pod_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    })
    .await
    .expect("start the fake RunPod API")
}

/// Create one pod through the API, as the studio does, and wait until its server runs.
async fn running_pod(fake: &FakeRunpod) -> (String, Instant) {
    let created: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/pods", fake.api_url()))
        .bearer_auth(KEY)
        .json(&serde_json::json!({
            "name": "streaming-studio-expiry-audio", "image": "studio-server",
            "gpu": {"id": "NVIDIA L4", "count": 1, "minCudaVersion": "12.4"},
            "cloud": "SECURE", "disk": 20, "ports": ["8000/http", "70000/tcp"],
            "env": {"STUDIO_ROLE": "audio", "STUDIO_TOKEN": TOKEN}
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().expect("a pod id").to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !fake
        .pods()
        .iter()
        .any(|p| p.id == id && p.runtime.is_some())
    {
        assert!(Instant::now() < deadline, "the pod never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (id, Instant::now())
}

async fn gone_within(fake: &FakeRunpod, id: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    while fake.pods().iter().any(|p| p.id == id) {
        assert!(start.elapsed() < limit, "{id} still exists after {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    start.elapsed()
}

fn deletes_of(fake: &FakeRunpod, id: &str) -> Vec<Caller> {
    fake.seen()
        .into_iter()
        .filter(|s| s.method == "DELETE" && s.path == format!("/v2/pods/{id}"))
        .map(|s| s.caller)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unused_pod_deletes_itself_and_requests_keep_it() {
    let fake = fake(&[("STUDIO_IDLE_TIMEOUT_S", "2")]).await;
    let (id, running) = running_pod(&fake).await;
    // Requests with the server's token, through the proxy, for twice the idle timeout.
    let status = format!(
        "{}/v1/status",
        fake.proxy_url_template()
            .replace("{pod_id}", &id)
            .replace("{port}", "8000")
    );
    let http = reqwest::Client::new();
    while running.elapsed() < Duration::from_secs(4) {
        let answer = http.get(&status).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        fake.pods().iter().any(|p| p.id == id),
        "a pod in use deleted itself"
    );
    // Requests without the token are nobody using it.
    let _ = http.get(&status).send().await.unwrap();
    let took = gone_within(&fake, &id, Duration::from_secs(8)).await;
    assert!(
        took >= Duration::from_millis(1500),
        "deleted after {took:?}"
    );
    assert_eq!(deletes_of(&fake, &id), [Caller::Pod(id.clone())]);
    let broken: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|s| !s.violations.is_empty())
        .collect();
    assert!(broken.is_empty(), "{broken:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_in_use_still_ends_at_its_maximum_lifetime() {
    let fake = fake(&[
        ("STUDIO_IDLE_TIMEOUT_S", "600"),
        ("STUDIO_MAX_LIFETIME_S", "3"),
    ])
    .await;
    let (id, _) = running_pod(&fake).await;
    let status = format!(
        "{}/v1/status",
        fake.proxy_url_template()
            .replace("{pod_id}", &id)
            .replace("{port}", "8000")
    );
    let http = reqwest::Client::new();
    let start = Instant::now();
    while fake.pods().iter().any(|p| p.id == id) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the lifetime never ended"
        );
        let _ = http.get(&status).bearer_auth(TOKEN).send().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(deletes_of(&fake, &id), [Caller::Pod(id.clone())]);
}
