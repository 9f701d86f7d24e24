//! Bodies of the server's HTTP API (`/v1/...`), shared by the server and its clients.

use crate::Role;
use crate::control::LiveSettings;
use serde::{Deserialize, Serialize};

/// `GET /v1/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
}

/// The first line a server prints on stdout, so a parent that asked for `--port 0` learns
/// the address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listening {
    pub listening: String,
    pub role: Role,
}

/// Every error body: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `unauthorized`, `not_found`, `bad_request`, `not_implemented`, ...
    pub code: String,
    /// A sentence a person can act on.
    pub message: String,
}

/// Which transport a session uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// Raw frames and audio blocks over a loopback socket: same host only, no codec.
    Raw,
    /// WebRTC with H.264 and Opus.
    Webrtc,
}

/// `POST /v1/sessions` with `Content-Type: application/json`: open a same-host raw session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawSessionRequest {
    pub transport: TransportKind,
}

/// The answer to a raw session request: where to connect and the one-time key to present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawSessionOffer {
    pub id: String,
    pub transport: TransportKind,
    /// `host:port` of the loopback socket that waits for this session's connection.
    pub address: String,
    /// Must be the first thing sent on the socket; valid once.
    pub key: String,
}

/// One session as seen in status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionStatus {
    pub id: String,
    pub transport: TransportKind,
    pub state: SessionState,
    pub frames_in: u64,
    pub frames_out: u64,
    /// Video frames replaced by a newer one before processing (video never queues).
    pub frames_dropped: u64,
    pub samples_in: u64,
    pub samples_out: u64,
    /// Audio blocks the engine converted (the talk gate's silent blocks are not counted).
    #[serde(default)]
    pub converted_blocks: u64,
    pub settings: LiveSettings,
    /// What the session's bounded queues had to drop.
    #[serde(default)]
    pub queue_drops: QueueDrops,
    /// How often the face enhancer runs, while one is on.
    #[serde(default)]
    pub enhancer: Option<crate::control::EnhancerPace>,
}

/// Items a session's bounded queues dropped because the engine fell that far behind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueDrops {
    /// Audio blocks dropped from the front of a full queue (oldest first).
    pub audio_blocks: u64,
    /// Control messages refused while the control queue was full.
    pub controls: u64,
    /// Packets to the app dropped because its ICE-TCP connection stopped reading and the
    /// connection's send queue was full.
    #[serde(default)]
    pub ice_tcp_packets: u64,
}

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionState {
    /// Offered; its connection has not come yet.
    Waiting,
    Open,
    Closed,
}

/// Per-model state, filled by the model manager.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelStatus {
    pub id: String,
    pub state: ModelState,
    pub bytes_done: u64,
    pub bytes_total: Option<u64>,
    pub error: Option<String>,
    /// Download speed, bytes per second, while downloading.
    #[serde(default)]
    pub rate_bytes_per_s: Option<f64>,
    /// Seconds left at the current rate, while downloading with a known size.
    #[serde(default)]
    pub eta_s: Option<f64>,
    /// SHA-256 the file is checked against, once known.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Where that checksum comes from: `pinned` (the configuration names it) or `first_use`
    /// (the configuration has none, so the first download's checksum was recorded and
    /// later copies must match it).
    #[serde(default)]
    pub trust: Option<String>,
}

/// The states of [`ModelStatus::state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelState {
    /// Wanted, not started yet.
    Pending,
    Downloading,
    /// Checking the SHA-256 (of a fresh download or of the cached copy).
    Verifying,
    /// Being loaded by the engine.
    Loading,
    Ready,
    /// See `error`.
    Failed,
}

impl ModelState {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelState::Pending => "pending",
            ModelState::Downloading => "downloading",
            ModelState::Verifying => "verifying",
            ModelState::Loading => "loading",
            ModelState::Ready => "ready",
            ModelState::Failed => "failed",
        }
    }
}

/// `GET /v1/status`, and each event of `GET /v1/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerStatus {
    pub role: Role,
    pub version: String,
    /// The engine that processes media, e.g. `identity`.
    pub engine: String,
    /// Inference backend in use (`none` until an engine needs one).
    pub backend: String,
    /// Device the backend runs on (`cpu`, `cuda:0`, ...).
    pub device: String,
    pub models: Vec<ModelStatus>,
    pub sessions: Vec<SessionStatus>,
    pub load: Load,
    pub uptime_s: f64,
}

/// Work done so far, for the UI's FPS and latency figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Load {
    /// Mean processing time per frame (video) or block (audio), milliseconds.
    pub process_ms_mean: f64,
    pub processed_total: u64,
}

/// One entry of `GET /v1/voices`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoiceEntry {
    /// What `SetVoice` takes.
    pub id: String,
    pub name: String,
    pub kind: VoiceKind,
    /// Algorithmic latency (the method's own delay, without computation time).
    pub latency_ms: f64,
    /// Streaming sizes: new audio per conversion, history it sees, crossfade length.
    pub block_ms: f64,
    pub context_ms: f64,
    pub crossfade_ms: f64,
    /// Whether it can be used now (its model files are there).
    pub ready: bool,
    pub problem: Option<String>,
    /// What converting one block took on this server when the voice was last loaded, in
    /// milliseconds; `None` until a neural voice has been loaded once.
    #[serde(default)]
    pub convert_ms: Option<f64>,
    /// The shared models (`models` ids) this voice waits for while not ready.
    #[serde(default)]
    pub needs: Vec<String>,
    /// How much of its features come from its RVC index, when it has one (0..1).
    #[serde(default)]
    pub index_rate: Option<f32>,
}

/// How a voice is made, which says what it needs before it can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VoiceKind {
    /// Signal processing: always ready.
    Dsp,
    /// A neural model: ready once its files are there.
    Neural,
}

impl VoiceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VoiceKind::Dsp => "dsp",
            VoiceKind::Neural => "neural",
        }
    }
}

impl From<&crate::voices::VoiceKind> for VoiceKind {
    fn from(kind: &crate::voices::VoiceKind) -> VoiceKind {
        match kind {
            crate::voices::VoiceKind::Dsp(_) => VoiceKind::Dsp,
            crate::voices::VoiceKind::Neural(_) => VoiceKind::Neural,
        }
    }
}

/// `GET /v1/voices`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoiceList {
    pub voices: Vec<VoiceEntry>,
}

/// How a voice from a file finds its pitch: the `pitch` query of `POST /v1/voices`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VoiceFilePitch {
    /// YIN: no download, about a millisecond per block.
    #[default]
    Yin,
    /// The RMVPE model (a shared download): steadier pitch, more work per block.
    Rmvpe,
}

impl VoiceFilePitch {
    /// The name the query and the wire use.
    pub fn as_str(self) -> &'static str {
        match self {
            VoiceFilePitch::Yin => "yin",
            VoiceFilePitch::Rmvpe => "rmvpe",
        }
    }
}

/// The query of `POST /v1/voices` (the voice's `.onnx` bytes as the body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoiceFileQuery {
    /// What the window shows (the file's name without its extension, say).
    pub name: String,
    #[serde(default)]
    pub pitch: VoiceFilePitch,
}

/// The answer to `POST /v1/voices`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoiceAdded {
    /// Use it in `Control::SetVoice`; the same file always gets the same id.
    pub id: String,
    /// The voice as `GET /v1/voices` lists it now (not ready while `needs` downloads).
    pub entry: VoiceEntry,
}

/// The answer to `POST /v1/faces` (the image's bytes as the body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceAdded {
    /// Use it in `Control::SetFace`.
    pub id: String,
    /// The face used, `[x1, y1, x2, y2]` in the image's pixels: its corners, not a size.
    pub bbox: [f32; 4],
    /// How many faces the image held.
    pub faces: usize,
    /// Set when the image held several faces (the largest is used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// Error codes a client acts on (others are only shown).
pub mod error_code {
    /// `503` from `POST /v1/faces`: the face engine's models are on disk and loading; the
    /// same request succeeds in a moment.
    pub const FACE_LOADING: &str = "face_loading";
    /// `503` from `POST /v1/faces`: there is no face engine and none is loading (models not
    /// configured, or broken); the message says what to do.
    pub const FACE_UNAVAILABLE: &str = "face_unavailable";
    /// `503` from `POST /v1/faces`: the face models are configured but not downloaded;
    /// `POST /v1/models/{id}` for each of `config::FACE_MODEL_IDS` fetches them.
    pub const FACE_MODELS_MISSING: &str = "face_models_missing";
    /// `422` from `POST /v1/voices`: the file is not an RVC v2 synthesizer this server can
    /// run; the message says what it is missing.
    pub const VOICE_INVALID: &str = "voice_invalid";
    /// `503` from `POST /v1/voices`: the server cannot keep voice files or fetch the shared
    /// models they need (no cache folder, or the models are not configured).
    pub const VOICE_FILES_UNAVAILABLE: &str = "voice_files_unavailable";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_kinds_keep_their_lowercase_wire_names() {
        let status: ModelStatus = serde_json::from_value(serde_json::json!({
            "id": "det_10g", "state": "downloading", "bytes_done": 5, "bytes_total": null,
            "error": null
        }))
        .unwrap();
        assert_eq!(status.state, ModelState::Downloading);
        for state in [
            ModelState::Pending,
            ModelState::Downloading,
            ModelState::Verifying,
            ModelState::Loading,
            ModelState::Ready,
            ModelState::Failed,
        ] {
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        }
        assert_eq!(
            serde_json::to_value(SessionState::Waiting).unwrap(),
            "waiting"
        );
        assert_eq!(serde_json::to_value(VoiceKind::Neural).unwrap(), "neural");
        assert!(serde_json::from_str::<ModelState>("\"resting\"").is_err());
    }

    #[test]
    fn a_face_answer_carries_corners_and_omits_an_absent_warning() {
        let added = FaceAdded {
            id: "f1".into(),
            bbox: [10.0, 20.0, 110.0, 140.0],
            faces: 1,
            warning: None,
        };
        let json = serde_json::to_value(&added).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": "f1", "bbox": [10.0, 20.0, 110.0, 140.0], "faces": 1})
        );
        assert_eq!(serde_json::from_value::<FaceAdded>(json).unwrap(), added);
    }
}
