//! The app's HTTP client for one server: health, status and session signalling.

use crate::TransportError;
use crate::raw::SessionHandle;
use serde::de::DeserializeOwned;
use std::time::Duration;
use studio_proto::api::{
    ErrorBody, RawSessionOffer, RawSessionRequest, ServerStatus, TransportKind,
};

/// Talks to one server at `base_url` (e.g. `http://127.0.0.1:41234`) with its bearer token.
#[derive(Clone)]
pub struct ServerClient {
    base_url: String,
    token: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for ServerClient {
    // Never print the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerClient")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl ServerClient {
    pub fn new(base_url: &str, token: &str) -> Result<ServerClient, TransportError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| TransportError::Request {
                url: base_url.to_string(),
                message: e.to_string(),
            })?;
        Ok(ServerClient {
            base_url: base_url.trim_end_matches('/').to_string(),
            token: token.to_string(),
            http,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// `GET /v1/health` answered `ok`.
    pub async fn health(&self) -> Result<(), TransportError> {
        let url = self.url("/v1/health");
        let response = self
            .http
            .get(&url)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .map_err(|e| request_error(&url, e))?;
        let health: studio_proto::api::Health = read_json(&url, response).await?;
        if health.status == "ok" {
            Ok(())
        } else {
            Err(TransportError::Request {
                url,
                message: format!("health is {:?}", health.status),
            })
        }
    }

    pub async fn status(&self) -> Result<ServerStatus, TransportError> {
        let url = self.url("/v1/status");
        let response = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| request_error(&url, e))?;
        read_json(&url, response).await
    }

    /// Ask for a same-host raw session and connect to it.
    pub async fn open_raw_session(
        &self,
    ) -> Result<(RawSessionOffer, SessionHandle), TransportError> {
        let url = self.url("/v1/sessions");
        let response = self
            .http
            .post(&url)
            .bearer_auth(&self.token)
            .json(&RawSessionRequest {
                transport: TransportKind::Raw,
            })
            .send()
            .await
            .map_err(|e| request_error(&url, e))?;
        let offer: RawSessionOffer = read_json(&url, response).await?;
        let handle = SessionHandle::connect_raw(&offer.address, &offer.key).await?;
        Ok((offer, handle))
    }

    /// `POST /v1/sessions` with an SDP offer (WHIP-style): the `Location` and the answer.
    pub async fn post_sdp_offer(&self, offer: &str) -> Result<(String, String), TransportError> {
        let url = self.url("/v1/sessions");
        let response = self
            .http
            .post(&url)
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, "application/sdp")
            .body(offer.to_string())
            .send()
            .await
            .map_err(|e| request_error(&url, e))?;
        if response.status() != reqwest::StatusCode::CREATED {
            return Err(http_error(&url, response).await);
        }
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| TransportError::Request {
                url: url.clone(),
                message: "the answer has no Location".into(),
            })?;
        let answer = response.text().await.map_err(|e| request_error(&url, e))?;
        Ok((location, answer))
    }

    /// Open a WebRTC session (H.264 and Opus) and connect it: UDP, or ICE-TCP, optionally
    /// forced to a given public `ip:port` (a pod without UDP).
    pub async fn open_webrtc_session(
        &self,
        options: &crate::webrtc::WebRtcOptions,
    ) -> Result<crate::webrtc::WebRtcSession, TransportError> {
        crate::webrtc::client::open(self, options).await
    }

    /// `GET /v1/events`: the server's status now and after every change, until the server
    /// goes away (then `next` gives `None`).
    pub async fn events(&self) -> Result<StatusEvents, TransportError> {
        let url = self.url("/v1/events");
        let response = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            // The stream lasts as long as the server: lift the client's per-request limit.
            .timeout(Duration::from_secs(24 * 3600))
            .send()
            .await
            .map_err(|e| request_error(&url, e))?;
        if !response.status().is_success() {
            return Err(http_error(&url, response).await);
        }
        Ok(StatusEvents {
            url,
            response,
            parser: crate::sse::SseParser::new(),
            ready: std::collections::VecDeque::new(),
        })
    }

    /// `POST /v1/faces` with the image file's bytes: the server's answer as JSON.
    pub async fn upload_face(
        &self,
        image: Vec<u8>,
        content_type: &str,
    ) -> Result<serde_json::Value, TransportError> {
        let url = self.url("/v1/faces");
        let response = self
            .http
            .post(&url)
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(image)
            .send()
            .await
            .map_err(|e| request_error(&url, e))?;
        read_json(&url, response).await
    }

    /// `GET /v1/voices`: the server's answer as JSON.
    pub async fn voices(&self) -> Result<serde_json::Value, TransportError> {
        let url = self.url("/v1/voices");
        let response = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| request_error(&url, e))?;
        read_json(&url, response).await
    }

    /// `DELETE /v1/sessions/{id}`; a session the server no longer knows counts as closed.
    pub async fn close_session(&self, id: &str) -> Result<(), TransportError> {
        let url = self.url(&format!("/v1/sessions/{id}"));
        let response = self
            .http
            .delete(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| request_error(&url, e))?;
        let status = response.status();
        if status.is_success() || status == reqwest::StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(http_error(&url, response).await)
        }
    }
}

/// The status stream of `GET /v1/events`.
pub struct StatusEvents {
    url: String,
    response: reqwest::Response,
    parser: crate::sse::SseParser,
    ready: std::collections::VecDeque<crate::sse::SseEvent>,
}

impl StatusEvents {
    /// The next status, or `None` when the stream ended.
    pub async fn next(&mut self) -> Option<Result<ServerStatus, TransportError>> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                if event.name != "status" {
                    continue;
                }
                return Some(serde_json::from_str(&event.data).map_err(|e| {
                    TransportError::Request {
                        url: self.url.clone(),
                        message: format!("unreadable status event: {e}"),
                    }
                }));
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => self.ready.extend(self.parser.push(&bytes)),
                Ok(None) => return None,
                Err(e) => return Some(Err(request_error(&self.url, e))),
            }
        }
    }
}

fn request_error(url: &str, error: reqwest::Error) -> TransportError {
    TransportError::Request {
        url: url.to_string(),
        message: error.to_string(),
    }
}

async fn http_error(url: &str, response: reqwest::Response) -> TransportError {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let message = match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => body.error.message,
        Err(_) => text,
    };
    TransportError::Http {
        url: url.to_string(),
        status,
        message,
    }
}

async fn read_json<T: DeserializeOwned>(
    url: &str,
    response: reqwest::Response,
) -> Result<T, TransportError> {
    if !response.status().is_success() {
        return Err(http_error(url, response).await);
    }
    let bytes = response.bytes().await.map_err(|e| request_error(url, e))?;
    serde_json::from_slice(&bytes).map_err(|e| TransportError::Request {
        url: url.to_string(),
        message: format!("unreadable answer: {e}"),
    })
}
