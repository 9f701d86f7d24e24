//! Reading what a refused request still had to send, so its client sees the answer.
//!
//! A route that refuses a request early (a body over its limit, a route that takes no body,
//! a wrong media type) answers without reading the body. If the server then closed the
//! connection with bytes unread, the client, still writing, would get a broken pipe instead
//! of the clear `413 body_too_large` it was sent. So the unread rest is read and thrown away
//! after the answer is made, up to [`DRAIN_BYTES`] and [`DRAIN_TIME`]; past either bound, or
//! after a `408` for a body sent too slowly, the connection is closed as before.

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt;
use http_body::{Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::oneshot;

/// The most bytes read and discarded for one refused request.
pub const DRAIN_BYTES: u64 = 64 << 20;
/// The longest a refused request's rest is read for.
pub const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Middleware: after the route answers, read away what it left of the request body.
pub async fn drain_unread_body(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let (rest_tx, rest_rx) = oneshot::channel();
    let body = Body::new(ReturnsUnread {
        inner: Some(body),
        rest: Some(rest_tx),
    });
    let response = next.run(Request::from_parts(parts, body)).await;
    // The route has finished with the request by now; an unread body came back at its drop.
    // A request cut off for being slow is not waited for any longer.
    if let Ok(rest) = rest_rx.await
        && response.status() != StatusCode::REQUEST_TIMEOUT
    {
        discard(rest).await;
    }
    response
}

async fn discard(body: Body) {
    let mut stream = body.into_data_stream();
    let mut read: u64 = 0;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while let Some(Ok(chunk)) = stream.next().await {
            read = read.saturating_add(chunk.len() as u64);
            if read > DRAIN_BYTES {
                break;
            }
        }
    })
    .await;
}

/// A request body that hands itself back when dropped before its end.
struct ReturnsUnread {
    inner: Option<Body>,
    rest: Option<oneshot::Sender<Body>>,
}

impl HttpBody for ReturnsUnread {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        match self.inner.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for ReturnsUnread {
    fn drop(&mut self) {
        if let (Some(body), Some(rest)) = (self.inner.take(), self.rest.take())
            && !body.is_end_stream()
        {
            // Nobody waiting means the request is over anyway.
            let _ = rest.send(body);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::post;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A route that refuses every request without reading its body.
    async fn serve() -> std::net::SocketAddr {
        let app = Router::new()
            .route(
                "/refuse",
                post(|| async { (axum::http::StatusCode::PAYLOAD_TOO_LARGE, "too large") }),
            )
            .layer(axum::middleware::from_fn(drain_unread_body));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    #[tokio::test]
    async fn a_client_writing_a_refused_body_reads_the_answer_and_keeps_its_connection() {
        let addr = serve().await;
        let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        let body = vec![b'x'; 4 << 20];
        let head = format!(
            "POST /refuse HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        // Every byte of a 4 MiB body goes out without a broken pipe...
        socket.write_all(head.as_bytes()).await.unwrap();
        socket.write_all(&body).await.unwrap();
        let mut buf = vec![0u8; 256];
        let n = socket.read(&mut buf).await.unwrap();
        let answer = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        // ...and the same connection takes the next request.
        socket
            .write_all(b"POST /refuse HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nhi")
            .await
            .unwrap();
        let n = socket.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 413"));
    }

    #[tokio::test]
    async fn a_body_past_the_drain_bound_closes_the_connection() {
        let addr = serve().await;
        let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        let claimed = DRAIN_BYTES * 4;
        let head = format!("POST /refuse HTTP/1.1\r\nhost: x\r\ncontent-length: {claimed}\r\n\r\n");
        socket.write_all(head.as_bytes()).await.unwrap();
        let chunk = vec![b'x'; 1 << 20];
        let mut sent: u64 = 0;
        while sent < claimed {
            if socket.write_all(&chunk).await.is_err() {
                break;
            }
            sent += chunk.len() as u64;
        }
        assert!(sent < claimed, "the server stopped reading before the end");
    }
}
