//! Running one session: wait for the app's connection, then feed what arrives through the
//! role's engine on a thread of its own and send the results back.

use crate::engine::Engine;
use crate::registry::{Registry, SessionEntry, SessionsFull};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use studio_proto::api::{RawSessionOffer, TransportKind};
use studio_proto::control::ControlAck;
use studio_transport::wire::Message;
use studio_transport::{RawListener, ServerConnection, TransportError, Work};

/// How long an offered session waits for the app to connect.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a closing session waits for its engine thread to notice. A processor stuck in a
/// model call keeps its thread, but not the session's place or its sockets.
const ENGINE_STOP_WAIT: Duration = Duration::from_secs(5);

/// Why a session was not opened.
#[derive(Debug)]
pub enum OpenError {
    /// `limits.max_sessions` are open already.
    Full(SessionsFull),
    Transport(TransportError),
}

impl From<TransportError> for OpenError {
    fn from(e: TransportError) -> Self {
        OpenError::Transport(e)
    }
}

fn new_id() -> Result<String, TransportError> {
    Ok(studio_transport::raw::random_key()?[..16].to_string())
}

/// Offer a raw session: bind its loopback socket, register it, and serve it in the background.
pub async fn open_raw(registry: Arc<Registry>) -> Result<RawSessionOffer, OpenError> {
    let id = new_id()?;
    // The place is taken first: a full server binds nothing.
    let guard = registry
        .add_session(id.clone(), TransportKind::Raw)
        .map_err(OpenError::Full)?;
    let listener = RawListener::bind().await?;
    let offer = RawSessionOffer {
        id: id.clone(),
        transport: TransportKind::Raw,
        address: listener.address().to_string(),
        key: listener.key().to_string(),
    };
    tokio::spawn(async move {
        let entry = guard.entry().clone();
        tokio::select! {
            accepted = listener.accept(ACCEPT_TIMEOUT) => match accepted {
                Ok(connection) => {
                    entry.set_state(studio_proto::api::SessionState::Open);
                    entry.touch();
                    registry.changed();
                    tracing::info!(session = %id, "session open");
                    serve(connection, entry.clone(), registry.clone()).await;
                    tracing::info!(session = %id, "session closed");
                }
                Err(e) => tracing::warn!(session = %id, "session never connected: {e}"),
            },
            _ = entry.cancelled() => tracing::info!(session = %id, "session cancelled before it connected"),
        }
        // Ends the session however this task ends, an unwinding panic included.
        drop(guard);
    });
    Ok(offer)
}

/// Answer a WebRTC offer: the session runs in the background like a raw one.
pub async fn open_webrtc(
    registry: Arc<Registry>,
    offer_sdp: &str,
) -> Result<(String, String), OpenError> {
    let Some(server) = registry.webrtc.get().cloned() else {
        return Err(TransportError::Protocol("WebRTC is not set up on this server".into()).into());
    };
    let id = new_id()?;
    let guard = registry
        .add_session(id.clone(), TransportKind::Webrtc)
        .map_err(OpenError::Full)?;
    let accepted = server.accept_offer(offer_sdp).await?;
    let entry = guard.entry().clone();
    entry.set_peer_stats(accepted.stats.clone());
    entry.set_state(studio_proto::api::SessionState::Open);
    entry.touch();
    registry.changed();
    tracing::info!(session = %id, "WebRTC session answered");
    let task_id = id.clone();
    tokio::spawn(async move {
        serve(accepted.connection, entry, registry.clone()).await;
        tracing::info!(session = %task_id, "session closed");
        drop(guard);
    });
    Ok((id, accepted.answer))
}

/// Resolves once the app has sent nothing for `limit`.
async fn idle(entry: &SessionEntry, limit: Duration) {
    loop {
        let idle = entry.idle_for();
        if idle >= limit {
            return;
        }
        tokio::time::sleep((limit - idle).max(Duration::from_millis(50))).await;
    }
}

async fn serve(connection: ServerConnection, entry: Arc<SessionEntry>, registry: Arc<Registry>) {
    let inbox = connection.inbox.clone();
    let outgoing = if registry.output_delay.is_zero() {
        connection.outgoing.clone()
    } else {
        crate::delay::delay_line(connection.outgoing.clone(), registry.output_delay)
    };
    let thread_entry = entry.clone();
    let thread_registry = registry.clone();
    let mut engine_thread = tokio::task::spawn_blocking(move || {
        run_engine(
            thread_registry.engines.create(&thread_registry.face),
            &inbox,
            &outgoing,
            &thread_entry,
            &thread_registry,
        )
    });
    let idle_limit = Duration::from_secs(u64::from(registry.limits.session_idle_s));
    tokio::select! {
        ended = &mut engine_thread => {
            if let Err(e) = ended {
                tracing::error!(session = %entry.id, "the session's engine stopped: {e}");
            }
        }
        _ = entry.cancelled() => connection.abort(),
        _ = idle(&entry, idle_limit) => {
            tracing::info!(session = %entry.id, "closing the session: nothing arrived for {idle_limit:?}");
            connection.abort();
        }
    }
    if !engine_thread.is_finished()
        && tokio::time::timeout(ENGINE_STOP_WAIT, engine_thread)
            .await
            .is_err()
    {
        tracing::error!(session = %entry.id, "the engine thread did not stop; the session is closed without it");
    }
    entry.set_state(studio_proto::api::SessionState::Closed);
}

/// The engine loop: one item at a time, controls first, until the inbox closes or the app
/// stops reading.
fn run_engine(
    mut engine: Engine,
    inbox: &studio_transport::Mailbox,
    outgoing: &tokio::sync::mpsc::Sender<Message>,
    entry: &SessionEntry,
    registry: &Registry,
) {
    let counters = &entry.counters;
    let mut warned_wrong_kind = false;
    while let Some(work) = inbox.next_blocking() {
        entry.touch();
        counters
            .audio_dropped
            .store(inbox.audio_dropped(), Ordering::Relaxed);
        counters
            .controls_dropped
            .store(inbox.controls_dropped(), Ordering::Relaxed);
        let reply = match work {
            Work::Control { seq, control } => {
                let error = engine.apply(&control).err();
                if error.is_none() {
                    entry.update_settings(|s| s.apply(&control));
                    registry.changed();
                }
                Message::ControlAck(ControlAck { seq, error })
            }
            Work::Video(frame) => {
                counters.frames_in.fetch_add(1, Ordering::Relaxed);
                counters
                    .frames_dropped
                    .store(inbox.video_dropped(), Ordering::Relaxed);
                let started = Instant::now();
                let Some(out) = engine.process_video(frame) else {
                    warn_wrong_kind(&mut warned_wrong_kind, registry, "video");
                    continue;
                };
                registry.record_processing(started.elapsed());
                counters.frames_out.fetch_add(1, Ordering::Relaxed);
                if entry.set_enhancer(engine.enhancer_pace()) {
                    registry.changed();
                }
                Message::Video(out)
            }
            Work::Audio(block) => {
                counters
                    .samples_in
                    .fetch_add(block.samples.len() as u64, Ordering::Relaxed);
                let started = Instant::now();
                let Some(out) = engine.process_audio(block) else {
                    warn_wrong_kind(&mut warned_wrong_kind, registry, "audio");
                    continue;
                };
                registry.record_processing(started.elapsed());
                counters
                    .converted_blocks
                    .store(engine.converted_blocks(), Ordering::Relaxed);
                counters
                    .samples_out
                    .fetch_add(out.samples.len() as u64, Ordering::Relaxed);
                Message::Audio(out)
            }
        };
        if outgoing.blocking_send(reply).is_err() {
            break;
        }
    }
}

fn warn_wrong_kind(warned: &mut bool, registry: &Registry, kind: &str) {
    if !*warned {
        tracing::warn!(
            "this is the {} server: {kind} sent to it is ignored",
            registry.role
        );
        *warned = true;
    }
}
