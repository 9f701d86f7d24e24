//! A fake RunPod REST v2 API on loopback, for tests and for trying cloud mode without an
//! account: `POST/GET/DELETE /v2/pods`, `GET /v2/catalog/gpus`, and the HTTP proxy at
//! `/proxy/{pod_id}/{port}/…`. Its pods are real `studio-server` processes that go through
//! RunPod's documented statuses (PROVISIONING, with `runtime` null, then RUNNING with ports).
//! Capacity errors, 402, 429 (with `Retry-After`), 403, 422 and 5xx come on demand.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use studio_cloud::api::{CreatePod, GpuOffer, Pod, PodRuntime, PodStatus, PortMapping};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::oneshot;

/// RunPod's message when a GPU type has no capacity.
pub const NO_CAPACITY: &str =
    "There are no longer any instances available with the requested specifications";

/// A failure the next `POST /pods` answers with.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 400 with RunPod's capacity message.
    NoCapacity,
    /// 402: balance too low.
    Balance,
    /// 403: no access to that pool.
    Forbidden,
    /// 429 with `Retry-After` in whole seconds.
    RateLimited(Duration),
    /// 503.
    Unavailable,
    /// 422.
    Malformed,
}

/// How the fake starts.
#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// The `studio-server` binary each pod runs.
    pub server_binary: PathBuf,
    /// The only API key it accepts.
    pub api_key: String,
    /// How long a pod stays PROVISIONING (runtime null) before its server starts.
    pub provisioning: Duration,
    /// Environment for every pod's server, after the pod's own (e.g. `STUDIO_CACHE_DIR`).
    pub pod_env: Vec<(String, String)>,
}

/// One request the fake answered, for tests that count them.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// When, since the fake started.
    pub at: Duration,
}

struct FakePod {
    pod: Pod,
    /// The server's real address, once it runs.
    address: Option<SocketAddr>,
    pid: Option<u32>,
    kill: Option<oneshot::Sender<()>>,
}

#[derive(Default)]
struct Inner {
    pods: BTreeMap<String, FakePod>,
    /// Answers for the next creates, in order; `None` lets one through.
    faults: VecDeque<Option<Fault>>,
    no_capacity: BTreeSet<String>,
    offers: Vec<GpuOffer>,
    seen: Vec<Seen>,
}

struct Shared {
    options: FakeOptions,
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
    address: SocketAddr,
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

/// Prices the fake lists (USD per hour; secure, community), close to RunPod's in 2026.
pub fn default_offers() -> Vec<GpuOffer> {
    [
        ("NVIDIA GeForce RTX 4090", 0.69, 0.34),
        ("NVIDIA RTX A5000", 0.27, 0.16),
        ("NVIDIA L4", 0.43, 0.28),
        ("NVIDIA RTX 4000 Ada Generation", 0.26, 0.20),
        ("NVIDIA L40S", 0.86, 0.79),
        ("NVIDIA H100 80GB HBM3", 2.99, 2.69),
    ]
    .into_iter()
    .map(|(id, secure, community)| GpuOffer {
        id: id.to_string(),
        secure_price: Some(secure),
        community_price: Some(community),
    })
    .collect()
}

impl FakeRunpod {
    /// Listen on a free loopback port.
    pub async fn start(options: FakeOptions) -> std::io::Result<FakeRunpod> {
        FakeRunpod::start_on(options, 0).await
    }

    pub async fn start_on(options: FakeOptions, port: u16) -> std::io::Result<FakeRunpod> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let address = listener.local_addr()?;
        let proxy = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared {
            options,
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
        Ok(FakeRunpod {
            shared,
            address,
            server,
        })
    }

    /// What `RUNPOD_API_URL` should be.
    pub fn api_url(&self) -> String {
        format!("http://{}/v2", self.address)
    }

    /// What `RUNPOD_PROXY_URL_TEMPLATE` should be.
    pub fn proxy_url_template(&self) -> String {
        format!("http://{}/proxy/{{pod_id}}/{{port}}", self.address)
    }

    /// Pods that exist now (deleted ones are gone, as on RunPod).
    pub fn pods(&self) -> Vec<Pod> {
        self.shared
            .lock()
            .pods
            .values()
            .map(|p| p.pod.clone())
            .collect()
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

    /// The next `POST /pods` fails this way (queued in order).
    pub fn fail_next_create(&self, fault: Fault) {
        self.shared.lock().faults.push_back(Some(fault));
    }

    /// The next `POST /pods` succeeds (to queue a failure after it).
    pub fn pass_next_create(&self) {
        self.shared.lock().faults.push_back(None);
    }

    /// Creates on this GPU type answer 400 with the capacity message until further notice.
    pub fn set_no_capacity(&self, gpu_type: &str) {
        self.shared.lock().no_capacity.insert(gpu_type.to_string());
    }

    /// Replace the price list.
    pub fn set_offers(&self, offers: Vec<GpuOffer>) {
        self.shared.lock().offers = offers;
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

/// Records the request; `false` unless it carries the key (then answer [`unauthorized`]).
fn admit(shared: &Shared, method: &Method, path: &str, headers: &HeaderMap) -> bool {
    let at = shared.started.elapsed();
    shared.lock().seen.push(Seen {
        method: method.to_string(),
        path: path.to_string(),
        at,
    });
    let expected = format!("Bearer {}", shared.options.api_key);
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    given == Some(expected.as_str())
}

fn unauthorized() -> Response {
    error(StatusCode::UNAUTHORIZED, "invalid or missing API key")
}

async fn list_pods(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if !admit(&shared, &Method::GET, "/v2/pods", &headers) {
        return unauthorized();
    }
    let pods: Vec<Pod> = shared.lock().pods.values().map(|p| p.pod.clone()).collect();
    axum::Json(serde_json::json!({ "pods": pods })).into_response()
}

async fn get_pod(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !admit(&shared, &Method::GET, &format!("/v2/pods/{id}"), &headers) {
        return unauthorized();
    }
    match shared.lock().pods.get(&id) {
        Some(pod) => axum::Json(pod.pod.clone()).into_response(),
        None => error(StatusCode::NOT_FOUND, "pod not found"),
    }
}

async fn delete_pod(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !admit(
        &shared,
        &Method::DELETE,
        &format!("/v2/pods/{id}"),
        &headers,
    ) {
        return unauthorized();
    }
    let removed = shared.lock().pods.remove(&id);
    match removed {
        Some(mut pod) => {
            if let Some(kill) = pod.kill.take() {
                let _ = kill.send(());
            }
            StatusCode::NO_CONTENT.into_response()
        }
        None => error(StatusCode::NOT_FOUND, "pod not found"),
    }
}

async fn catalog(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if !admit(&shared, &Method::GET, "/v2/catalog/gpus", &headers) {
        return unauthorized();
    }
    let offers = shared.lock().offers.clone();
    axum::Json(serde_json::json!({ "gpuTypes": offers })).into_response()
}

fn pod_id() -> String {
    let mut bytes = [0u8; 14];
    let _ = getrandom::fill(&mut bytes);
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

async fn create_pod(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !admit(&shared, &Method::POST, "/v2/pods", &headers) {
        return unauthorized();
    }
    let Ok(request) = serde_json::from_slice::<CreatePod>(&body) else {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "malformed pod request");
    };
    let gpu = request.gpu_type_ids.first().cloned().unwrap_or_default();
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
    match fault {
        Some(Fault::NoCapacity) => return error(StatusCode::BAD_REQUEST, NO_CAPACITY),
        Some(Fault::Balance) => {
            return error(
                StatusCode::PAYMENT_REQUIRED,
                "Your balance is too low to start this pod",
            );
        }
        Some(Fault::Forbidden) => {
            return error(StatusCode::FORBIDDEN, "You do not have access to this pool");
        }
        Some(Fault::RateLimited(after)) => {
            let mut response = error(StatusCode::TOO_MANY_REQUESTS, "Too many requests");
            if let Ok(value) = after.as_secs().to_string().parse() {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return response;
        }
        Some(Fault::Unavailable) => {
            return error(StatusCode::SERVICE_UNAVAILABLE, "upstream unavailable");
        }
        Some(Fault::Malformed) => {
            return error(StatusCode::UNPROCESSABLE_ENTITY, "invalid request body");
        }
        None => {}
    }
    let price = shared
        .lock()
        .offers
        .iter()
        .find(|o| o.id == gpu)
        .and_then(|o| o.price(&request.cloud_type));
    let Some(price) = price else {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("unknown GPU type {gpu:?}"),
        );
    };
    let id = pod_id();
    let pod = Pod {
        id: id.clone(),
        name: request.name.clone(),
        status: PodStatus::Provisioning,
        gpu_type_id: Some(gpu),
        cost_per_hr: Some(price),
        runtime: None,
    };
    let (kill, killed) = oneshot::channel();
    shared.lock().pods.insert(
        id.clone(),
        FakePod {
            pod: pod.clone(),
            address: None,
            pid: None,
            kill: Some(kill),
        },
    );
    tokio::spawn(run_pod(shared.clone(), id, request, killed));
    (StatusCode::CREATED, axum::Json(pod)).into_response()
}

/// Provision, start the pod's server, mark it RUNNING with its ports, and watch it.
async fn run_pod(
    shared: Arc<Shared>,
    id: String,
    request: CreatePod,
    mut killed: oneshot::Receiver<()>,
) {
    tokio::select! {
        _ = tokio::time::sleep(shared.options.provisioning) => {}
        _ = &mut killed => return,
    }
    // RunPod gives a symmetric public port for a requested TCP port above 70000.
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
        .env("RUNPOD_POD_ID", &id)
        .env("RUNPOD_PUBLIC_IP", "127.0.0.1")
        .env(
            format!("RUNPOD_TCP_PORT_{}", ice_requested(&request)),
            ice_port.to_string(),
        )
        .envs(shared.options.pod_env.iter().cloned())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let set_status = |status: PodStatus| {
        if let Some(pod) = shared.lock().pods.get_mut(&id) {
            pod.pod.status = status;
        }
    };
    let Ok(mut child) = command.spawn() else {
        set_status(PodStatus::Error);
        return;
    };
    let stdin = child.stdin.take();
    let Some(stdout) = child.stdout.take() else {
        set_status(PodStatus::Error);
        return;
    };
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::select! {
        line = lines.next_line() => line.ok().flatten(),
        _ = &mut killed => None,
    };
    let address = first
        .and_then(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
        .and_then(|v| v["listening"].as_str()?.parse::<SocketAddr>().ok());
    let Some(address) = address else {
        let _ = child.kill().await;
        set_status(PodStatus::Error);
        return;
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let http_port = http_requested(&request);
    let kept = match shared.lock().pods.get_mut(&id) {
        Some(pod) => {
            pod.address = Some(address);
            pod.pid = child.id();
            pod.pod.status = PodStatus::Running;
            pod.pod.runtime = Some(PodRuntime {
                ports: vec![
                    PortMapping {
                        private: http_port,
                        public: http_port,
                        kind: "http".into(),
                        ip: None,
                    },
                    PortMapping {
                        private: u32::from(ice_port),
                        public: u32::from(ice_port),
                        kind: "tcp".into(),
                        ip: Some("127.0.0.1".into()),
                    },
                ],
            });
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
        _ = child.wait() => set_status(PodStatus::Exited),
        _ = killed => {
            drop(stdin);
            if tokio::time::timeout(Duration::from_secs(3), child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
        }
    }
}

fn requested_port(request: &CreatePod, kind: &str) -> Option<u32> {
    request.ports.iter().find_map(|p| {
        let (port, k) = p.split_once('/')?;
        (k == kind).then(|| port.parse().ok()).flatten()
    })
}

fn http_requested(request: &CreatePod) -> u32 {
    requested_port(request, "http").unwrap_or(8000)
}

fn ice_requested(request: &CreatePod) -> u32 {
    requested_port(request, "tcp").unwrap_or(70000)
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
            let open = p.pod.runtime.as_ref().is_some_and(|r| {
                r.ports
                    .iter()
                    .any(|m| m.private == port && m.kind == "http")
            });
            p.address.filter(|_| open)
        })
    };
    let Some(address) = target else {
        // Cloudflare's answer while nothing listens behind the proxy.
        return error(StatusCode::BAD_GATEWAY, "no pod is listening on that port");
    };
    let (parts, body) = request.into_parts();
    let query = parts
        .uri
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let url = format!("http://{address}/{rest}{query}");
    let Ok(body) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return error(StatusCode::BAD_REQUEST, "unreadable request body");
    };
    let mut outgoing = shared.proxy.request(parts.method.clone(), &url).body(body);
    for name in [header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT] {
        if let Some(value) = parts.headers.get(&name) {
            outgoing = outgoing.header(name, value);
        }
    }
    let upstream = match outgoing.send().await {
        Ok(response) => response,
        Err(_) => return error(StatusCode::BAD_GATEWAY, "the pod did not answer"),
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
        .unwrap_or_else(|_| error(StatusCode::BAD_GATEWAY, "unusable answer from the pod"))
}
