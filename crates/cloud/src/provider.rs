//! The provider trait the lifecycle's driver calls, and its RunPod REST v2 implementation.

use crate::api::{CreatePod, GpuType, ListGpuTypesResponse, ListPodsResponse, Pod, Problem};
use crate::secret::Secret;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A failed API call: the HTTP status (none when the request never got an answer), RunPod's
/// problem details (`title`, `detail`, `errors`), and how long it asked us to wait.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", describe(self))]
pub struct ApiError {
    pub status: Option<u16>,
    /// `title` of the problem (or the HTTP reason).
    pub title: String,
    /// `detail` of the problem: what RunPod says went wrong, in its words.
    pub message: String,
    /// `errors` of the problem: each field a 422 found wrong.
    pub errors: Vec<String>,
    /// `Retry-After`, already clamped (see [`crate::limits`]).
    pub retry_after: Option<Duration>,
}

fn describe(e: &ApiError) -> String {
    let mut text = match e.status {
        Some(status) if e.title.is_empty() => format!("HTTP {status}: {}", e.message),
        Some(status) => format!("HTTP {status} {}: {}", e.title, e.message),
        None => format!("no answer: {}", e.message),
    };
    if !e.errors.is_empty() {
        text.push_str(&format!(" ({})", e.errors.join("; ")));
    }
    text
}

impl ApiError {
    pub fn network(message: impl Into<String>) -> ApiError {
        ApiError {
            status: None,
            title: String::new(),
            message: message.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// An answer with `status` and RunPod's `detail`.
    pub fn http(status: u16, detail: impl Into<String>) -> ApiError {
        ApiError {
            status: Some(status),
            title: String::new(),
            message: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// From an error answer's status, headers' `Retry-After` and body.
    pub fn from_answer(
        status: u16,
        reason: &str,
        retry_after: Option<Duration>,
        body: &[u8],
    ) -> ApiError {
        let text = String::from_utf8_lossy(body);
        let (title, message, errors) = match serde_json::from_slice::<Problem>(body) {
            Ok(problem) if !problem.detail.is_empty() || !problem.title.is_empty() => {
                let message = if problem.detail.is_empty() {
                    problem.title.clone()
                } else {
                    problem.detail
                };
                (problem.title, message, problem.errors)
            }
            // Not problem+json (a proxy in between, say): keep the start of what came.
            _ if text.trim().is_empty() => (reason.to_string(), reason.to_string(), Vec::new()),
            _ => (
                reason.to_string(),
                text.chars().take(300).collect(),
                Vec::new(),
            ),
        };
        ApiError {
            status: Some(status),
            title,
            message,
            errors,
            retry_after,
        }
    }
}

/// What cloud mode needs from a GPU cloud. Pods are found again by name, so a crashed app's
/// pods can be deleted at its next start.
pub trait CloudProvider: Send + Sync {
    fn gpu_types(&self) -> impl Future<Output = Result<Vec<GpuType>, ApiError>> + Send;
    fn list_pods(&self) -> impl Future<Output = Result<Vec<Pod>, ApiError>> + Send;
    fn create_pod(&self, request: &CreatePod)
    -> impl Future<Output = Result<Pod, ApiError>> + Send;
    /// Deleting a pod that is already gone succeeds.
    fn delete_pod(&self, pod_id: &str) -> impl Future<Output = Result<(), ApiError>> + Send;
    /// `GET /v1/health` of a server through the provider's proxy answered `ok`.
    fn server_healthy(&self, base_url: &str) -> impl Future<Output = bool> + Send;
    /// How long to hold off every request because the last answer's `RateLimit` said a
    /// window had nothing left (taken once).
    fn take_quota_pause(&self) -> Option<Duration>;
}

/// RunPod's REST v2 API at `base_url` (pods at `{base_url}/pods`).
#[derive(Clone)]
pub struct RunpodRest {
    base_url: String,
    key: Secret,
    http: reqwest::Client,
    quota_pause: Arc<Mutex<Option<Duration>>>,
}

impl std::fmt::Debug for RunpodRest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunpodRest")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl RunpodRest {
    pub fn new(base_url: &str, key: Secret) -> Result<RunpodRest, ApiError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // Under Cloudflare's 100 s limit, so our timeout is the one that speaks.
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ApiError::network(format!("cannot make an HTTP client: {e}")))?;
        Ok(RunpodRest {
            base_url: base_url.trim_end_matches('/').to_string(),
            key,
            http,
            quota_pause: Arc::default(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Body, ApiError> {
        let response = request
            .bearer_auth(self.key.expose())
            .send()
            .await
            .map_err(|e| ApiError::network(without_url(&e)))?;
        let status = response.status();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let retry_after = header("retry-after").and_then(|v| crate::limits::retry_after(&v));
        if let Some(pause) = header("ratelimit").and_then(|v| crate::limits::exhausted_for(&v)) {
            let mut slot = self.quota_pause.lock().unwrap_or_else(|p| p.into_inner());
            *slot = Some(slot.map_or(pause, |p| p.max(pause)));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| ApiError::network(without_url(&e)))?;
        if status.is_success() {
            return Ok(Body(body.to_vec()));
        }
        Err(ApiError::from_answer(
            status.as_u16(),
            status.canonical_reason().unwrap_or("error"),
            retry_after,
            &body,
        ))
    }
}

/// A successful answer's body.
struct Body(Vec<u8>);

impl Body {
    fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.0)
            .map_err(|e| ApiError::network(format!("unreadable answer from RunPod: {e}")))
    }
}

/// reqwest's messages can carry the URL; ours never carry the key, but keep them short.
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(source) = std::error::Error::source(error) {
        text = format!("{text}: {source}");
    }
    text
}

impl CloudProvider for RunpodRest {
    async fn gpu_types(&self) -> Result<Vec<GpuType>, ApiError> {
        let body = self.send(self.http.get(self.url("/catalog/gpus"))).await?;
        Ok(body.json::<ListGpuTypesResponse>()?.gpus)
    }

    async fn list_pods(&self) -> Result<Vec<Pod>, ApiError> {
        let body = self.send(self.http.get(self.url("/pods"))).await?;
        Ok(body.json::<ListPodsResponse>()?.pods)
    }

    async fn create_pod(&self, request: &CreatePod) -> Result<Pod, ApiError> {
        let body = self
            .send(self.http.post(self.url("/pods")).json(request))
            .await?;
        body.json()
    }

    async fn delete_pod(&self, pod_id: &str) -> Result<(), ApiError> {
        match self
            .send(self.http.delete(self.url(&format!("/pods/{pod_id}"))))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.status == Some(404) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn server_healthy(&self, base_url: &str) -> bool {
        let url = format!("{}/v1/health", base_url.trim_end_matches('/'));
        let Ok(response) = self
            .http
            .get(&url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
        else {
            return false;
        };
        if !response.status().is_success() {
            return false;
        }
        response
            .json::<studio_proto::api::Health>()
            .await
            .is_ok_and(|h| h.status == "ok")
    }

    fn take_quota_pause(&self) -> Option<Duration> {
        self.quota_pause
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}
