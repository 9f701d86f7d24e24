//! [`ServerClient`]: one server's API, every request and answer typed.

use crate::error::{ClientError, http_error, request_error};
use crate::events::StatusEvents;
use crate::faces::{FaceImage, LOAD_WAIT, RETRY_PAUSE, worth_retrying};
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use std::time::Duration;
use studio_proto::api::{
    FaceAdded, Health, ModelStatus, RawSessionOffer, RawSessionRequest, ServerStatus,
    TransportKind, VoiceAdded, VoiceFileQuery, VoiceList,
};
use studio_transport::SessionHandle;
use studio_transport::webrtc::{WebRtcOptions, WebRtcSession};

/// How long a voice file may take to reach the server (a large file to a pod far away);
/// the server's own `limits.request_timeout_ms` applies too.
const VOICE_UPLOAD_TIMEOUT: Duration = Duration::from_secs(600);

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
    pub fn new(base_url: &str, token: &str) -> Result<ServerClient, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| request_error(base_url, e))?;
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
    pub async fn health(&self) -> Result<(), ClientError> {
        let url = self.url("/v1/health");
        let response = self
            .http
            .get(&url)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .map_err(|e| request_error(&url, e))?;
        let health: Health = read_json(&url, response).await?;
        if health.status == "ok" {
            Ok(())
        } else {
            Err(ClientError::Request {
                url,
                message: format!("health is {:?}", health.status),
            })
        }
    }

    /// `GET /v1/status`.
    pub async fn status(&self) -> Result<ServerStatus, ClientError> {
        self.get_json("/v1/status").await
    }

    /// An authorised `GET` of `path`, its JSON answer decoded as `T`.
    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let url = self.url(path);
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
    pub async fn open_raw_session(&self) -> Result<(RawSessionOffer, SessionHandle), ClientError> {
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
    pub async fn post_sdp_offer(&self, offer: &str) -> Result<(String, String), ClientError> {
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
            return Err(error_answer(&url, response).await);
        }
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| ClientError::Request {
                url: url.clone(),
                message: "the answer has no Location".into(),
            })?;
        let answer = response.text().await.map_err(|e| request_error(&url, e))?;
        Ok((location, answer))
    }

    /// Open a WebRTC session (H.264 and Opus) and connect it: UDP, or ICE-TCP, optionally
    /// forced to a given public `ip:port` (a pod without UDP). A session that does not
    /// connect is closed on the server again.
    pub async fn open_webrtc_session(
        &self,
        options: &WebRtcOptions,
    ) -> Result<WebRtcSession, ClientError> {
        let server = self.server_address(options.tcp_address).await?;
        let (offer, pending) = studio_transport::webrtc::client::offer(server, options).await?;
        let (location, answer) = self.post_sdp_offer(&offer).await?;
        let id = location.rsplit('/').next().unwrap_or_default().to_string();
        match pending.connect(&answer, id.clone(), location).await {
            Ok(session) => Ok(session),
            Err(e) => {
                if let Err(close) = self.close_session(&id).await {
                    tracing::debug!("closing the unconnected session {id}: {close}");
                }
                Err(e.into())
            }
        }
    }

    /// The server's address for ICE: the forced ICE-TCP one, else the base URL's host.
    async fn server_address(&self, forced: Option<SocketAddr>) -> Result<SocketAddr, ClientError> {
        if let Some(addr) = forced {
            return Ok(addr);
        }
        let url = reqwest::Url::parse(&self.base_url).map_err(|e| ClientError::Request {
            url: self.base_url.clone(),
            message: e.to_string(),
        })?;
        let host = url.host_str().unwrap_or("127.0.0.1").to_string();
        let port = url.port_or_known_default().unwrap_or(80);
        tokio::net::lookup_host((host.as_str(), port))
            .await
            .ok()
            .and_then(|mut addrs| addrs.find(|a| a.is_ipv4()))
            .ok_or_else(|| ClientError::Request {
                url: self.base_url.clone(),
                message: format!("cannot resolve {host}"),
            })
    }

    /// `GET /v1/events`: the server's status now and after every change, until the server
    /// goes away (then `next` gives `None`).
    pub async fn events(&self) -> Result<StatusEvents, ClientError> {
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
            return Err(error_answer(&url, response).await);
        }
        Ok(StatusEvents::new(url, response))
    }

    /// `POST /v1/faces`: the face the video server found in `image`. While the server's
    /// face engine is loading the upload is repeated (see [`crate::faces`] for the rule);
    /// any other refusal comes back at once with the server's message.
    pub async fn upload_face(&self, image: &FaceImage) -> Result<FaceAdded, ClientError> {
        let deadline = tokio::time::Instant::now() + LOAD_WAIT;
        loop {
            match self.post_face(image).await {
                Err(e) if worth_retrying(&e) && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                answer => return answer,
            }
        }
    }

    async fn post_face(&self, image: &FaceImage) -> Result<FaceAdded, ClientError> {
        let url = self.url("/v1/faces");
        let response = self
            .http
            .post(&url)
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, image.content_type)
            .body(image.bytes.clone())
            .send()
            .await
            .map_err(|e| request_error(&url, e))?;
        read_json(&url, response).await
    }

    /// `POST /v1/voices`: gives the audio server an RVC v2 voice file (`.onnx` bytes) under
    /// `name`. The answer comes once the file is checked; the shared models it needs follow
    /// in the background (their progress on `/v1/status`, the voice's readiness on
    /// `/v1/voices`).
    pub async fn upload_voice(
        &self,
        file: Vec<u8>,
        query: &VoiceFileQuery,
    ) -> Result<VoiceAdded, ClientError> {
        let url = self.url("/v1/voices");
        let mut address = reqwest::Url::parse(&url).map_err(|e| ClientError::Request {
            url: url.clone(),
            message: e.to_string(),
        })?;
        address
            .query_pairs_mut()
            .append_pair("name", &query.name)
            .append_pair("pitch", query.pitch.as_str());
        self.post_voice_bytes(address, file).await
    }

    /// `POST /v1/voices/{id}/index`: gives the voice added from a file as `id` its RVC
    /// feature index (the `.index` file's bytes). The answer is the voice's entry.
    pub async fn upload_voice_index(
        &self,
        id: &str,
        file: Vec<u8>,
    ) -> Result<VoiceAdded, ClientError> {
        let url = self.url(&format!("/v1/voices/{id}/index"));
        let address = reqwest::Url::parse(&url).map_err(|e| ClientError::Request {
            url: url.clone(),
            message: e.to_string(),
        })?;
        self.post_voice_bytes(address, file).await
    }

    /// A voice file's bytes to `address`, given the time a large file needs.
    async fn post_voice_bytes(
        &self,
        address: reqwest::Url,
        file: Vec<u8>,
    ) -> Result<VoiceAdded, ClientError> {
        let url = address.to_string();
        let response = self
            .http
            .post(address)
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .timeout(VOICE_UPLOAD_TIMEOUT)
            .body(file)
            .send()
            .await
            .map_err(|e| request_error(&url, e))?;
        read_json(&url, response).await
    }

    /// `POST /v1/models/{id}`: the server downloads the model (when it is not there yet) and
    /// verifies it; the answer is its status now, progress follows on `/v1/status`.
    pub async fn fetch_model(&self, id: &str) -> Result<ModelStatus, ClientError> {
        let url = self.url(&format!("/v1/models/{id}"));
        let response = self
            .http
            .post(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| request_error(&url, e))?;
        read_json(&url, response).await
    }

    /// `GET /v1/voices`.
    pub async fn voices(&self) -> Result<VoiceList, ClientError> {
        self.get_json("/v1/voices").await
    }

    /// `DELETE /v1/sessions/{id}`; a session the server no longer knows counts as closed.
    pub async fn close_session(&self, id: &str) -> Result<(), ClientError> {
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
            Err(error_answer(&url, response).await)
        }
    }
}

async fn error_answer(url: &str, response: reqwest::Response) -> ClientError {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    http_error(url, status, &text)
}

async fn read_json<T: DeserializeOwned>(
    url: &str,
    response: reqwest::Response,
) -> Result<T, ClientError> {
    if !response.status().is_success() {
        return Err(error_answer(url, response).await);
    }
    let bytes = response.bytes().await.map_err(|e| request_error(url, e))?;
    serde_json::from_slice(&bytes).map_err(|e| ClientError::Request {
        url: url.to_string(),
        message: format!("unreadable answer: {e}"),
    })
}
