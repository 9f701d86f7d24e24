//! The server's one place of state: its role, its sessions and their counters, its models'
//! status, and a change signal that drives `GET /v1/events`.

use crate::engine::EngineFactory;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use studio_proto::Role;
use studio_proto::api::{
    Load, ModelStatus, QueueDrops, ServerStatus, SessionState, SessionStatus, TransportKind,
};
use studio_proto::config::LimitsConfig;
use studio_proto::control::{EnhancerPace, LiveSettings};
use studio_transport::webrtc::PeerStats;
use tokio::sync::{Notify, watch};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain data behind these locks stays consistent even if a holder panicked.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Counters a session's engine thread updates without locking.
#[derive(Default)]
pub struct SessionCounters {
    pub frames_in: AtomicU64,
    pub frames_out: AtomicU64,
    pub frames_dropped: AtomicU64,
    pub samples_in: AtomicU64,
    pub samples_out: AtomicU64,
    pub converted_blocks: AtomicU64,
    /// What the session's bounded queues dropped.
    pub audio_dropped: AtomicU64,
    pub controls_dropped: AtomicU64,
    /// Milliseconds since the server started when the app last sent anything.
    pub last_input_ms: AtomicU64,
}

/// One session in the registry.
pub struct SessionEntry {
    pub id: String,
    pub transport: TransportKind,
    state: Mutex<SessionState>,
    pub counters: SessionCounters,
    settings: Mutex<LiveSettings>,
    cancel: Notify,
    started: Instant,
    /// A WebRTC session's peer figures, once it is answered.
    peer: std::sync::OnceLock<Arc<PeerStats>>,
    /// How often the session's face enhancer runs, while one is on.
    enhancer: Mutex<Option<EnhancerPace>>,
}

impl SessionEntry {
    fn new(id: String, transport: TransportKind) -> SessionEntry {
        SessionEntry {
            id,
            transport,
            state: Mutex::new(SessionState::Waiting),
            counters: SessionCounters::default(),
            settings: Mutex::new(LiveSettings::default()),
            cancel: Notify::new(),
            started: Instant::now(),
            peer: std::sync::OnceLock::new(),
            enhancer: Mutex::new(None),
        }
    }

    pub fn set_state(&self, state: SessionState) {
        *lock(&self.state) = state;
    }

    pub fn settings(&self) -> LiveSettings {
        lock(&self.settings).clone()
    }

    pub fn update_settings(&self, f: impl FnOnce(&mut LiveSettings)) {
        f(&mut lock(&self.settings));
    }

    /// Record how often the face enhancer runs; whether that changed in a way worth an
    /// event: its rate, whether it is automatic, the frame rate, or whether it keeps up.
    /// The reason's figures move with every frame's cost, so they alone wait for the next
    /// status.
    pub fn set_enhancer(&self, pace: Option<EnhancerPace>) -> bool {
        let key = |p: &Option<EnhancerPace>| {
            p.as_ref()
                .map(|p| (p.every, p.automatic, p.fps.to_bits(), p.limit.is_some()))
        };
        let mut now = lock(&self.enhancer);
        let changed = key(&now) != key(&pace);
        *now = pace;
        changed
    }

    /// Where a WebRTC session's transport figures (its ICE-TCP drops) are read from.
    pub fn set_peer_stats(&self, stats: Arc<PeerStats>) {
        let _ = self.peer.set(stats);
    }

    /// Ask the session to end (`DELETE /v1/sessions/{id}`).
    pub fn cancel(&self) {
        self.cancel.notify_one();
    }

    /// Resolves once [`Self::cancel`] was called (also if it was called before).
    pub async fn cancelled(&self) {
        self.cancel.notified().await
    }

    /// Notes that the app sent something (media or a control) now.
    pub fn touch(&self) {
        let now = self.started.elapsed().as_millis().min(u128::from(u64::MAX)) as u64;
        self.counters.last_input_ms.store(now, Ordering::Relaxed);
    }

    /// How long the app has sent nothing.
    pub fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.counters.last_input_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }

    fn status(&self) -> SessionStatus {
        let c = &self.counters;
        SessionStatus {
            id: self.id.clone(),
            transport: self.transport,
            state: *lock(&self.state),
            frames_in: c.frames_in.load(Ordering::Relaxed),
            frames_out: c.frames_out.load(Ordering::Relaxed),
            frames_dropped: c.frames_dropped.load(Ordering::Relaxed),
            samples_in: c.samples_in.load(Ordering::Relaxed),
            samples_out: c.samples_out.load(Ordering::Relaxed),
            converted_blocks: c.converted_blocks.load(Ordering::Relaxed),
            settings: self.settings(),
            queue_drops: QueueDrops {
                audio_blocks: c.audio_dropped.load(Ordering::Relaxed),
                controls: c.controls_dropped.load(Ordering::Relaxed),
                ice_tcp_packets: self
                    .peer
                    .get()
                    .map_or(0, |p| p.tcp_packets_dropped.load(Ordering::Relaxed)),
            },
            enhancer: lock(&self.enhancer).clone(),
        }
    }
}

#[derive(Default)]
struct LoadTotals {
    process_ns: u128,
    processed: u64,
}

/// Why a session could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionsFull {
    pub max: u32,
}

/// A session's place in the registry, held by the task that serves it. Dropping it, however
/// that task ends (done, cancelled, or unwinding from a panic), closes the session and takes
/// it out of the registry, so a session never stays "open" with nobody serving it.
pub struct SessionGuard {
    registry: Arc<Registry>,
    entry: Arc<SessionEntry>,
}

impl SessionGuard {
    pub fn entry(&self) -> &Arc<SessionEntry> {
        &self.entry
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.entry.set_state(SessionState::Closed);
        // Anything still waiting on the session (its engine thread's watcher) lets go.
        self.entry.cancel();
        self.registry.remove_session(&self.entry.id);
    }
}

/// A slot among `limits.max_event_streams`, released when the stream it was taken for ends.
pub struct StreamSlot {
    registry: Arc<Registry>,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.registry.event_streams.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The server's state, shared by the HTTP handlers and the session tasks.
pub struct Registry {
    pub role: Role,
    token: String,
    engine_name: String,
    started: Instant,
    /// When the last request with this server's token came (none yet: `None`).
    last_request: Mutex<Option<Instant>>,
    sessions: Mutex<BTreeMap<String, Arc<SessionEntry>>>,
    load: Mutex<LoadTotals>,
    /// Each model's latest status, reported by the model manager.
    models: Mutex<BTreeMap<String, ModelStatus>>,
    /// The model manager, once started: engines ask it for models they need later.
    model_manager: std::sync::OnceLock<studio_models::ModelManager>,
    /// The face engine (video role), once loaded.
    pub face: Arc<crate::face_slot::FaceSlot>,
    changes: watch::Sender<u64>,
    shutting_down: watch::Sender<bool>,
    /// Diagnostic hold on every result before it goes back (`--inject-delay-ms`).
    pub output_delay: Duration,
    /// Makes each session's engine; also lists voices and the inference backend.
    pub engines: EngineFactory,
    backend: studio_infer::BackendInfo,
    /// WebRTC sessions' sockets, once started.
    pub webrtc: std::sync::OnceLock<Arc<studio_transport::webrtc::WebRtcServer>>,
    /// What the server accepts before it says no (`limits` in the configuration).
    pub limits: LimitsConfig,
    event_streams: AtomicU32,
}

impl Registry {
    pub fn new(
        role: Role,
        token: String,
        engine_name: String,
        engines: EngineFactory,
        limits: LimitsConfig,
    ) -> Registry {
        let backend = engines.backend();
        tracing::info!(
            backend = backend.backend,
            device = %backend.device,
            "inference backend: {}",
            backend.reason
        );
        Registry {
            engines,
            backend,
            role,
            token,
            engine_name,
            started: Instant::now(),
            last_request: Mutex::new(None),
            sessions: Mutex::new(BTreeMap::new()),
            load: Mutex::new(LoadTotals::default()),
            models: Mutex::new(BTreeMap::new()),
            model_manager: std::sync::OnceLock::new(),
            face: Arc::default(),
            changes: watch::channel(0).0,
            shutting_down: watch::channel(false).0,
            output_delay: Duration::ZERO,
            webrtc: std::sync::OnceLock::new(),
            limits,
            event_streams: AtomicU32::new(0),
        }
    }

    /// Hold every result for `delay` before sending it back, as a slow engine would.
    pub fn with_output_delay(mut self, delay: Duration) -> Registry {
        self.output_delay = delay;
        self
    }

    /// Constant-time check of a presented bearer token.
    pub fn token_matches(&self, presented: &str) -> bool {
        studio_transport::raw::secrets_equal(presented, &self.token)
    }

    /// A request with this server's token arrived: someone uses this server.
    pub fn note_request(&self) {
        *lock(&self.last_request) = Some(Instant::now());
    }

    /// When the last request with this server's token arrived.
    pub fn last_request(&self) -> Option<Instant> {
        *lock(&self.last_request)
    }

    /// When the server started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Registers a session, unless `limits.max_sessions` are already there. The guard
    /// removes it again when dropped.
    pub fn add_session(
        self: &Arc<Self>,
        id: String,
        transport: TransportKind,
    ) -> Result<SessionGuard, SessionsFull> {
        let entry = Arc::new(SessionEntry::new(id.clone(), transport));
        {
            let mut sessions = lock(&self.sessions);
            let max = self.limits.max_sessions;
            if sessions.len() >= max as usize {
                return Err(SessionsFull { max });
            }
            sessions.insert(id, entry.clone());
        }
        self.changed();
        Ok(SessionGuard {
            registry: self.clone(),
            entry,
        })
    }

    /// A slot for one more event stream, unless `limits.max_event_streams` are open.
    pub fn open_event_stream(self: &Arc<Self>) -> Option<StreamSlot> {
        let max = self.limits.max_event_streams;
        self.event_streams
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        Some(StreamSlot {
            registry: self.clone(),
        })
    }

    pub fn session(&self, id: &str) -> Option<Arc<SessionEntry>> {
        lock(&self.sessions).get(id).cloned()
    }

    fn remove_session(&self, id: &str) {
        lock(&self.sessions).remove(id);
        self.changed();
    }

    pub fn record_processing(&self, took: Duration) {
        let mut load = lock(&self.load);
        load.process_ns += took.as_nanos();
        load.processed += 1;
    }

    /// Records a model's status and tells event subscribers.
    pub fn set_model_status(&self, status: ModelStatus) {
        lock(&self.models).insert(status.id.clone(), status);
        self.changed();
    }

    pub fn model_status(&self, id: &str) -> Option<ModelStatus> {
        lock(&self.models).get(id).cloned()
    }

    /// Keeps the model manager for on-demand fetches; the first one set stays.
    pub fn set_model_manager(&self, manager: studio_models::ModelManager) {
        let _ = self.model_manager.set(manager);
    }

    /// The model manager, when this server has models configured.
    pub fn model_manager(&self) -> Option<&studio_models::ModelManager> {
        self.model_manager.get()
    }

    /// Tell event subscribers that something in the status changed.
    pub fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub fn shutdown(&self) {
        self.shutting_down.send_replace(true);
    }

    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutting_down.subscribe()
    }

    pub fn has_sessions(&self) -> bool {
        !lock(&self.sessions).is_empty()
    }

    pub fn status(&self) -> ServerStatus {
        let sessions = lock(&self.sessions).values().map(|s| s.status()).collect();
        let load = {
            let totals = lock(&self.load);
            Load {
                process_ms_mean: if totals.processed == 0 {
                    0.0
                } else {
                    totals.process_ns as f64 / totals.processed as f64 / 1e6
                },
                processed_total: totals.processed,
            }
        };
        ServerStatus {
            role: self.role,
            version: env!("CARGO_PKG_VERSION").to_string(),
            // The face swap says whether its models are there yet, and why not.
            engine: match self.role {
                Role::Video => format!("{} ({})", self.engine_name, self.face.state()),
                Role::Audio => self.engine_name.clone(),
            },
            backend: self.backend.backend.to_string(),
            device: self.backend.device.clone(),
            models: lock(&self.models).values().cloned().collect(),
            sessions,
            load,
            uptime_s: self.started.elapsed().as_secs_f64(),
        }
    }
}

impl studio_models::StatusSink for Registry {
    fn model_status(&self, status: ModelStatus) {
        self.set_model_status(status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webrtc_session_reports_what_its_ice_tcp_send_queue_dropped() {
        let entry = SessionEntry::new("s1".into(), TransportKind::Webrtc);
        assert_eq!(entry.status().queue_drops.ice_tcp_packets, 0, "no peer yet");
        let stats = Arc::new(PeerStats::default());
        entry.set_peer_stats(stats.clone());
        stats.tcp_packets_dropped.store(17, Ordering::Relaxed);
        entry.counters.audio_dropped.store(2, Ordering::Relaxed);
        let drops = entry.status().queue_drops;
        assert_eq!((drops.ice_tcp_packets, drops.audio_blocks), (17, 2));
    }
}
