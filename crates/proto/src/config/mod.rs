//! The configuration schema: defaults from the repository's `config.json`, a user file that
//! overrides any key, and validation that reports every problem as `path.to.key: reason`.
//!
//! Each section and each of its keys is declared once, below, with [`config_section!`]: the
//! field, its documentation and its check side by side. `reader.rs` holds the checking
//! mechanism and `merge.rs` the layering of the user file over the defaults.

mod merge;
mod reader;

pub use reader::{ConfigError, ConfigProblem, is_secret_key_name};

use merge::{merge_top_level, parse_object};
use reader::{
    Checker, Field, config_section, join, non_empty_string, non_negative, optional_string,
    positive, secret_reason,
};
use serde_json::Value;
use std::collections::BTreeMap;

/// The defaults, compiled in so that both binaries work from any folder.
pub const DEFAULTS_JSON: &str = include_str!("../../../../config.json");

/// The face swap's three models (`models` ids): detector, recogniser, swapper.
pub const FACE_MODEL_IDS: [&str; 3] = ["det_10g", "w600k_r50", "inswapper_128"];

/// The swappers offered besides `inswapper_128` (`models` ids), each with the embedding
/// converter its family needs (`None`: it takes the ArcFace vector itself). Fetched only
/// when chosen. SimSwap 256 runs too (`simswap_256.onnx` in `STUDIO_FACE_MODELS`), but has no
/// entry: no published SHA-256 for FaceFusion's file was found to pin it to.
pub const SWAPPER_MODELS: [(&str, Option<&str>); 5] = [
    ("inswapper_128_fp16", None),
    ("hyperswap_1a_256", None),
    ("hyperswap_1b_256", None),
    ("hyperswap_1c_256", None),
    ("simswap_unofficial_512", Some("crossface_simswap")),
];

/// The swapper the face swap runs until another is chosen.
pub const DEFAULT_SWAPPER: &str = "inswapper_128";

/// The embedding converter `swapper` (a `models` id) needs, if any; an error naming the
/// choices when it is no swapper this project runs.
pub fn swapper_converter(swapper: &str) -> Result<Option<&'static str>, String> {
    if swapper == DEFAULT_SWAPPER {
        return Ok(None);
    }
    match SWAPPER_MODELS.iter().find(|(id, _)| *id == swapper) {
        Some((_, converter)) => Ok(*converter),
        None => {
            let known: Vec<&str> = std::iter::once(DEFAULT_SWAPPER)
                .chain(SWAPPER_MODELS.iter().map(|(id, _)| *id))
                .collect();
            Err(format!(
                "unknown swapper {swapper:?}; the swappers are {}",
                known.join(", ")
            ))
        }
    }
}

/// The occlusion mask's model (XSeg, `models` id): optional; the face swap runs without it,
/// and keeps what is in front of the face only once it is there.
pub const OCCLUSION_MODEL_ID: &str = "xseg_1";

/// The region mask's face parser (BiSeNet, `models` id): optional like the occlusion model.
pub const PARSER_MODEL_ID: &str = "bisenet_resnet_34";

/// The face enhancers (`models` ids), each optional like the occlusion model: GFPGAN 1.4,
/// GPEN-BFR 256 and GPEN-BFR 512, as FaceFusion names them.
pub const ENHANCER_MODEL_IDS: [&str; 3] = ["gfpgan_1.4", "gpen_bfr_256", "gpen_bfr_512"];

/// A folder holding `det_10g.onnx`, `w600k_r50.onnx` and `inswapper_128.onnx` (and, for the
/// occlusion and region masks, `xseg_1.onnx` and `bisenet_resnet_34.onnx`, and the enhancers'
/// `<id>.onnx`) that the video
/// server uses instead of its model cache (your own copies, or stand-ins for tests).
pub const FACE_MODELS_ENV: &str = "STUDIO_FACE_MODELS";

/// The shared model every voice from a file needs: ContentVec's 768-d features (RVC v2).
pub const CONTENTVEC_MODEL_ID: &str = "contentvec_768";
/// The shared pitch model a voice from a file uses when RMVPE is chosen.
pub const RMVPE_MODEL_ID: &str = "rmvpe";

/// The whole configuration after merging and validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub video: VideoConfig,
    pub audio: AudioConfig,
    pub servers: ServersConfig,
    /// Model registry entries by id: what each server downloads, from where, and how it is
    /// checked.
    pub models: BTreeMap<String, ModelEntry>,
    /// Voices by id (`crate::voices` checks each entry).
    pub voices: BTreeMap<String, crate::voices::VoiceConfig>,
    pub cloud: CloudConfig,
    pub talk: TalkConfig,
    pub face: FaceConfig,
    pub limits: LimitsConfig,
}

/// The top level's keys, in schema order.
const TOP_KEYS: [&str; 9] = [
    "video", "audio", "servers", "models", "voices", "cloud", "talk", "face", "limits",
];

fn read_config(c: &mut Checker, doc: &Value) -> Option<Config> {
    // Reading the top level as a section gives the same unknown-key and secret checks as
    // everywhere else.
    let top = c.section("", Some(doc), &TOP_KEYS)?;
    let (path, value) = top.get("video");
    let video = VideoConfig::read(c, &path, value);
    let (path, value) = top.get("audio");
    let audio = AudioConfig::read(c, &path, value);
    let (path, value) = top.get("servers");
    let servers = ServersConfig::read(c, &path, value);
    let (path, value) = top.get("models");
    let models = read_models(c, &path, value);
    let (path, value) = top.get("voices");
    let voices = read_voices(c, &path, value);
    let (path, value) = top.get("cloud");
    let cloud = CloudConfig::read(c, &path, value);
    let (path, value) = top.get("talk");
    let talk = TalkConfig::read(c, &path, value);
    let (path, value) = top.get("face");
    let face = FaceConfig::read(c, &path, value);
    let (path, value) = top.get("limits");
    let limits = LimitsConfig::read(c, &path, value);
    Some(Config {
        video: video?,
        audio: audio?,
        servers: servers?,
        models: models?,
        voices: voices?,
        cloud: cloud?,
        talk: talk?,
        face: face?,
        limits: limits?,
    })
}

config_section! {
    /// The face engine's settings (`face`).
    #[derive(Debug, Clone, PartialEq)]
    pub struct FaceConfig {
        /// Run the detector every this many frames and follow faces in between; 1 = every frame.
        detect_every: u32 = |c, f| {
            c.int_in(&f.path, f.value, 1, 120, "a frame count from 1 to 120")
                .map(|n| n as u32)
        },
        /// Detect ahead: a detection frame with faces known is swapped at once with them
        /// while the detector reads it on a thread of its own, its faces taken up by a later
        /// frame.
        detect_ahead: bool = |c, f| match f.value {
            Some(Value::Bool(b)) => Some(*b),
            _ => c.expected(&f.path, "true or false", f.value),
        },
        /// Largest target-face upload `POST /v1/faces` accepts, in bytes.
        max_image_bytes: u64 = positive,
        /// Largest target-face image, in pixels (width × height), after decoding.
        max_image_pixels: u64 = positive,
    }
}

config_section! {
    /// What one server accepts from the network before it says no (`limits`): every queue,
    /// pool and wait a client can grow has its bound here.
    #[derive(Debug, Clone, PartialEq)]
    pub struct LimitsConfig {
        /// Sessions at once; one more is answered 503.
        max_sessions: u32 = |c, f| count(c, f, 4096, "a session count from 1 to 4096"),
        /// A session that receives nothing (no media, no control) for this long is closed.
        session_idle_s: u32 = |c, f| count(c, f, 86_400, "seconds from 1 to 86400"),
        /// Largest `POST /v1/sessions` body (an SDP offer or a small JSON request), in bytes.
        session_body_bytes: u64 = |c, f| {
            c.int_in(&f.path, f.value, 1, 16 << 20, "a byte count from 1 to 16777216")
        },
        /// Largest voice file `POST /v1/voices` accepts (an RVC v2 `.onnx`), in bytes.
        voice_file_bytes: u64 = |c, f| {
            c.int_in(&f.path, f.value, 1, 4 << 30, "a byte count from 1 to 4294967296")
        },
        /// Largest body of the other small routes (`/v1/models/{id}`), in bytes.
        small_body_bytes: u64 = |c, f| {
            c.int_in(&f.path, f.value, 1, 16 << 20, "a byte count from 1 to 16777216")
        },
        /// A connection must send its request headers within this time.
        header_read_timeout_ms: u64 = |c, f| {
            c.int_in(&f.path, f.value, 1, 3_600_000, "milliseconds from 1 to 3600000")
        },
        /// A whole request (body included; event streams excepted) must be answered within this.
        request_timeout_ms: u64 = |c, f| {
            c.int_in(&f.path, f.value, 1, 3_600_000, "milliseconds from 1 to 3600000")
        },
        /// `GET /v1/events` streams at once; one more is answered 503.
        max_event_streams: u32 = |c, f| count(c, f, 4096, "a count from 1 to 4096"),
        /// HTTP connections open at once; more wait until one closes.
        max_connections: u32 = |c, f| count(c, f, 65_536, "a count from 1 to 65536"),
        /// ICE-TCP connections waiting for their first STUN packet at once.
        ice_tcp_pending: u32 = |c, f| count(c, f, 65_536, "a count from 1 to 65536"),
        /// ICE-TCP connections from one IP address at once (waiting or routed).
        ice_tcp_per_address: u32 = |c, f| count(c, f, 65_536, "a count from 1 to 65536"),
    }
}

/// A count from 1 to `max` (at most `u32::MAX`), with `what` saying the range.
fn count(c: &mut Checker, f: &Field<'_>, max: u32, what: &str) -> Option<u32> {
    c.int_in(&f.path, f.value, 1, u64::from(max), what)
        .and_then(|n| u32::try_from(n).ok())
}

config_section! {
    /// The captured and delivered video (`video`).
    #[derive(Debug, Clone, PartialEq)]
    pub struct VideoConfig {
        width: u32 = |c, f| dimension(c, f, 7680),
        height: u32 = |c, f| dimension(c, f, 4320),
        fps: u32 = |c, f| {
            let n: u32 = c.positive(&f.path, f.value)?;
            if n <= 120 {
                Some(n)
            } else {
                c.expected(&f.path, "a frame rate from 1 to 120", f.value)
            }
        },
        /// What the virtual camera shows while video processing is down.
        fallback: VideoFallback = |c, f| {
            c.one_of(
                &f.path,
                f.value,
                &[
                    ("last_frame", VideoFallback::LastFrame),
                    ("card", VideoFallback::Card),
                ],
            )
        },
    }
}

/// A frame width or height: 16 to `max` pixels, and even because I420 halves the chroma
/// planes in both directions.
fn dimension(c: &mut Checker, f: &Field<'_>, max: u64) -> Option<u32> {
    let n: u32 = c.positive(&f.path, f.value)?;
    if !(16..=max).contains(&u64::from(n)) {
        return c.expected(&f.path, &format!("from 16 to {max} pixels"), f.value);
    }
    if !n.is_multiple_of(2) {
        return c.expected(&f.path, "an even number of pixels (I420 video)", f.value);
    }
    Some(n)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoFallback {
    /// Keep showing the last processed frame (`"last_frame"`).
    LastFrame,
    /// A plain grey card (`"card"`).
    Card,
}

config_section! {
    /// The captured and delivered audio (`audio`).
    #[derive(Debug, Clone, PartialEq)]
    pub struct AudioConfig {
        sample_rate: u32 = |c, f| {
            const RATES: [u64; 5] = [16000, 24000, 32000, 44100, 48000];
            let n: u32 = c.positive(&f.path, f.value)?;
            if RATES.contains(&u64::from(n)) {
                Some(n)
            } else {
                c.expected(&f.path, "one of 16000, 24000, 32000, 44100, 48000 (Hz)", f.value)
            }
        },
        /// Always 1: the pipeline is mono.
        channels: u16 = |c, f| match f.value.and_then(Value::as_u64) {
            Some(1) => Some(1),
            _ => {
                let got = f.value.map_or_else(|| "nothing".to_owned(), reader::show);
                c.push(&f.path, format!("the pipeline is mono; expected 1, got {got}"));
                None
            }
        },
        /// Length of one audio block, 10 or 20 ms.
        frame_ms: u32 = |c, f| match f.value.and_then(Value::as_u64) {
            Some(10) => Some(10),
            Some(20) => Some(20),
            _ => c.expected(&f.path, "10 or 20 (milliseconds)", f.value),
        },
    }
}

impl AudioConfig {
    /// Samples in one block.
    pub fn block_samples(&self) -> usize {
        (self.sample_rate as usize * self.frame_ms as usize) / 1000
    }
}

config_section! {
    /// The two servers, how the app restarts them, and where their models are kept (`servers`).
    #[derive(Debug, Clone, PartialEq)]
    pub struct ServersConfig {
        video: ServerConfig = |c, f| ServerConfig::read(c, &f.path, f.value),
        audio: ServerConfig = |c, f| ServerConfig::read(c, &f.path, f.value),
        restart: RestartConfig = |c, f| RestartConfig::read(c, &f.path, f.value),
        /// Where downloaded models are kept; `None`: the OS cache folder. `STUDIO_CACHE_DIR`
        /// overrides both.
        cache_dir: Option<String> = |c, f| match f.value {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(d)) if !d.trim().is_empty() => Some(Some(d.clone())),
            _ => c.expected(&f.path, "a folder path or null (the OS cache folder)", f.value),
        },
    }
}

impl ServersConfig {
    pub fn role(&self, role: crate::Role) -> &ServerConfig {
        match role {
            crate::Role::Video => &self.video,
            crate::Role::Audio => &self.audio,
        }
    }
}

config_section! {
    /// One server's address and inference settings (`servers.video`, `servers.audio`).
    #[derive(Debug, Clone, PartialEq)]
    pub struct ServerConfig {
        /// Address to bind; loopback unless the user means to serve another machine.
        host: String = non_empty_string,
        /// 0 lets the system choose a free port.
        port: u16 = |c, f| {
            c.int_in(&f.path, f.value, 0, 65535, "a port number 0–65535")
                .and_then(|n| u16::try_from(n).ok())
        },
        backend: Backend = |c, f| {
            c.one_of(
                &f.path,
                f.value,
                &[
                    ("auto", Backend::Auto),
                    ("ort", Backend::Ort),
                    ("tract", Backend::Tract),
                ],
            )
        },
        /// `auto`, `cpu`, `cuda:N`, ...
        device: String = |c, f| match f.value {
            Some(Value::String(d)) if is_device_name(d) => Some(d.clone()),
            _ => c.expected(
                &f.path,
                "\"auto\", \"cpu\" or a device such as \"cuda:0\"",
                f.value,
            ),
        },
        /// ONNX Runtime's library (file or folder); otherwise `ORT_DYLIB_PATH`, beside the
        /// executable, or the app data folder.
        onnxruntime: Option<String> = optional_string,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Auto,
    Ort,
    Tract,
}

config_section! {
    /// How the app's local server manager restarts a server that dies.
    #[derive(Debug, Clone, PartialEq)]
    pub struct RestartConfig {
        initial_backoff_ms: u64 = positive,
        /// Backoff doubles from the initial delay up to this cap; a cap below the start makes
        /// no sense, so it is reported here.
        max_backoff_ms: u64 = |c, f| {
            let max: u64 = c.positive(&f.path, f.value)?;
            let (_, initial) = f.section.get("initial_backoff_ms");
            match initial.and_then(Value::as_u64) {
                Some(i) if i > 0 && max < i => {
                    c.expected(&f.path, &format!("at least initial_backoff_ms ({i})"), f.value)
                }
                _ => Some(max),
            }
        },
        /// How long a starting server may take to print its address and answer health.
        start_timeout_ms: u64 = positive,
    }
}

config_section! {
    /// Servers in the cloud (`cloud`).
    #[derive(Debug, Clone, PartialEq)]
    pub struct CloudConfig {
        runpod: RunpodConfig = |c, f| RunpodConfig::read(c, &f.path, f.value),
    }
}

config_section! {
    /// RunPod pods (`cloud.runpod`).
    #[derive(Debug, Clone, PartialEq)]
    pub struct RunpodConfig {
        api_url: String = http_url,
        /// Contains `{pod_id}` and `{port}`.
        proxy_url_template: String = |c, f| match f.value {
            Some(Value::String(t)) if t.contains("{pod_id}") && t.contains("{port}") => {
                Some(t.clone())
            }
            _ => c.expected(&f.path, "a URL template containing {pod_id} and {port}", f.value),
        },
        server_image: String = non_empty_string,
        /// In order of preference; never empty.
        gpu_types: Vec<String> = gpu_types,
        /// Which of RunPod's clouds pods may run in.
        cloud_type: CloudType = |c, f| {
            c.one_of(
                &f.path,
                f.value,
                &[
                    ("SECURE", CloudType::Secure),
                    ("COMMUNITY", CloudType::Community),
                    ("any", CloudType::Any),
                ],
            )
        },
        http_port: u16 = |c, f| {
            c.int_in(&f.path, f.value, 1, 65535, "a port number 1–65535")
                .and_then(|n| u16::try_from(n).ok())
        },
        /// Above 65535 on purpose: RunPod maps ports over 70000 symmetrically.
        ice_tcp_port: u32 = |c, f| {
            c.int_in(&f.path, f.value, 1, u64::from(u32::MAX), "a port number 1–4294967295")
                .and_then(|n| u32::try_from(n).ok())
        },
        /// The pod's persistent volume for the model cache; 0 for none (RunPod's floor is 10).
        volume_gb: u32 = |c, f| match c.non_negative::<u32>(&f.path, f.value) {
            Some(gb) if (1..10).contains(&gb) => c.expected(
                &f.path,
                "0 (no volume) or at least 10 (RunPod's smallest volume)",
                f.value,
            ),
            gb => gb,
        },
        container_disk_gb: u32 = positive,
        /// Pods that carried no session and no authenticated request this long are deleted,
        /// by the app and by the pod's own server.
        idle_timeout_minutes: u32 = positive,
        /// A pod's server deletes its pod after this long whatever happens.
        max_lifetime_hours: u32 = positive,
        /// The oldest CUDA (`major.minor`) the host's driver may offer: the server image's.
        min_cuda_version: String = |c, f| match f.value {
            Some(Value::String(v)) if is_major_minor(v) => Some(v.clone()),
            _ => c.expected(
                &f.path,
                "a CUDA version as major.minor, such as \"12.4\"",
                f.value,
            ),
        },
        max_hourly_usd: f64 = |c, f| match f.value.and_then(Value::as_f64) {
            Some(x) if x.is_finite() && x > 0.0 => Some(x),
            _ => c.expected(&f.path, "a positive number of US dollars", f.value),
        },
        pod_name_prefix: String = non_empty_string,
    }
}

/// RunPod's clouds: `SECURE` or `COMMUNITY` (the API's `Cloud`), or `any`, which tries
/// SECURE and then COMMUNITY for each GPU type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloudType {
    Secure,
    Community,
    Any,
}

impl CloudType {
    /// The clouds to try, in order, each as the API spells it.
    pub fn clouds(self) -> &'static [&'static str] {
        match self {
            CloudType::Secure => &["SECURE"],
            CloudType::Community => &["COMMUNITY"],
            CloudType::Any => &["SECURE", "COMMUNITY"],
        }
    }
}

/// `major.minor` in digits, as RunPod's `minCudaVersion` takes it (`^\d+\.\d+$`).
fn is_major_minor(version: &str) -> bool {
    version.split_once('.').is_some_and(|(major, minor)| {
        [major, minor]
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// A URL starting with `http://` or `https://`.
fn http_url(c: &mut Checker, f: &Field<'_>) -> Option<String> {
    match f.value {
        Some(Value::String(u)) if u.starts_with("http://") || u.starts_with("https://") => {
            Some(u.clone())
        }
        _ => c.expected(&f.path, "a URL starting with http:// or https://", f.value),
    }
}

/// A non-empty array of non-empty strings; each bad element is its own problem.
fn gpu_types(c: &mut Checker, f: &Field<'_>) -> Option<Vec<String>> {
    let Some(Value::Array(items)) = f
        .value
        .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
    else {
        return c.expected(&f.path, "a non-empty array of GPU type names", f.value);
    };
    let mut names = Some(Vec::with_capacity(items.len()));
    for (i, item) in items.iter().enumerate() {
        let name = c.non_empty_string(&format!("{}[{i}]", f.path), Some(item));
        match (names.as_mut(), name) {
            (Some(list), Some(name)) => list.push(name),
            _ => names = None,
        }
    }
    names
}

config_section! {
    /// The talk key (`talk`).
    #[derive(Debug, Clone, PartialEq)]
    pub struct TalkConfig {
        /// Key name as the talk-key listener spells it (`Space`, `F13`, `ControlRight`, ...).
        key: String = non_empty_string,
        hang_ms: u32 = non_negative,
        preroll_ms: u32 = non_negative,
    }
}

config_section! {
    /// One downloadable file of the model registry (`models.<id>`).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ModelEntry {
        /// Which server needs it.
        role: ModelRole = |c, f| {
            c.one_of(
                &f.path,
                f.value,
                &[
                    ("video", ModelRole::Only(crate::Role::Video)),
                    ("audio", ModelRole::Only(crate::Role::Audio)),
                    ("any", ModelRole::Any),
                ],
            )
        },
        /// Fetched when the server starts; other entries are fetched when first asked for.
        required: bool = |c, f| match f.value {
            Some(Value::Bool(b)) => Some(*b),
            _ => c.expected(&f.path, "true or false", f.value),
        },
        /// What the file is: a model, or the ONNX Runtime library the `ort` backend loads.
        kind: ModelKind = |c, f| match f.value {
            None => Some(ModelKind::Model),
            Some(_) => c.one_of(
                &f.path,
                f.value,
                &[
                    ("model", ModelKind::Model),
                    ("onnxruntime", ModelKind::OnnxRuntime),
                ],
            ),
        },
        /// Name of the file in the cache folder (no folders).
        file: String = |c, f| match f.value {
            Some(Value::String(name)) if is_plain_file_name(name) => Some(name.clone()),
            _ => c.expected(&f.path, "a file name without folders", f.value),
        },
        /// Mirrors, tried in order; never empty.
        urls: Vec<String> = urls,
        /// Lowercase SHA-256 of the downloaded file; `None` pins the file on first download
        /// (trust on first use).
        sha256: Option<String> = |c, f| match f.value {
            Some(Value::Null) => Some(None),
            Some(Value::String(h)) if h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()) => {
                Some(Some(h.to_ascii_lowercase()))
            }
            _ => c.expected(&f.path, "64 hex digits or null", f.value),
        },
        /// Size of the download, when known: checked before and after downloading.
        bytes: Option<u64> = |c, f| match f.value {
            Some(Value::Null) => Some(None),
            _ => c.positive::<u64>(&f.path, f.value).map(Some),
        },
        license: String = non_empty_string,
        /// When the download is a zip archive (a Python wheel): the member to extract as
        /// `file`, with at most one `*` (e.g. `onnxruntime/capi/libonnxruntime.so.*`).
        archive_member: Option<String> = |c, f| match f.value {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(m)) if !m.is_empty() && m.matches('*').count() <= 1 => {
                Some(Some(m.clone()))
            }
            _ => c.expected(
                &f.path,
                "a path inside the archive with at most one '*', or null",
                f.value,
            ),
        },
        /// `<os>-<arch>` as Rust names them (`linux-x86_64`, `windows-x86_64`,
        /// `macos-aarch64`); other platforms skip the entry. `None`: every platform.
        platform: Option<String> = |c, f| match f.value {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(t))
                if t.split_once('-')
                    .is_some_and(|(os, arch)| !os.is_empty() && !arch.is_empty()) =>
            {
                Some(Some(t.clone()))
            }
            _ => c.expected(
                &f.path,
                "\"<os>-<arch>\" such as \"linux-x86_64\", or null",
                f.value,
            ),
        },
    }
}

impl ModelEntry {
    /// Whether a server of `role` on this machine uses this entry.
    pub fn serves(&self, role: crate::Role) -> bool {
        let role_matches = match self.role {
            ModelRole::Any => true,
            ModelRole::Only(r) => r == role,
        };
        role_matches && self.for_this_platform()
    }

    /// Whether the entry is meant for the platform this program was built for.
    pub fn for_this_platform(&self) -> bool {
        self.platform
            .as_deref()
            .is_none_or(|p| p == this_platform())
    }
}

/// `<os>-<arch>` of this build, as `models.<id>.platform` spells it.
pub fn this_platform() -> String {
    format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelRole {
    /// `"video"` or `"audio"`.
    Only(crate::Role),
    /// `"any"`: both servers use it (the ONNX Runtime library).
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// `"model"`: an ONNX model.
    Model,
    /// `"onnxruntime"`: the runtime library, fetched only when none is installed.
    OnnxRuntime,
}

/// A non-empty array of https URLs (plain http only to this machine, for test servers);
/// each bad element is its own problem.
fn urls(c: &mut Checker, f: &Field<'_>) -> Option<Vec<String>> {
    let Some(Value::Array(items)) = f
        .value
        .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
    else {
        return c.expected(&f.path, "a non-empty array of URLs", f.value);
    };
    let mut urls = Some(Vec::with_capacity(items.len()));
    for (i, item) in items.iter().enumerate() {
        let url = match item {
            Value::String(u) if is_model_url(u) => Some(u.clone()),
            _ => c.expected(
                &format!("{}[{i}]", f.path),
                "a URL starting with https:// (http:// only to 127.0.0.1, [::1] or localhost)",
                Some(item),
            ),
        };
        match (urls.as_mut(), url) {
            (Some(list), Some(url)) => list.push(url),
            _ => urls = None,
        }
    }
    urls
}

/// `models`: entries by id, each a [`ModelEntry`].
fn read_models(
    c: &mut Checker,
    path: &str,
    value: Option<&Value>,
) -> Option<BTreeMap<String, ModelEntry>> {
    let Some(Value::Object(map)) = value else {
        return c.expected(path, "an object of entries by id", value);
    };
    let mut out = Some(BTreeMap::new());
    for (id, entry) in map {
        let entry_path = join(path, id);
        let model = if reader::is_secret_key_name(id) {
            c.push(&entry_path, secret_reason(&entry_path));
            None
        } else if !is_model_id(id) {
            c.push(
                &entry_path,
                "a model id uses only letters, digits, '-', '_' and '.'".to_owned(),
            );
            None
        } else {
            ModelEntry::read(c, &entry_path, Some(entry))
        };
        match (out.as_mut(), model) {
            (Some(list), Some(model)) => {
                list.insert(id.clone(), model);
            }
            _ => out = None,
        }
    }
    out
}

/// `voices`: entries by id; each entry's schema belongs to [`crate::voices`].
fn read_voices(
    c: &mut Checker,
    path: &str,
    value: Option<&Value>,
) -> Option<BTreeMap<String, crate::voices::VoiceConfig>> {
    let entries = c.entries(path, value)?;
    let mut checked = BTreeMap::new();
    for (id, entry) in entries {
        match crate::voices::check_voice(&join(path, &id), &entry) {
            Ok(voice) => {
                checked.insert(id, voice);
            }
            Err(problems) => {
                for (path, reason) in problems {
                    c.push(&path, reason);
                }
            }
        }
    }
    Some(checked)
}

impl Config {
    /// The defaults alone.
    pub fn defaults() -> Result<Config, ConfigError> {
        Config::from_layers(None)
    }

    /// Defaults overridden by a user file's text. `user` is `(name for messages, JSON text)`.
    /// Objects merge key by key; any other value replaces the default.
    ///
    /// `models` and `voices` are maps keyed by id: a user entry replaces the default entry
    /// with the same id as a whole (it is not merged key by key), and new ids are added.
    ///
    /// Every problem in the merged document is reported at once. Known keys are checked in
    /// schema order (the order of `config.json`); unknown keys within one object are
    /// reported in alphabetical order, as `serde_json` does not keep the file's key order.
    pub fn from_layers(user: Option<(&str, &str)>) -> Result<Config, ConfigError> {
        const DEFAULTS_NAME: &str = "config.json (defaults)";
        let error = |source_name: &str, problems: Vec<ConfigProblem>| ConfigError {
            source_name: source_name.to_owned(),
            problems,
        };

        // The defaults are compiled in, so a problem here is a bug in the repository; it is
        // still reported as an error rather than a panic so the app can show it.
        let mut merged = parse_object(DEFAULTS_JSON).map_err(|p| error(DEFAULTS_NAME, vec![p]))?;

        let source_name = match user {
            Some((name, text)) => {
                let user_doc = parse_object(text).map_err(|p| error(name, vec![p]))?;
                merge_top_level(&mut merged, user_doc);
                name
            }
            None => DEFAULTS_NAME,
        };

        let mut checker = Checker::default();
        let config = read_config(&mut checker, &Value::Object(merged));
        match config {
            Some(config) if checker.problems.is_empty() => Ok(config),
            _ => {
                let mut problems = checker.problems;
                if problems.is_empty() {
                    // Every reader that returns `None` records a problem first; this only
                    // guards against a future reader forgetting to.
                    problems.push(ConfigProblem {
                        path: String::new(),
                        reason: "could not read the configuration (internal error)".to_owned(),
                    });
                }
                Err(error(source_name, problems))
            }
        }
    }
}

/// Models are code the servers run: they come over TLS. Plain http is allowed only to a
/// loopback host, where the tests' file servers live.
pub fn is_model_url(url: &str) -> bool {
    if url.starts_with("https://") {
        return url.len() > "https://".len();
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    // `user@host` would hide the real host behind a loopback-looking name.
    !authority.contains('@') && matches!(host, "127.0.0.1" | "::1" | "localhost")
}

/// Ids name cache entries and appear in URLs and messages: keep them to a safe alphabet.
fn is_model_id(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A bare file name: nothing that could climb out of the cache folder.
fn is_plain_file_name(name: &str) -> bool {
    !name.trim().is_empty()
        && name != "."
        && name != ".."
        && !name.starts_with('.')
        && !name.contains(['/', '\\', ':', '\0'])
}

/// `auto`, `cpu`, or `<name>:<index>` such as `cuda:0` or `rocm:1`.
fn is_device_name(device: &str) -> bool {
    if device == "auto" || device == "cpu" {
        return true;
    }
    match device.split_once(':') {
        Some((name, index)) => {
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !index.is_empty()
                && index.chars().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}
