//! A file server on loopback for download tests: `Range` support, faults injected per request
//! (an error status, a connection cut after N bytes), slow serving, and a server-side count of
//! requests and body bytes sent.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the next request for a path gets instead of a normal answer.
#[derive(Debug, Clone, Copy)]
#[allow(dead_code)]
pub enum Fault {
    /// Answer with this status and no body.
    Status(u16),
    /// Start a normal answer but break the connection after this many body bytes.
    CutAfter(u64),
}

struct Route {
    body: Bytes,
    faults: VecDeque<Fault>,
    chunk: usize,
    delay: Duration,
}

#[derive(Default)]
struct Shared {
    routes: Mutex<HashMap<String, Route>>,
    sent: Mutex<HashMap<String, u64>>,
    /// Every request as `(path, Range header)`.
    requests: Mutex<Vec<(String, Option<String>)>>,
}

pub struct FileServer {
    base: String,
    shared: Arc<Shared>,
}

#[allow(dead_code)]
impl FileServer {
    pub async fn start() -> FileServer {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/{*path}", get(serve))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the file server");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FileServer {
            base: format!("http://{address}"),
            shared,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    /// Serves `body` at `path` at full speed.
    pub fn serve(&self, path: &str, body: Vec<u8>) {
        self.serve_slowly(path, body, 64 * 1024, Duration::ZERO);
    }

    /// Serves `body` at `path` in `chunk`-byte pieces with `delay` before each.
    pub fn serve_slowly(&self, path: &str, body: Vec<u8>, chunk: usize, delay: Duration) {
        self.shared.routes.lock().unwrap().insert(
            path.to_owned(),
            Route {
                body: Bytes::from(body),
                faults: VecDeque::new(),
                chunk,
                delay,
            },
        );
    }

    /// The next request for `path` (after those already queued) gets `fault`.
    pub fn fail_next(&self, path: &str, fault: Fault) {
        if let Some(route) = self.shared.routes.lock().unwrap().get_mut(path) {
            route.faults.push_back(fault);
        }
    }

    /// Body bytes handed to the connection for `path`, over all requests.
    pub fn bytes_sent(&self, path: &str) -> u64 {
        self.shared
            .sent
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// The `Range` header of each request for `path`, in order.
    pub fn requests(&self, path: &str) -> Vec<Option<String>> {
        self.shared
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, r)| r.clone())
            .collect()
    }
}

/// A URL on a loopback port nothing listens on: connecting is refused.
#[allow(dead_code)]
pub fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{address}/nothing-here.onnx")
}

async fn serve(
    State(shared): State<Arc<Shared>>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    shared
        .requests
        .lock()
        .unwrap()
        .push((path.clone(), range.clone()));
    let (body, fault, chunk, delay) = {
        let mut routes = shared.routes.lock().unwrap();
        let Some(route) = routes.get_mut(&path) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        (
            route.body.clone(),
            route.faults.pop_front(),
            route.chunk,
            route.delay,
        )
    };
    if let Some(Fault::Status(status)) = fault {
        return StatusCode::from_u16(status)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response();
    }
    let len = body.len() as u64;
    let start = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<u64>().ok());
    if let Some(start) = start
        && start >= len
    {
        return (
            StatusCode::RANGE_NOT_SATISFIABLE,
            [(header::CONTENT_RANGE, format!("bytes */{len}"))],
        )
            .into_response();
    }
    let from = start.unwrap_or(0);
    let cut_at = match fault {
        Some(Fault::CutAfter(n)) => Some(from + n),
        _ => None,
    };
    let stream = futures_util::stream::unfold(from, move |pos| {
        let (body, shared, path) = (body.clone(), shared.clone(), path.clone());
        async move {
            let limit = cut_at.unwrap_or(len).min(len);
            if pos >= limit {
                return match cut_at {
                    // Erroring the body stream makes the server drop the connection; the
                    // pause first lets what was sent reach the client, as on a real network.
                    Some(_) if pos < len => Some((
                        {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            Err(std::io::Error::other("connection cut by the test"))
                        },
                        u64::MAX,
                    )),
                    _ => None,
                };
            }
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let end = (pos + chunk as u64).min(limit);
            let piece = body.slice(pos as usize..end as usize);
            *shared.sent.lock().unwrap().entry(path).or_default() += piece.len() as u64;
            Some((Ok::<_, std::io::Error>(piece), end))
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    if start.is_some() {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    let h = response.headers_mut();
    h.insert(header::ACCEPT_RANGES, "bytes".parse().unwrap());
    h.insert(
        header::CONTENT_LENGTH,
        (len - from).to_string().parse().unwrap(),
    );
    if start.is_some() {
        h.insert(
            header::CONTENT_RANGE,
            format!("bytes {from}-{}/{len}", len - 1).parse().unwrap(),
        );
    }
    response
}
