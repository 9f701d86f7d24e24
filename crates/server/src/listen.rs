//! Serving the API's router on a TCP listener with the limits `axum::serve` does not have: a
//! cap on open connections, a deadline for a request's headers (a client that trickles them
//! one byte at a time is cut off), a pause after `accept()` errors instead of a spin at the
//! descriptor limit, and a graceful shutdown that waits a bounded time.

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// What the accept loop enforces.
#[derive(Debug, Clone, Copy)]
pub struct ListenLimits {
    /// Connections open at once; more wait in the kernel's backlog.
    pub max_connections: u32,
    /// A connection's request headers must be complete within this.
    pub header_read_timeout: Duration,
    /// Open connections get this long to finish after shutdown begins.
    pub shutdown_grace: Duration,
}

/// First and longest pause after a failed `accept()` (no descriptors left, no memory).
const ACCEPT_BACKOFF_START: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Serves `app` until `stop` resolves, then lets open connections finish for
/// `limits.shutdown_grace` at most.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ListenLimits,
    stop: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections as usize));
    let (closing_tx, closing_rx) = watch::channel(false);
    let mut backoff = ACCEPT_BACKOFF_START;
    tokio::pin!(stop);
    loop {
        // Wait for room before accepting: beyond the cap, clients wait in the backlog.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = &mut stop => break,
        };
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => {
                    backoff = ACCEPT_BACKOFF_START;
                    pair
                }
                Err(e) => {
                    tracing::warn!("accepting a connection failed: {e}; pausing {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let mut closing = closing_rx.clone();
        let header_read_timeout = limits.header_read_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            let connection = builder
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!("connection ended: {e}");
                    }
                    return;
                }
                _ = closing.wait_for(|c| *c) => connection.as_mut().graceful_shutdown(),
            }
            if let Err(e) = connection.await {
                tracing::debug!("connection ended: {e}");
            }
        });
    }
    drop(listener);
    closing_tx.send_replace(true);
    // Every permit back means every connection has finished.
    let all = limits.max_connections;
    let _ = tokio::time::timeout(limits.shutdown_grace, permits.acquire_many(all)).await;
}
