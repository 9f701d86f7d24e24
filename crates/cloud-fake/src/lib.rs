//! A fake RunPod REST v2 API on loopback, for tests and for trying cloud mode without an
//! account: `GET/POST /v2/pods`, `GET/DELETE /v2/pods/{id}`, `GET /v2/catalog/gpus`, and the
//! HTTP proxy at `/proxy/{pod_id}/{port}/…`. It is held to RunPod's published contract: every
//! request body and query is checked against the spec's schemas ([`spec`]) and answered 422
//! problem+json naming each field, as RunPod does; every answer is recorded so tests can check
//! it against the spec's response schemas. Its pods are real `studio-server` processes that go
//! through RunPod's statuses (PROVISIONING with `runtime` null, then RUNNING with ports) and
//! get the environment RunPod gives a pod, a pod-scoped API key included, so a pod's server
//! can delete its own pod. Capacity errors, 402, 403, 429 (with `Retry-After`), 5xx and a
//! used-up `RateLimit` window come on demand.

pub mod spec;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};
use studio_cloud::api::{CreatePod, Pod};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::oneshot;

/// RunPod's message when a GPU type has no capacity.
pub const NO_CAPACITY: &str =
    "There are no longer any instances available with the requested specifications";

/// The host CUDA every fake machine reports.
const HOST_CUDA: &str = "12.8";

/// A failure the next `POST /v2/pods` answers with.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 400 with RunPod's capacity message.
    NoCapacity,
    /// 402: balance too low.
    Balance,
    /// 403: no access to that pool.
    Forbidden,
    /// 429 with `Retry-After` in whole seconds (any number, however large).
    RateLimited(Duration),
    /// 503.
    Unavailable,
}

/// How the fake starts.
#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// The `studio-server` binary each pod runs.
    pub server_binary: PathBuf,
    /// The account's API key (pods get keys of their own).
    pub api_key: String,
    /// How long a pod stays PROVISIONING (runtime null) before its server starts.
    pub provisioning: Duration,
    /// Environment for every pod's server, after the pod's own (e.g. `STUDIO_CACHE_DIR`).
    pub pod_env: Vec<(String, String)>,
}

/// Who a request came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The account's key.
    Account,
    /// A pod's own key (`RUNPOD_API_KEY` inside the pod).
    Pod(String),
    /// No key, or a wrong one.
    Nobody,
}

/// One request the fake answered, for tests that count them.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub caller: Caller,
    /// What the request broke in the spec (empty for a valid request).
    pub violations: Vec<String>,
    /// When, since the fake started.
    pub at: Duration,
}

/// One answer the fake gave on the API, for tests that hold it to the spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The spec's name of the operation: `POST /v2/pods`.
    pub operation: String,
    pub status: u16,
    pub content_type: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A GPU type in the fake's catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    pub id: String,
    pub name: String,
    pub memory_gb: u32,
    /// USD per hour for one GPU; `None`: not offered in that cloud.
    pub secure: Option<f64>,
    pub community: Option<f64>,
}

impl Offer {
    fn price(&self, cloud: &str) -> Option<f64> {
        match cloud {
            "SECURE" => self.secure,
            "COMMUNITY" => self.community,
            _ => None,
        }
    }

    /// `GpuType` as the spec writes it.
    fn render(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "pool": null,
            "manufacturer": "NVIDIA",
            "memory": self.memory_gb,
            "secure": self.secure.is_some(),
            "community": self.community.is_some(),
            // The spec requires both prices; a cloud that does not offer the type lists 0.
            "price": {
                "secure": self.secure.unwrap_or(0.0),
                "community": self.community.unwrap_or(0.0),
            },
            "maxCount": {
                "secure": if self.secure.is_some() { 8 } else { 0 },
                "community": if self.community.is_some() { 4 } else { 0 },
            },
        })
    }
}

/// Prices the fake lists (USD per hour for one GPU; secure, community), close to RunPod's.
pub fn default_offers() -> Vec<Offer> {
    [
        ("NVIDIA GeForce RTX 4090", "RTX 4090", 24, 0.69, 0.34),
        ("NVIDIA RTX A5000", "RTX A5000", 24, 0.27, 0.16),
        ("NVIDIA L4", "L4", 24, 0.43, 0.28),
        (
            "NVIDIA RTX 4000 Ada Generation",
            "RTX 4000 Ada",
            20,
            0.26,
            0.20,
        ),
        ("NVIDIA L40S", "L40S", 48, 0.86, 0.79),
        ("NVIDIA H100 80GB HBM3", "H100 SXM", 80, 2.99, 2.69),
    ]
    .into_iter()
    .map(|(id, name, memory_gb, secure, community)| Offer {
        id: id.to_string(),
        name: name.to_string(),
        memory_gb,
        secure: Some(secure),
        community: Some(community),
    })
    .collect()
}

/// A pod as the fake keeps it.
struct FakePod {
    id: String,
    request: CreatePod,
    /// The pod-scoped key its server gets as `RUNPOD_API_KEY`.
    key: String,
    status: &'static str,
    cost: f64,
    created_at: SystemTime,
    started_at: Option<SystemTime>,
    /// The ICE-TCP port, once it runs (public = private, as RunPod maps ports ≥ 70000).
    ice_port: Option<u16>,
    /// The server's real address, once it runs.
    address: Option<SocketAddr>,
    pid: Option<u32>,
    kill: Option<oneshot::Sender<()>>,
}

impl FakePod {
    /// `Pod` as the spec writes it, every required field present.
    fn render(&self) -> Value {
        let running = self.status == "RUNNING";
        let mounts = match &self.request.mounts {
            Some(m) => {
                json!({"persistent": {"size": m.persistent.size, "path": m.persistent.path}})
            }
            None => json!({}),
        };
        let runtime = match (running, self.ice_port) {
            (true, Some(port)) => {
                let uptime = self
                    .started_at
                    .and_then(|t| t.elapsed().ok())
                    .map_or(0, |d| d.as_secs());
                let mut ports = Vec::new();
                for exposed in &self.request.ports {
                    let Some((number, kind)) = exposed.split_once('/') else {
                        continue;
                    };
                    let Ok(number) = number.parse::<u64>() else {
                        continue;
                    };
                    if kind == "tcp" {
                        ports.push(json!({"private": port, "public": port, "type": "tcp", "ip": "127.0.0.1"}));
                    } else {
                        // HTTP ports are reached through the proxy: no public mapping.
                        ports.push(
                            json!({"private": number, "public": null, "type": kind, "ip": null}),
                        );
                    }
                }
                json!({"uptime": uptime, "ports": ports})
            }
            _ => Value::Null,
        };
        json!({
            "id": self.id,
            "name": self.request.name,
            "image": self.request.image,
            "args": "",
            "disk": self.request.disk,
            "ports": self.request.ports,
            "env": self.request.env,
            "registry": null,
            "status": self.status,
            "actions": match self.status {
                "RUNNING" => json!(["stop", "restart", "terminate"]),
                "EXITED" => json!(["start", "terminate"]),
                _ => json!(["terminate"]),
            },
            "mounts": mounts,
            "gpu": {"id": self.request.gpu.id, "count": self.request.gpu.count},
            "cloud": self.request.cloud,
            "dataCenterId": if running { json!("US-KS-2") } else { Value::Null },
            "cudaVersion": if running { json!(HOST_CUDA) } else { Value::Null },
            "ssh": {"proxy": null, "direct": null},
            "template": null,
            "cost": if matches!(self.status, "EXITED" | "TERMINATED") { 0.0 } else { self.cost },
            "locked": false,
            "globalNetworking": {"enabled": false},
            "runtime": runtime,
            "createdAt": rfc3339(self.created_at),
            "startedAt": self.started_at.map(rfc3339),
        })
    }
}

/// `2026-06-01T12:00:00Z`.
fn rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's days-to-civil.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[derive(Default)]
struct Inner {
    pods: BTreeMap<String, FakePod>,
    /// Answers for the next creates, in order; `None` lets one through.
    faults: VecDeque<Option<Fault>>,
    no_capacity: BTreeSet<String>,
    offers: Vec<Offer>,
    seen: Vec<Seen>,
    answers: Vec<Answer>,
    /// This many answers say the minute window is used up, resetting in `.1` seconds.
    quota_exhausted: Option<(usize, u64)>,
}

struct Shared {
    options: FakeOptions,
    spec: spec::Spec,
    address: SocketAddr,
    started: std::time::Instant,
    inner: Mutex<Inner>,
    proxy: reqwest::Client,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The running fake; dropping it stops the HTTP server and every pod's server.
pub struct FakeRunpod {
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeRunpod {
    fn drop(&mut self) {
        self.server.abort();
        let mut inner = self.shared.lock();
        for pod in inner.pods.values_mut() {
            if let Some(kill) = pod.kill.take() {
                let _ = kill.send(());
            }
        }
    }
}

impl FakeRunpod {
    /// Listen on a free loopback port.
    pub async fn start(options: FakeOptions) -> std::io::Result<FakeRunpod> {
        FakeRunpod::start_on(options, 0).await
    }

    pub async fn start_on(options: FakeOptions, port: u16) -> std::io::Result<FakeRunpod> {
        let spec = spec::Spec::load().map_err(std::io::Error::other)?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let address = listener.local_addr()?;
        let proxy = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared {
            options,
            spec,
            address,
            started: std::time::Instant::now(),
            inner: Mutex::new(Inner {
                offers: default_offers(),
                ..Inner::default()
            }),
            proxy,
        });
        let app = Router::new()
            .route("/v2/pods", get(list_pods).post(create_pod))
            .route("/v2/pods/{id}", get(get_pod).delete(delete_pod))
            .route("/v2/catalog/gpus", get(catalog))
            .route("/proxy/{pod_id}/{port}", any(proxy_root))
            .route("/proxy/{pod_id}/{port}/{*rest}", any(proxy_path))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeRunpod { shared, server })
    }

    /// What `RUNPOD_API_URL` should be.
    pub fn api_url(&self) -> String {
        format!("http://{}/v2", self.shared.address)
    }

    /// What `RUNPOD_PROXY_URL_TEMPLATE` should be.
    pub fn proxy_url_template(&self) -> String {
        format!("http://{}/proxy/{{pod_id}}/{{port}}", self.shared.address)
    }

    /// Pods that exist now (deleted ones are gone, as on RunPod), read back through the
    /// client's own parser.
    pub fn pods(&self) -> Vec<Pod> {
        self.shared
            .lock()
            .pods
            .values()
            .filter_map(|p| serde_json::from_value(p.render()).ok())
            .collect()
    }

    /// The pod-scoped key a pod's server gets as `RUNPOD_API_KEY`.
    pub fn pod_key(&self, pod_id: &str) -> Option<String> {
        self.shared.lock().pods.get(pod_id).map(|p| p.key.clone())
    }

    /// Process ids of the pods' servers.
    pub fn server_pids(&self) -> Vec<u32> {
        self.shared
            .lock()
            .pods
            .values()
            .filter_map(|p| p.pid)
            .collect()
    }

    /// Every request answered so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.lock().seen.clone()
    }

    /// Every API answer given so far.
    pub fn answers(&self) -> Vec<Answer> {
        self.shared.lock().answers.clone()
    }

    /// The spec the fake checks requests against.
    pub fn spec(&self) -> &spec::Spec {
        &self.shared.spec
    }

    /// The next `POST /v2/pods` fails this way (queued in order).
    pub fn fail_next_create(&self, fault: Fault) {
        self.shared.lock().faults.push_back(Some(fault));
    }

    /// The next `POST /v2/pods` succeeds (to queue a failure after it).
    pub fn pass_next_create(&self) {
        self.shared.lock().faults.push_back(None);
    }

    /// Creates on this GPU type answer 400 with the capacity message until further notice.
    pub fn set_no_capacity(&self, gpu_type: &str) {
        self.shared.lock().no_capacity.insert(gpu_type.to_string());
    }

    /// Replace the price list.
    pub fn set_offers(&self, offers: Vec<Offer>) {
        self.shared.lock().offers = offers;
    }

    /// The next `answers` answers carry a `RateLimit` header whose minute window has no
    /// request left and resets in `reset_s` seconds.
    pub fn exhaust_quota(&self, answers: usize, reset_s: u64) {
        self.shared.lock().quota_exhausted = Some((answers, reset_s));
    }
}

fn status_title(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

/// Answer on the API: JSON for successes, problem+json for errors, RunPod's `RateLimit`
/// headers on every answer, and the answer recorded for the spec check.
fn reply(
    shared: &Shared,
    operation: &str,
    status: StatusCode,
    body: Option<Value>,
    extra: &[(HeaderName, String)],
) -> Response {
    let (content_type, bytes) = match &body {
        Some(body) if status.is_success() => ("application/json", body.to_string()),
        Some(body) => ("application/problem+json", body.to_string()),
        None => ("", String::new()),
    };
    let rate_limit = {
        let mut inner = shared.lock();
        match inner.quota_exhausted {
            Some((left, reset)) if left > 0 => {
                inner.quota_exhausted = (left > 1).then_some((left - 1, reset));
                format!(r#""minute";r=0;t={reset}, "hour";r=2800;t=1812, "day";r=49500;t=45012"#)
            }
            _ => r#""minute";r=59;t=60, "hour";r=2999;t=3600, "day";r=49999;t=86400"#.to_string(),
        }
    };
    let mut headers: Vec<(HeaderName, String)> = vec![
        (HeaderName::from_static("ratelimit"), rate_limit),
        (
            HeaderName::from_static("ratelimit-policy"),
            r#""minute";q=60;w=60, "hour";q=3000;w=3600, "day";q=50000;w=86400"#.to_string(),
        ),
    ];
    headers.extend(extra.iter().cloned());
    let mut response = Response::builder().status(status);
    if !content_type.is_empty() {
        response = response.header(header::CONTENT_TYPE, content_type);
    }
    for (name, value) in &headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            response = response.header(name, value);
        }
    }
    shared.lock().answers.push(Answer {
        operation: operation.to_string(),
        status: status.as_u16(),
        content_type: (!content_type.is_empty()).then(|| content_type.to_string()),
        headers: headers
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), v.clone()))
            .collect(),
        body: bytes.clone().into_bytes(),
    });
    response
        .body(Body::from(bytes))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn problem_reply(
    shared: &Shared,
    operation: &str,
    status: StatusCode,
    detail: &str,
    errors: &[String],
) -> Response {
    let body = spec::problem(status.as_u16(), status_title(status), detail, errors);
    reply(shared, operation, status, Some(body), &[])
}

/// Records the request and checks its key and query. `Err` is the answer to give instead
/// (401, or 422 naming each query problem).
fn admit(
    shared: &Shared,
    operation: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body_problems: Vec<String>,
) -> Result<Caller, Box<Response>> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let caller = {
        let inner = shared.lock();
        match given {
            Some(key) if key == shared.options.api_key => Caller::Account,
            Some(key) => inner
                .pods
                .values()
                .find(|p| p.key == key)
                .map_or(Caller::Nobody, |p| Caller::Pod(p.id.clone())),
            None => Caller::Nobody,
        }
    };
    let mut violations = shared.spec.check_query(operation, uri.query());
    violations.extend(body_problems);
    shared.lock().seen.push(Seen {
        method: operation.split(' ').next().unwrap_or_default().to_string(),
        path: uri.path().to_string(),
        query: uri.query().map(str::to_owned),
        caller: caller.clone(),
        violations: violations.clone(),
        at: shared.started.elapsed(),
    });
    if caller == Caller::Nobody {
        let detail = if given.is_some() {
            "invalid bearer token"
        } else {
            "missing bearer token"
        };
        return Err(Box::new(problem_reply(
            shared,
            operation,
            StatusCode::UNAUTHORIZED,
            detail,
            &[],
        )));
    }
    if !violations.is_empty() {
        return Err(Box::new(problem_reply(
            shared,
            operation,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Request validation failed.",
            &violations,
        )));
    }
    Ok(caller)
}

/// A pod's own key reaches only that pod.
fn may_touch(caller: &Caller, pod_id: &str) -> bool {
    match caller {
        Caller::Account => true,
        Caller::Pod(own) => own == pod_id,
        Caller::Nobody => false,
    }
}

async fn list_pods(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Response {
    const OP: &str = "GET /v2/pods";
    let caller = match admit(&shared, OP, &uri, &headers, Vec::new()) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    if caller != Caller::Account {
        return problem_reply(&shared, OP, StatusCode::FORBIDDEN, "access denied", &[]);
    }
    let pods: Vec<Value> = shared.lock().pods.values().map(FakePod::render).collect();
    reply(
        &shared,
        OP,
        StatusCode::OK,
        Some(json!({ "pods": pods })),
        &[],
    )
}

async fn get_pod(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    const OP: &str = "GET /v2/pods/{id}";
    let caller = match admit(&shared, OP, &uri, &headers, Vec::new()) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    if !may_touch(&caller, &id) {
        return problem_reply(&shared, OP, StatusCode::FORBIDDEN, "access denied", &[]);
    }
    let pod = shared.lock().pods.get(&id).map(FakePod::render);
    match pod {
        Some(pod) => reply(&shared, OP, StatusCode::OK, Some(pod), &[]),
        None => problem_reply(&shared, OP, StatusCode::NOT_FOUND, "pod not found", &[]),
    }
}

async fn delete_pod(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    const OP: &str = "DELETE /v2/pods/{id}";
    let caller = match admit(&shared, OP, &uri, &headers, Vec::new()) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    if !may_touch(&caller, &id) {
        return problem_reply(&shared, OP, StatusCode::FORBIDDEN, "access denied", &[]);
    }
    let removed = shared.lock().pods.remove(&id);
    match removed {
        Some(mut pod) => {
            if let Some(kill) = pod.kill.take() {
                let _ = kill.send(());
            }
            reply(&shared, OP, StatusCode::NO_CONTENT, None, &[])
        }
        None => problem_reply(&shared, OP, StatusCode::NOT_FOUND, "pod not found", &[]),
    }
}

async fn catalog(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Response {
    const OP: &str = "GET /v2/catalog/gpus";
    if let Err(answer) = admit(&shared, OP, &uri, &headers, Vec::new()) {
        return *answer;
    }
    let gpus: Vec<Value> = shared.lock().offers.iter().map(Offer::render).collect();
    reply(
        &shared,
        OP,
        StatusCode::OK,
        Some(json!({ "gpus": gpus })),
        &[],
    )
}

fn pod_id() -> String {
    random_text(14)
}

fn random_text(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    let _ = getrandom::fill(&mut bytes);
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// The rules the spec says RunPod enforces in its handler rather than in the schema (400).
fn handler_rules(body: &Value) -> Option<&'static str> {
    let has = |key: &str| body.get(key).is_some_and(|v| !v.is_null());
    if has("gpu") == has("cpu") {
        return Some("exactly one of gpu or cpu must be set");
    }
    let allowed = body["gpu"]["allowedCudaVersions"]
        .as_array()
        .is_some_and(|a| !a.is_empty());
    if allowed && has_key(&body["gpu"], "minCudaVersion") {
        return Some("minCudaVersion and a non-empty allowedCudaVersions are mutually exclusive");
    }
    if has_key(&body["mounts"], "persistent") && has_key(&body["mounts"], "network") {
        return Some("at most one of mounts.persistent or mounts.network may be set");
    }
    None
}

fn has_key(value: &Value, key: &str) -> bool {
    value.get(key).is_some_and(|v| !v.is_null())
}

/// `major.minor` compared as numbers, as RunPod compares CUDA versions.
fn cuda_at_least(host: &str, wanted: &str) -> bool {
    let parse = |v: &str| -> Option<(u32, u32)> {
        let (major, minor) = v.split_once('.')?;
        Some((major.parse().ok()?, minor.parse().ok()?))
    };
    matches!((parse(host), parse(wanted)), (Some(h), Some(w)) if h >= w)
}

async fn create_pod(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const OP: &str = "POST /v2/pods";
    let json_body = serde_json::from_slice::<Value>(&body);
    let body_problems = match &json_body {
        Ok(value) => shared.spec.check_body(OP, value),
        Err(e) => vec![format!("$: the body is not JSON ({e})")],
    };
    let caller = match admit(&shared, OP, &uri, &headers, body_problems) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    if caller != Caller::Account {
        return problem_reply(&shared, OP, StatusCode::FORBIDDEN, "access denied", &[]);
    }
    let Ok(body) = json_body else {
        return problem_reply(&shared, OP, StatusCode::BAD_REQUEST, "unreadable body", &[]);
    };
    if let Some(rule) = handler_rules(&body) {
        return problem_reply(&shared, OP, StatusCode::BAD_REQUEST, rule, &[]);
    }
    // Valid by the schema; what this fake's pods need beyond it (an image, a GPU).
    let request = match serde_json::from_value::<CreatePod>(body) {
        Ok(request) => request,
        Err(e) => {
            let detail = format!("the fake runs only GPU pods from an image: {e}");
            return problem_reply(&shared, OP, StatusCode::BAD_REQUEST, &detail, &[]);
        }
    };
    let gpu = request.gpu.id.clone();
    let fault = {
        let mut inner = shared.lock();
        match inner.faults.pop_front() {
            Some(queued) => queued,
            None => inner
                .no_capacity
                .contains(&gpu)
                .then_some(Fault::NoCapacity),
        }
    };
    let refuse = |status: StatusCode, detail: &str| problem_reply(&shared, OP, status, detail, &[]);
    match fault {
        Some(Fault::NoCapacity) => return refuse(StatusCode::BAD_REQUEST, NO_CAPACITY),
        Some(Fault::Balance) => {
            return refuse(
                StatusCode::PAYMENT_REQUIRED,
                "Your balance is too low to start this pod",
            );
        }
        Some(Fault::Forbidden) => {
            return refuse(StatusCode::FORBIDDEN, "You do not have access to this pool");
        }
        Some(Fault::RateLimited(after)) => {
            let body = spec::problem(
                429,
                "Too Many Requests",
                "rate limit exceeded for the minute window",
                &[],
            );
            return reply(
                &shared,
                OP,
                StatusCode::TOO_MANY_REQUESTS,
                Some(body),
                &[(header::RETRY_AFTER, after.as_secs().to_string())],
            );
        }
        Some(Fault::Unavailable) => {
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "upstream unavailable");
        }
        None => {}
    }
    if !cuda_at_least(HOST_CUDA, &request.gpu.min_cuda_version) {
        return refuse(StatusCode::BAD_REQUEST, NO_CAPACITY);
    }
    let offer = shared.lock().offers.iter().find(|o| o.id == gpu).cloned();
    let Some(offer) = offer else {
        return refuse(
            StatusCode::BAD_REQUEST,
            &format!("unknown GPU type {gpu:?}"),
        );
    };
    let Some(price) = offer.price(&request.cloud) else {
        return refuse(StatusCode::BAD_REQUEST, NO_CAPACITY);
    };
    let id = pod_id();
    let (kill, killed) = oneshot::channel();
    let count = request.gpu.count;
    let pod = FakePod {
        id: id.clone(),
        request: request.clone(),
        key: format!("rpa_pod_{}", random_text(24)),
        status: "PROVISIONING",
        cost: price * f64::from(count),
        created_at: SystemTime::now(),
        started_at: None,
        ice_port: None,
        address: None,
        pid: None,
        kill: Some(kill),
    };
    let rendered = pod.render();
    shared.lock().pods.insert(id.clone(), pod);
    tokio::spawn(run_pod(shared.clone(), id, killed));
    reply(&shared, OP, StatusCode::CREATED, Some(rendered), &[])
}

/// Provision, start the pod's server, mark it RUNNING with its ports, and watch it.
async fn run_pod(shared: Arc<Shared>, id: String, mut killed: oneshot::Receiver<()>) {
    tokio::select! {
        _ = tokio::time::sleep(shared.options.provisioning) => {}
        _ = &mut killed => return,
    }
    let Some((request, key)) = shared
        .lock()
        .pods
        .get(&id)
        .map(|p| (p.request.clone(), p.key.clone()))
    else {
        return;
    };
    // RunPod gives a symmetric public port for a requested TCP port of 70000 and up.
    let ice_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_default();
    let mut command = tokio::process::Command::new(&shared.options.server_binary);
    command
        .env_remove("STUDIO_CONFIG")
        .env_remove("STUDIO_INJECT_DELAY_MS")
        .envs(&request.env)
        // Several pods share this host: each server takes a free loopback port; the proxy
        // maps the pod's HTTP port to it.
        .env("STUDIO_HOST", "127.0.0.1")
        .env("STUDIO_PORT", "0")
        .env("STUDIO_WATCH_STDIN", "true")
        // What RunPod sets in every pod: its id, a key scoped to it, its public address.
        .env("RUNPOD_POD_ID", &id)
        .env("RUNPOD_API_KEY", &key)
        .env("RUNPOD_PUBLIC_IP", "127.0.0.1")
        .env(
            format!("RUNPOD_TCP_PORT_{}", ice_requested(&request)),
            ice_port.to_string(),
        )
        // Not set by RunPod (its pods reach the real API): this points them at the fake.
        .env("RUNPOD_API_URL", format!("http://{}/v2", shared.address))
        .envs(shared.options.pod_env.iter().cloned())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let set_status = |status: &'static str| {
        if let Some(pod) = shared.lock().pods.get_mut(&id) {
            pod.status = status;
        }
    };
    set_status("STARTING");
    let Ok(mut child) = command.spawn() else {
        set_status("ERROR");
        return;
    };
    let stdin = child.stdin.take();
    let Some(stdout) = child.stdout.take() else {
        set_status("ERROR");
        return;
    };
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::select! {
        line = lines.next_line() => line.ok().flatten(),
        _ = &mut killed => None,
    };
    let address = first
        .and_then(|l| serde_json::from_str::<Value>(&l).ok())
        .and_then(|v| v["listening"].as_str()?.parse::<SocketAddr>().ok());
    let Some(address) = address else {
        let _ = child.kill().await;
        set_status("ERROR");
        return;
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let kept = match shared.lock().pods.get_mut(&id) {
        Some(pod) => {
            pod.address = Some(address);
            pod.pid = child.id();
            pod.status = "RUNNING";
            pod.started_at = Some(SystemTime::now());
            pod.ice_port = Some(ice_port);
            true
        }
        // Deleted while it was starting.
        None => false,
    };
    if !kept {
        let _ = child.kill().await;
        return;
    }
    tokio::select! {
        _ = child.wait() => set_status("EXITED"),
        _ = killed => {
            drop(stdin);
            if tokio::time::timeout(Duration::from_secs(3), child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
        }
    }
}

fn ice_requested(request: &CreatePod) -> u32 {
    request
        .ports
        .iter()
        .find_map(|p| {
            let (port, kind) = p.split_once('/')?;
            (kind == "tcp").then(|| port.parse().ok()).flatten()
        })
        .unwrap_or(70000)
}

async fn proxy_root(
    State(shared): State<Arc<Shared>>,
    Path((pod_id, port)): Path<(String, u32)>,
    request: Request,
) -> Response {
    forward(shared, pod_id, port, String::new(), request).await
}

async fn proxy_path(
    State(shared): State<Arc<Shared>>,
    Path((pod_id, port, rest)): Path<(String, u32, String)>,
    request: Request,
) -> Response {
    forward(shared, pod_id, port, rest, request).await
}

/// Cloudflare's answer while nothing listens behind the proxy (not part of the API).
fn bad_gateway(message: &str) -> Response {
    (StatusCode::BAD_GATEWAY, message.to_string()).into_response()
}

/// What RunPod's proxy does: pass the request to the pod's HTTP port, stream the answer.
async fn forward(
    shared: Arc<Shared>,
    pod_id: String,
    port: u32,
    rest: String,
    request: Request,
) -> Response {
    let target = {
        let inner = shared.lock();
        inner.pods.get(&pod_id).and_then(|p| {
            let exposed = p.request.ports.contains(&format!("{port}/http"));
            p.address.filter(|_| exposed && p.status == "RUNNING")
        })
    };
    let Some(address) = target else {
        return bad_gateway("no pod is listening on that port");
    };
    let (parts, body) = request.into_parts();
    let query = parts
        .uri
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let url = format!("http://{address}/{rest}{query}");
    let Ok(body) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return (StatusCode::BAD_REQUEST, "unreadable request body").into_response();
    };
    let mut outgoing = shared.proxy.request(parts.method.clone(), &url).body(body);
    for name in [header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT] {
        if let Some(value) = parts.headers.get(&name) {
            outgoing = outgoing.header(name, value);
        }
    }
    let upstream = match outgoing.send().await {
        Ok(response) => response,
        Err(_) => return bad_gateway("the pod did not answer"),
    };
    let mut response = Response::builder().status(upstream.status().as_u16());
    for name in [
        header::CONTENT_TYPE,
        header::LOCATION,
        header::CACHE_CONTROL,
    ] {
        if let Some(value) = upstream.headers().get(&name) {
            response = response.header(name, value);
        }
    }
    response
        .body(Body::from_stream(upstream.bytes_stream()))
        .unwrap_or_else(|_| bad_gateway("unusable answer from the pod"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc_3339() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_315_200);
        assert_eq!(rfc3339(t), "2026-06-01T12:00:00Z");
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn cuda_versions_compare_as_numbers() {
        assert!(cuda_at_least("12.8", "12.4"));
        assert!(cuda_at_least("12.11", "12.2"));
        assert!(!cuda_at_least("12.8", "13.0"));
    }
}
