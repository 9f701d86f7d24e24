//! The fake is RunPod's spec: the extracted schemas match the spec, every request the
//! studio's client can send passes them, every answer the fake gives on every route and
//! status fits them, and RunPod's problem details and rate-limit headers reach the client.

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;
use studio_cloud::lifecycle::{Action, Outcome, Plan, Provisioner};
use studio_cloud::{ApiError, CloudProvider, CloudSettings, RunpodRest, Secret};
use studio_cloud_fake::spec::Spec;
use studio_cloud_fake::{FakeOptions, FakeRunpod, Fault};
use studio_proto::config::CloudType;

const KEY: &str = "rpa_account_key_for_the_fake";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A stand-in for the pods' `studio-server`: announces an address and waits for stdin to
/// close, as the real one does. (The real server runs as the fake's pods in the app's and
/// the server's tests; here only the API's answers matter.)
fn stand_in_server(dir: &Path) -> PathBuf {
    let script = dir.join("studio-server");
    std::fs::write(
        &script,
        "#!/bin/sh\necho '{\"listening\":\"127.0.0.1:9\",\"role\":\"audio\"}'\nexec cat >/dev/null\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    script
}

async fn fake(dir: &Path) -> FakeRunpod {
    FakeRunpod::start(FakeOptions {
        server_binary: stand_in_server(dir),
        api_key: KEY.into(),
        provisioning: Duration::from_millis(50),
        pod_env: Vec::new(),
    })
    .await
    .unwrap()
}

#[test]
fn the_extracted_schemas_are_those_of_the_spec() {
    let spec = repo_root().join("../shared/reference/runpod-openapi-v2.json");
    if !spec.is_file() {
        println!(
            "skipped: RunPod's spec is not at {} (the extraction is checked where it is)",
            spec.display()
        );
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let fresh = out.path().join("runpod-v2.json");
    let status = std::process::Command::new("python3")
        .arg(repo_root().join("tools/runpod/extract_schemas.py"))
        .arg(&spec)
        .arg(&fresh)
        .status();
    match status {
        Ok(status) => assert!(status.success(), "the extraction failed"),
        Err(e) => {
            println!("skipped: python3 cannot run here ({e})");
            return;
        }
    }
    let checked_in =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("spec/runpod-v2.json"))
            .unwrap();
    assert!(
        std::fs::read_to_string(&fresh).unwrap() == checked_in,
        "crates/cloud-fake/spec/runpod-v2.json is stale: run tools/runpod/extract_schemas.py"
    );
}

fn plan(cloud_type: CloudType, volume_gb: u32) -> Plan {
    let mut config = studio_proto::config::Config::defaults()
        .unwrap()
        .cloud
        .runpod;
    config.cloud_type = cloud_type;
    config.volume_gb = volume_gb;
    let settings = CloudSettings {
        api_url: "https://api.runpod.io/v2".into(),
        proxy_url_template: "https://{pod_id}-{port}.proxy.runpod.net".into(),
    };
    Plan::new(&config, settings, "inst01")
}

fn catalog() -> Vec<studio_cloud::api::GpuType> {
    let body = json!({"gpus": [
        {"id": "NVIDIA GeForce RTX 4090", "price": {"secure": 0.69, "community": 0.34}},
        {"id": "NVIDIA RTX A5000", "price": {"secure": 0.27, "community": 0.16}},
        {"id": "NVIDIA L4", "price": {"secure": 0.43, "community": 0.28}},
        {"id": "NVIDIA RTX 4000 Ada Generation", "price": {"secure": 0.26, "community": 0.20}},
    ]});
    serde_json::from_value::<studio_cloud::api::ListGpuTypesResponse>(body)
        .unwrap()
        .gpus
}

/// Every create body a configuration leads to: each candidate is refused for capacity, so
/// the lifecycle walks them all, for both roles.
fn every_create_body(plan: Plan) -> Vec<Value> {
    let mut m = Provisioner::new(plan, Secret::new("vt"), Secret::new("at"));
    let t = Duration::ZERO;
    assert!(matches!(m.next(t), Action::ListPods));
    m.handle(Outcome::Pods(Ok(vec![])), t);
    assert!(matches!(m.next(t), Action::ListPrices));
    m.handle(Outcome::Prices(Ok(catalog())), t);
    let mut bodies = Vec::new();
    let mut created = 0;
    loop {
        match m.next(t) {
            Action::Create { request, .. } => {
                bodies.push(serde_json::to_value(&request).unwrap());
                // Every other create of the video pod succeeds after one refusal, so the
                // audio pod is walked too.
                if created == 0 && bodies.len() == 2 {
                    created += 1;
                    let pod = serde_json::from_value(
                        json!({"id": "v1", "name": request.name, "status": "PROVISIONING"}),
                    )
                    .unwrap();
                    m.handle(Outcome::Created(Ok(pod)), t);
                } else {
                    m.handle(Outcome::Created(Err(ApiError::http(400, "no capacity"))), t);
                }
            }
            Action::Delete { .. } => m.handle(Outcome::Deleted(Ok(())), t),
            Action::Finished(_) => break,
            other => panic!("{other:?}"),
        }
    }
    bodies
}

#[test]
fn every_create_body_the_config_can_produce_passes_the_spec() {
    let spec = Spec::load().unwrap();
    let mut clouds_seen = BTreeSet::new();
    let mut checked = 0;
    for cloud_type in [CloudType::Secure, CloudType::Community, CloudType::Any] {
        for volume_gb in [0, 10, 20] {
            let bodies = every_create_body(plan(cloud_type, volume_gb));
            assert!(bodies.len() >= 4, "{cloud_type:?}: {}", bodies.len());
            for body in bodies {
                let violations = spec.check_body("POST /v2/pods", &body);
                assert!(violations.is_empty(), "{body}\n{violations:#?}");
                assert_eq!(body.get("mounts").is_some(), volume_gb > 0, "{body}");
                clouds_seen.insert(body["cloud"].as_str().unwrap().to_string());
                checked += 1;
            }
        }
    }
    assert_eq!(
        clouds_seen.into_iter().collect::<Vec<_>>(),
        ["COMMUNITY", "SECURE"]
    );
    assert!(checked > 40, "{checked}");
    // And the spec is not a pushover: v1's body is refused.
    let v1 = json!({"name": "p", "imageName": "img", "gpuTypeIds": ["NVIDIA L4"]});
    assert!(!spec.check_body("POST /v2/pods", &v1).is_empty());
}

/// The client's own requests against the fake: each one recorded with no violation.
#[tokio::test(flavor = "multi_thread")]
async fn the_clients_requests_break_no_schema() {
    let dir = tempfile::tempdir().unwrap();
    let fake = fake(dir.path()).await;
    let client = RunpodRest::new(&fake.api_url(), Secret::new(KEY)).unwrap();
    let gpus = client.gpu_types().await.unwrap();
    assert_eq!(gpus[0].price("SECURE", 1), Some(0.69));
    for (cloud_type, volume) in [(CloudType::Any, 20), (CloudType::Community, 0)] {
        let body = every_create_body(plan(cloud_type, volume))
            .into_iter()
            .next()
            .unwrap();
        let request = serde_json::from_value(body).unwrap();
        let pod = client.create_pod(&request).await.unwrap();
        assert!(pod.cost.is_some_and(|c| c > 0.0));
        assert!(
            client
                .list_pods()
                .await
                .unwrap()
                .iter()
                .any(|p| p.id == pod.id)
        );
        client.delete_pod(&pod.id).await.unwrap();
        // Gone already: deleting again is fine (404 on the wire).
        client.delete_pod(&pod.id).await.unwrap();
    }
    let seen = fake.seen();
    assert!(seen.len() >= 9, "{seen:#?}");
    for request in seen {
        assert!(request.violations.is_empty(), "{request:#?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_on_every_route_and_status_fits_the_spec() {
    let dir = tempfile::tempdir().unwrap();
    let fake = fake(dir.path()).await;
    let http = reqwest::Client::new();
    let api = fake.api_url();
    let body = |gpu: &str| {
        json!({
            "name": "streaming-studio-spec-video", "image": "img",
            "gpu": {"id": gpu, "count": 1, "minCudaVersion": "12.4"}, "cloud": "SECURE",
            "disk": 20, "mounts": {"persistent": {"size": 20, "path": "/workspace"}},
            "ports": ["8000/http", "70000/tcp"], "env": {"STUDIO_ROLE": "video"}
        })
    };
    let create = |value: Value, key: Option<&str>| {
        let mut request = http.post(format!("{api}/pods")).json(&value);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send()
    };
    let status = |r: reqwest::Response| r.status().as_u16();

    // POST /v2/pods: 201, then every refusal.
    let first: Value = create(body("NVIDIA L4"), Some(KEY))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = first["id"].as_str().unwrap().to_string();
    let second: Value = create(body("NVIDIA RTX A5000"), Some(KEY))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let second = second["id"].as_str().unwrap().to_string();
    assert_eq!(status(create(body("NVIDIA L4"), None).await.unwrap()), 401);
    let mut v1 = body("NVIDIA L4");
    v1["gpuTypeIds"] = json!(["NVIDIA L4"]);
    let refused = create(v1, Some(KEY)).await.unwrap();
    assert_eq!(refused.status(), 422);
    let problem: Value = refused.json().await.unwrap();
    assert!(
        problem["errors"].to_string().contains("gpuTypeIds"),
        "{problem}"
    );
    let mut both = body("NVIDIA L4");
    // Valid by the schema, refused by the handler (the spec says so in prose).
    both["mounts"]["network"] = json!([{"volumeId": "vol_xyz", "path": "/runpod-volume"}]);
    assert_eq!(status(create(both, Some(KEY)).await.unwrap()), 400);
    for (fault, expected) in [
        (Fault::NoCapacity, 400),
        (Fault::Balance, 402),
        (Fault::Forbidden, 403),
        (Fault::RateLimited(Duration::from_secs(u64::MAX)), 429),
        (Fault::Unavailable, 503),
    ] {
        fake.fail_next_create(fault);
        assert_eq!(
            status(create(body("NVIDIA L4"), Some(KEY)).await.unwrap()),
            expected
        );
    }
    // Wait until the pods run, so GETs show RUNNING pods with their ports.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while fake.pods().iter().filter(|p| p.runtime.is_some()).count() < 2 {
        assert!(std::time::Instant::now() < deadline, "{:?}", fake.pods());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pod_key = fake.pod_key(&first).unwrap();
    let get = |url: String, key: Option<String>| {
        let mut request = http.get(url);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send()
    };
    // GET /v2/pods: 200, 401, 403 (a pod's key), 422 (an unknown query parameter).
    assert_eq!(
        status(get(format!("{api}/pods"), Some(KEY.into())).await.unwrap()),
        200
    );
    assert_eq!(
        status(
            get(
                format!("{api}/pods?includeClusterPods=false"),
                Some(KEY.into())
            )
            .await
            .unwrap()
        ),
        200
    );
    assert_eq!(status(get(format!("{api}/pods"), None).await.unwrap()), 401);
    assert_eq!(
        status(
            get(format!("{api}/pods"), Some(pod_key.clone()))
                .await
                .unwrap()
        ),
        403
    );
    assert_eq!(
        status(
            get(format!("{api}/pods?name=x"), Some(KEY.into()))
                .await
                .unwrap()
        ),
        422
    );
    // GET /v2/pods/{id}: 200 (account and own key), 401, 403 (another pod), 404.
    assert_eq!(
        status(
            get(format!("{api}/pods/{first}"), Some(KEY.into()))
                .await
                .unwrap()
        ),
        200
    );
    assert_eq!(
        status(
            get(format!("{api}/pods/{first}"), Some(pod_key.clone()))
                .await
                .unwrap()
        ),
        200
    );
    assert_eq!(
        status(get(format!("{api}/pods/{first}"), None).await.unwrap()),
        401
    );
    assert_eq!(
        status(
            get(format!("{api}/pods/{second}"), Some(pod_key.clone()))
                .await
                .unwrap()
        ),
        403
    );
    assert_eq!(
        status(
            get(format!("{api}/pods/nosuchpod"), Some(KEY.into()))
                .await
                .unwrap()
        ),
        404
    );
    // GET /v2/catalog/gpus: 200, 401, 422.
    assert_eq!(
        status(
            get(format!("{api}/catalog/gpus"), Some(KEY.into()))
                .await
                .unwrap()
        ),
        200
    );
    assert_eq!(
        status(get(format!("{api}/catalog/gpus"), None).await.unwrap()),
        401
    );
    assert_eq!(
        status(
            get(
                format!("{api}/catalog/gpus?include=PRICES"),
                Some(KEY.into())
            )
            .await
            .unwrap()
        ),
        422
    );
    // DELETE /v2/pods/{id}: 401, 403 (another pod's key), 204 (own key, then the account),
    // 404 once gone.
    let delete = |id: &str, key: Option<&str>| {
        let mut request = http.delete(format!("{api}/pods/{id}"));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send()
    };
    assert_eq!(status(delete(&second, None).await.unwrap()), 401);
    assert_eq!(status(delete(&second, Some(&pod_key)).await.unwrap()), 403);
    assert_eq!(status(delete(&first, Some(&pod_key)).await.unwrap()), 204);
    assert_eq!(status(delete(&second, Some(KEY)).await.unwrap()), 204);
    assert_eq!(status(delete(&second, Some(KEY)).await.unwrap()), 404);

    let spec = fake.spec();
    let mut covered = BTreeSet::new();
    for answer in fake.answers() {
        let problems = spec.check_response(
            &answer.operation,
            answer.status,
            answer.content_type.as_deref(),
            &answer.headers,
            &answer.body,
        );
        assert!(
            problems.is_empty(),
            "{} {}: {problems:#?}\n{}",
            answer.operation,
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
        covered.insert(format!("{} {}", answer.operation, answer.status));
    }
    let expected: BTreeSet<String> = [
        "POST /v2/pods 201",
        "POST /v2/pods 400",
        "POST /v2/pods 401",
        "POST /v2/pods 402",
        "POST /v2/pods 403",
        "POST /v2/pods 422",
        "POST /v2/pods 429",
        "POST /v2/pods 503",
        "GET /v2/pods 200",
        "GET /v2/pods 401",
        "GET /v2/pods 403",
        "GET /v2/pods 422",
        "GET /v2/pods/{id} 200",
        "GET /v2/pods/{id} 401",
        "GET /v2/pods/{id} 403",
        "GET /v2/pods/{id} 404",
        "GET /v2/catalog/gpus 200",
        "GET /v2/catalog/gpus 401",
        "GET /v2/catalog/gpus 422",
        "DELETE /v2/pods/{id} 204",
        "DELETE /v2/pods/{id} 401",
        "DELETE /v2/pods/{id} 403",
        "DELETE /v2/pods/{id} 404",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(covered, expected);
    // The 429's Retry-After is the number the fault asked for, and the spec's integer.
    let limited = fake
        .answers()
        .into_iter()
        .find(|a| a.status == 429)
        .unwrap();
    assert!(
        limited
            .headers
            .iter()
            .any(|(n, v)| n == "retry-after" && v == "18446744073709551615"),
        "{:?}",
        limited.headers
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn problem_details_and_rate_limits_reach_the_client_clamped() {
    let dir = tempfile::tempdir().unwrap();
    let fake = fake(dir.path()).await;
    let client = RunpodRest::new(&fake.api_url(), Secret::new(KEY)).unwrap();
    let request = serde_json::from_value(
        every_create_body(plan(CloudType::Secure, 20))
            .into_iter()
            .next()
            .unwrap(),
    )
    .unwrap();

    fake.fail_next_create(Fault::RateLimited(Duration::from_secs(u64::MAX)));
    let limited = client.create_pod(&request).await.unwrap_err();
    assert_eq!(limited.status, Some(429));
    assert_eq!(limited.retry_after, Some(studio_cloud::limits::MAX_WAIT));
    assert_eq!(limited.message, "rate limit exceeded for the minute window");

    fake.fail_next_create(Fault::Balance);
    let balance = client.create_pod(&request).await.unwrap_err();
    assert_eq!(balance.status, Some(402));
    assert_eq!(balance.title, "Payment Required");
    assert_eq!(balance.message, "Your balance is too low to start this pod");

    let wrong = RunpodRest::new(&fake.api_url(), Secret::new("not-the-key")).unwrap();
    let refused = wrong.list_pods().await.unwrap_err();
    assert_eq!(
        (refused.status, refused.message.as_str()),
        (Some(401), "invalid bearer token")
    );

    assert_eq!(client.take_quota_pause(), None);
    fake.exhaust_quota(1, 12);
    client.list_pods().await.unwrap();
    assert_eq!(client.take_quota_pause(), Some(Duration::from_secs(12)));
    assert_eq!(client.take_quota_pause(), None, "taken once");
    fake.exhaust_quota(1, u64::MAX);
    client.list_pods().await.unwrap();
    assert_eq!(
        client.take_quota_pause(),
        Some(studio_cloud::limits::MAX_WAIT)
    );
}
