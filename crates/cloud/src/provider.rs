//! The provider trait the lifecycle's driver calls, and its RunPod REST v2 implementation.

use crate::api::{CreatePod, ErrorBody, GpuCatalog, GpuOffer, Pod, PodList};
use crate::secret::Secret;
use std::future::Future;
use std::time::Duration;

/// A failed API call: the HTTP status (none when the request never got an answer), the
/// provider's message and, on 429, how long it asked us to wait.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", describe(*.status, .message))]
pub struct ApiError {
    pub status: Option<u16>,
    pub message: String,
    pub retry_after: Option<Duration>,
}

fn describe(status: Option<u16>, message: &str) -> String {
    match status {
        Some(status) => format!("HTTP {status}: {message}"),
        None => format!("no answer: {message}"),
    }
}

impl ApiError {
    pub fn network(message: impl Into<String>) -> ApiError {
        ApiError {
            status: None,
            message: message.into(),
            retry_after: None,
        }
    }
}

/// What cloud mode needs from a GPU cloud. Pods are found again by name, so a crashed app's
/// pods can be deleted at its next start.
pub trait CloudProvider: Send + Sync {
    fn gpu_offers(&self) -> impl Future<Output = Result<Vec<GpuOffer>, ApiError>> + Send;
    fn list_pods(&self) -> impl Future<Output = Result<Vec<Pod>, ApiError>> + Send;
    fn create_pod(&self, request: &CreatePod)
    -> impl Future<Output = Result<Pod, ApiError>> + Send;
    /// Deleting a pod that is already gone succeeds.
    fn delete_pod(&self, pod_id: &str) -> impl Future<Output = Result<(), ApiError>> + Send;
    /// `GET /v1/health` of a server through the provider's proxy answered `ok`.
    fn server_healthy(&self, base_url: &str) -> impl Future<Output = bool> + Send;
}

/// RunPod's REST v2 API at `base_url` (pods at `{base_url}/pods`).
#[derive(Clone)]
pub struct RunpodRest {
    base_url: String,
    key: Secret,
    http: reqwest::Client,
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
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response
            .bytes()
            .await
            .map_err(|e| ApiError::network(without_url(&e)))?;
        if status.is_success() {
            return Ok(Body(body.to_vec()));
        }
        let text = String::from_utf8_lossy(&body).into_owned();
        let message = serde_json::from_str::<ErrorBody>(&text)
            .ok()
            .and_then(|b| b.message())
            .unwrap_or_else(|| {
                if text.trim().is_empty() {
                    status.canonical_reason().unwrap_or("error").to_string()
                } else {
                    text.chars().take(300).collect()
                }
            });
        Err(ApiError {
            status: Some(status.as_u16()),
            message,
            retry_after,
        })
    }
}

/// A successful answer's body.
struct Body(Vec<u8>);

impl Body {
    fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.0).map_err(|e| ApiError {
            status: None,
            message: format!("unreadable answer from RunPod: {e}"),
            retry_after: None,
        })
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
    async fn gpu_offers(&self) -> Result<Vec<GpuOffer>, ApiError> {
        let body = self.send(self.http.get(self.url("/catalog/gpus"))).await?;
        Ok(body.json::<GpuCatalog>()?.into_offers())
    }

    async fn list_pods(&self) -> Result<Vec<Pod>, ApiError> {
        let body = self.send(self.http.get(self.url("/pods"))).await?;
        Ok(body.json::<PodList>()?.pods)
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
}
