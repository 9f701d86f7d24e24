//! The HTTP API (`/v1/...`): routes, bearer-token check and JSON errors.

use crate::error::ApiError;
use crate::registry::Registry;
use crate::session;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
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
use studio_proto::api::{Health, RawSessionRequest, TransportKind, VoiceList};

/// The whole API for one server. Each route reads at most its own body limit; a request
/// must be answered within `limits.request_timeout_ms` (an event stream's headers count, not
/// the stream).
pub fn router(registry: Arc<Registry>) -> Router {
    let limits = &registry.limits;
    let small = body_limit(limits.small_body_bytes);
    let sessions = body_limit(limits.session_body_bytes);
    let faces_limit = match registry.role {
        Role::Video => body_limit(face_body_bytes(&registry)),
        Role::Audio => small,
    };
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/events", get(events))
        .route(
            "/v1/sessions",
            post(create_session).layer(DefaultBodyLimit::max(sessions)),
        )
        .route("/v1/sessions/{id}", delete(delete_session))
        .route(
            "/v1/faces",
            post(faces).layer(DefaultBodyLimit::max(faces_limit)),
        )
        .route(
            "/v1/voices",
            get(voices).post(crate::voice_files::add_route),
        )
        .route(
            "/v1/voices/{id}/index",
            post(crate::voice_files::add_index_route),
        )
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
        // Everything else (bodies nobody reads included) stays small.
        .layer(DefaultBodyLimit::max(small))
        .layer(middleware::from_fn_with_state(
            registry.clone(),
            request_deadline,
        ))
        // Outermost, so a refused body is read away after any answer, a timeout's included.
        .layer(middleware::from_fn(crate::drain::drain_unread_body))
        .with_state(registry)
}

fn body_limit(bytes: u64) -> usize {
    usize::try_from(bytes).unwrap_or(usize::MAX)
}

/// `face.max_image_bytes`, once the face engine's settings are known (video role).
fn face_body_bytes(registry: &Registry) -> u64 {
    registry
        .face
        .limits
        .read()
        .map(|g| g.clone())
        .unwrap_or_else(|p| p.into_inner().clone())
        .map_or(registry.limits.small_body_bytes, |f| f.max_image_bytes)
}

/// A body read within its route's limit, or the JSON error that says which limit (`code`,
/// the configuration `key` and its value).
pub fn read_body(
    body: Result<Bytes, BytesRejection>,
    code: &'static str,
    key: &str,
    limit: u64,
) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                code,
                format!("the request body is over the limit of {limit} bytes ({key})"),
            )
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!(
                    "the request body could not be read: {}",
                    rejection.body_text()
                ),
            )
        }
    })
}

/// Answers 408 when a request (reading its body included) takes longer than
/// `limits.request_timeout_ms`. Voice files are the exception: a large one to a pod far away
/// may take longer, so their routes hold the sender to a minimum rate instead
/// (`voice_files`).
async fn request_deadline(
    State(registry): State<Arc<Registry>>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() == axum::http::Method::POST
        && crate::voice_files::is_upload(request.uri().path())
    {
        return next.run(request).await;
    }
    let limit = Duration::from_millis(registry.limits.request_timeout_ms);
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!("the request took longer than {limit:?} (limits.request_timeout_ms)"),
        )
        .into_response(),
    }
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
        .and_then(bearer_token);
    match presented {
        Some(token) if registry.token_matches(token) => {
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

/// The token of an `Authorization: Bearer <token>` value; the scheme's name is
/// case-insensitive (RFC 9110 §11.1).
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
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
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let Some(slot) = registry.open_event_stream() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_streams",
            format!(
                "{} event streams are open already (limits.max_event_streams)",
                registry.limits.max_event_streams
            ),
        ));
    };
    let changes = registry.subscribe();
    let shutdown = registry.shutdown_signal();
    // The slot travels with the stream and is given back when the client goes.
    let stream = futures_util::stream::unfold(
        (registry, changes, shutdown, true, slot),
        |(registry, mut changes, mut shutdown, first, slot)| async move {
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
            Some((Ok(event), (registry, changes, shutdown, false, slot)))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn open_error(e: session::OpenError) -> ApiError {
    match e {
        session::OpenError::Full(full) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_sessions",
            format!(
                "this server runs {} sessions already (limits.max_sessions); close one first",
                full.max
            ),
        ),
        session::OpenError::Transport(studio_transport::TransportError::Protocol(message)) => {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
        }
        session::OpenError::Transport(other) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "session_failed",
            other.to_string(),
        ),
    }
}

async fn create_session(
    State(registry): State<Arc<Registry>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !matches!(media_type, "application/sdp" | "application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "a session request is application/json (same-host raw) or application/sdp (WebRTC), not {media_type:?}"
            ),
        ));
    }
    let body = read_body(
        body,
        "body_too_large",
        "limits.session_body_bytes",
        registry.limits.session_body_bytes,
    )?;
    match media_type {
        "application/sdp" => {
            let offer = std::str::from_utf8(&body).map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "the SDP offer is not UTF-8 text",
                )
            })?;
            let (id, answer) = session::open_webrtc(registry, offer)
                .await
                .map_err(open_error)?;
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
            let offer = session::open_raw(registry).await.map_err(open_error)?;
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
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<studio_proto::api::FaceAdded>, ApiError> {
    if registry.role != Role::Video {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "faces are served by the video server",
        ));
    }
    let body = read_body(
        body,
        "image_too_large",
        "face.max_image_bytes",
        face_body_bytes(&registry),
    )?;
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
