//! The HTTP API (`/v1/...`): routes, bearer-token check and JSON errors.

use crate::registry::Registry;
use crate::session;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use futures_util::Stream;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use studio_proto::Role;
use studio_proto::api::{
    ErrorBody, ErrorDetail, Health, RawSessionRequest, TransportKind, VoiceList,
};

/// An error answer: status plus `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

/// The whole API for one server.
pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/events", get(events))
        .route("/v1/sessions", post(create_session))
        .route("/v1/sessions/{id}", delete(delete_session))
        .route("/v1/faces", post(faces))
        // Uploads up to the configured image limit; the handler answers 413 beyond it.
        .layer(axum::extract::DefaultBodyLimit::max(256 * 1024 * 1024))
        .route("/v1/voices", get(voices))
        .route(
            "/v1/models/{id}",
            post(crate::models::fetch_route).delete(crate::models::cancel_route),
        )
        .route_layer(middleware::from_fn_with_state(
            registry.clone(),
            require_token,
        ))
        .route("/v1/health", get(health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(registry)
}

async fn require_token(
    State(registry): State<Arc<Registry>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(token) if registry.token_matches(token.trim()) => {
            registry.note_request();
            Ok(next.run(request).await)
        }
        Some(_) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the bearer token is not this server's",
        )),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the server's token as `Authorization: Bearer <token>`",
        )),
    }
}

async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

async fn status(State(registry): State<Arc<Registry>>) -> impl IntoResponse {
    Json(registry.status())
}

/// Status as Server-Sent Events: one at once, then on every change, and at least once a
/// second while sessions run so counters move.
async fn events(
    State(registry): State<Arc<Registry>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let changes = registry.subscribe();
    let shutdown = registry.shutdown_signal();
    let stream = futures_util::stream::unfold(
        (registry, changes, shutdown, true),
        |(registry, mut changes, mut shutdown, first)| async move {
            if !first {
                let idle = if registry.has_sessions() {
                    Duration::from_secs(1)
                } else {
                    Duration::from_secs(3600)
                };
                tokio::select! {
                    changed = changes.changed() => changed.ok()?,
                    _ = shutdown.wait_for(|down| *down) => return None,
                    _ = tokio::time::sleep(idle) => {}
                }
            }
            let event = Event::default()
                .event("status")
                .json_data(registry.status())
                .unwrap_or_else(|_| Event::default().comment("status unavailable"));
            Some((Ok(event), (registry, changes, shutdown, false)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn create_session(
    State(registry): State<Arc<Registry>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    match media_type {
        "application/sdp" => {
            let offer = std::str::from_utf8(&body).map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "the SDP offer is not UTF-8 text",
                )
            })?;
            let (id, answer) =
                session::open_webrtc(registry, offer)
                    .await
                    .map_err(|e| match e {
                        studio_transport::TransportError::Protocol(message) => {
                            ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
                        }
                        other => ApiError::new(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "session_failed",
                            other.to_string(),
                        ),
                    })?;
            Ok((
                StatusCode::CREATED,
                [
                    (header::LOCATION, format!("/v1/sessions/{id}")),
                    (header::CONTENT_TYPE, "application/sdp".to_string()),
                ],
                answer,
            )
                .into_response())
        }
        "application/json" => {
            let request: RawSessionRequest = serde_json::from_slice(&body).map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!("session request: {e}; expected {{\"transport\": \"raw\"}}"),
                )
            })?;
            if request.transport == TransportKind::Webrtc {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "a WebRTC session is opened with its SDP offer as application/sdp",
                ));
            }
            let offer = session::open_raw(registry).await.map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "session_failed",
                    e.to_string(),
                )
            })?;
            let location = format!("/v1/sessions/{}", offer.id);
            Ok((
                StatusCode::CREATED,
                [(header::LOCATION, location)],
                Json(offer),
            )
                .into_response())
        }
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "a session request is application/json (same-host raw) or application/sdp (WebRTC), not {other:?}"
            ),
        )),
    }
}

async fn delete_session(
    State(registry): State<Arc<Registry>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    match registry.session(&id) {
        Some(entry) => {
            entry.cancel();
            Ok(StatusCode::NO_CONTENT)
        }
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no session {id:?} on this server"),
        )),
    }
}

async fn faces(
    State(registry): State<Arc<Registry>>,
    body: Bytes,
) -> Result<Json<crate::face::FaceAdded>, ApiError> {
    if registry.role != Role::Video {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "faces are served by the video server",
        ));
    }
    crate::face::add_face(registry, body).await
}

async fn voices(State(registry): State<Arc<Registry>>) -> Result<Json<VoiceList>, ApiError> {
    match registry.engines.voices() {
        Some(voices) => Ok(Json(VoiceList { voices })),
        None => Err(role_route(
            &registry,
            Role::Audio,
            "voices",
            "voices are served by the audio server",
        )),
    }
}

/// Faces and voices answer once their engines land; until then say so plainly.
fn role_route(registry: &Registry, owner: Role, what: &str, elsewhere: &str) -> ApiError {
    if registry.role == owner {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "not_implemented",
            format!("{what} are not available in this version: media passes through unchanged"),
        )
    } else {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", elsewhere)
    }
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}
