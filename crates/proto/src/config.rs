//! The configuration schema: defaults from the repository's `config.json`, a user file that
//! overrides any key, and validation that reports every problem as `path.to.key: reason`.

use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// The defaults, compiled in so that both binaries work from any folder.
pub const DEFAULTS_JSON: &str = include_str!("../../../config.json");

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
}

/// The face engine's settings (`face`).
#[derive(Debug, Clone, PartialEq)]
pub struct FaceConfig {
    /// Run the detector every this many frames and follow faces in between; 1 = every frame.
    pub detect_every: u32,
    /// Largest target-face upload `POST /v1/faces` accepts, in bytes.
    pub max_image_bytes: u64,
    /// Largest target-face image, in pixels (width × height), after decoding.
    pub max_image_pixels: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VideoConfig {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// What the virtual camera shows while video processing is down.
    pub fallback: VideoFallback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoFallback {
    /// Keep showing the last processed frame (`"last_frame"`).
    LastFrame,
    /// A plain grey card (`"card"`).
    Card,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AudioConfig {
    pub sample_rate: u32,
    /// Always 1: the pipeline is mono.
    pub channels: u16,
    /// Length of one audio block, 10 or 20 ms.
    pub frame_ms: u32,
}

impl AudioConfig {
    /// Samples in one block.
    pub fn block_samples(&self) -> usize {
        (self.sample_rate as usize * self.frame_ms as usize) / 1000
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServersConfig {
    pub video: ServerConfig,
    pub audio: ServerConfig,
    pub restart: RestartConfig,
    /// Where downloaded models are kept; `None`: the OS cache folder. `STUDIO_CACHE_DIR`
    /// overrides both.
    pub cache_dir: Option<String>,
}

impl ServersConfig {
    pub fn role(&self, role: crate::Role) -> &ServerConfig {
        match role {
            crate::Role::Video => &self.video,
            crate::Role::Audio => &self.audio,
        }
    }
}

/// One downloadable file of the model registry (`models.<id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelEntry {
    /// Which server needs it.
    pub role: ModelRole,
    /// Fetched when the server starts; other entries are fetched when first asked for.
    pub required: bool,
    /// What the file is: a model, or the ONNX Runtime library the `ort` backend loads.
    pub kind: ModelKind,
    /// Name of the file in the cache folder (no folders).
    pub file: String,
    /// Mirrors, tried in order; never empty.
    pub urls: Vec<String>,
    /// Lowercase SHA-256 of the downloaded file; `None` pins the file on first download
    /// (trust on first use).
    pub sha256: Option<String>,
    /// Size of the download, when known: checked before and after downloading.
    pub bytes: Option<u64>,
    pub license: String,
    /// When the download is a zip archive (a Python wheel): the member to extract as `file`,
    /// with at most one `*` (e.g. `onnxruntime/capi/libonnxruntime.so.*`).
    pub archive_member: Option<String>,
    /// `<os>-<arch>` as Rust names them (`linux-x86_64`, `windows-x86_64`, `macos-aarch64`);
    /// other platforms skip the entry. `None`: every platform.
    pub platform: Option<String>,
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

#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Address to bind; loopback unless the user means to serve another machine.
    pub host: String,
    /// 0 lets the system choose a free port.
    pub port: u16,
    pub backend: Backend,
    /// `auto`, `cpu`, `cuda:N`, ...
    pub device: String,
    /// ONNX Runtime's library (file or folder); otherwise `ORT_DYLIB_PATH`, beside the
    /// executable, or the app data folder.
    pub onnxruntime: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Auto,
    Ort,
    Tract,
}

/// How the app's local server manager restarts a server that dies.
#[derive(Debug, Clone, PartialEq)]
pub struct RestartConfig {
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// How long a starting server may take to print its address and answer health.
    pub start_timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CloudConfig {
    pub runpod: RunpodConfig,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunpodConfig {
    pub api_url: String,
    /// Contains `{pod_id}` and `{port}`.
    pub proxy_url_template: String,
    pub server_image: String,
    /// In order of preference; never empty.
    pub gpu_types: Vec<String>,
    /// Which of RunPod's clouds pods may run in.
    pub cloud_type: CloudType,
    pub http_port: u16,
    /// Above 65535 on purpose: RunPod maps ports over 70000 symmetrically.
    pub ice_tcp_port: u32,
    /// The pod's persistent volume for the model cache; 0 for none (RunPod's floor is 10).
    pub volume_gb: u32,
    pub container_disk_gb: u32,
    /// Pods that carried no session and no authenticated request this long are deleted, by
    /// the app and by the pod's own server.
    pub idle_timeout_minutes: u32,
    /// A pod's server deletes its pod after this long whatever happens.
    pub max_lifetime_hours: u32,
    /// The oldest CUDA (`major.minor`) the host's driver may offer: the server image's.
    pub min_cuda_version: String,
    pub max_hourly_usd: f64,
    pub pod_name_prefix: String,
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

#[derive(Debug, Clone, PartialEq)]
pub struct TalkConfig {
    /// Key name as the talk-key listener spells it (`Space`, `F13`, `ControlRight`, ...).
    pub key: String,
    pub hang_ms: u32,
    pub preroll_ms: u32,
}

/// One problem found while loading: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Dotted path of the key, e.g. `video.fps`; empty for the document itself.
    pub path: String,
    pub reason: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.path, self.reason)
        }
    }
}

/// Every problem in a configuration, each on its own line when displayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// Which file the problems are in (for the message), e.g. the user file's path.
    pub source_name: String,
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} has {} problem(s):",
            self.source_name,
            self.problems.len()
        )?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
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
        let config = checker.config(&Value::Object(merged));
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

/// Whether a key's name says it holds a secret (API keys, tokens, passwords). Such keys are
/// refused anywhere in a config file: config files get shared, pasted into bug reports and
/// committed to dotfile repositories, so credentials belong in the environment or a key store.
pub fn is_secret_key_name(name: &str) -> bool {
    const MARKERS: [&str; 5] = ["api_key", "apikey", "token", "secret", "password"];
    let lower = name.to_ascii_lowercase();
    MARKERS.iter().any(|m| lower.contains(m))
}

// ---------------------------------------------------------------------------------------------
// Parsing and merging
// ---------------------------------------------------------------------------------------------

type Map = serde_json::Map<String, Value>;

/// Parses `text` as a JSON document whose top level must be an object.
fn parse_object(text: &str) -> Result<Map, ConfigProblem> {
    let value: Value = serde_json::from_str(text).map_err(|e| ConfigProblem {
        path: String::new(),
        reason: invalid_json_reason(&e),
    })?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(ConfigProblem {
            path: String::new(),
            reason: format!(
                "expected a JSON object at the top level, got {}",
                show(&other)
            ),
        }),
    }
}

/// `not valid JSON at line 3, column 5: expected `,` or `}``. serde_json's own message ends in
/// "at line L column C"; that tail is moved to the front in a friendlier form.
fn invalid_json_reason(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let tail = format!(" at line {} column {}", e.line(), e.column());
    let what = full.strip_suffix(&tail).unwrap_or(&full);
    format!(
        "not valid JSON at line {}, column {}: {what}",
        e.line(),
        e.column()
    )
}

/// The keys whose values are maps of entries by id rather than fixed sections.
const ID_MAPS: [&str; 2] = ["models", "voices"];

/// Merges the user document over the defaults. `models` and `voices` take user entries whole
/// (by id); everything else merges recursively.
fn merge_top_level(base: &mut Map, user: Map) {
    for (key, user_value) in user {
        match (base.get_mut(&key), user_value) {
            (Some(Value::Object(base_entries)), Value::Object(user_entries))
                if ID_MAPS.contains(&key.as_str()) =>
            {
                // An entry is one unit (a model or a voice); mixing fields of a default entry
                // with a user's entry of the same id would describe neither.
                base_entries.extend(user_entries);
            }
            (Some(base_value), user_value) => merge_value(base_value, user_value),
            (None, user_value) => {
                base.insert(key, user_value);
            }
        }
    }
}

/// Objects merge key by key; any other user value (arrays and `null` included) replaces.
fn merge_value(base: &mut Value, user: Value) {
    match (base, user) {
        (Value::Object(base_map), Value::Object(user_map)) => {
            for (key, user_value) in user_map {
                match base_map.get_mut(&key) {
                    Some(base_value) => merge_value(base_value, user_value),
                    None => {
                        base_map.insert(key, user_value);
                    }
                }
            }
        }
        (base, user) => *base = user,
    }
}

// ---------------------------------------------------------------------------------------------
// Validation: a small reader over `serde_json::Value` that records every problem
// ---------------------------------------------------------------------------------------------

/// Longest rendering of an offending value before it is cut short with `…`.
const MAX_SHOWN_CHARS: usize = 60;

/// A value as compact JSON for messages (strings quoted), shortened if long.
fn show(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= MAX_SHOWN_CHARS {
        text
    } else {
        let cut: String = text.chars().take(MAX_SHOWN_CHARS).collect();
        format!("{cut}…")
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Advice on where a secret should go instead, specific where the app reads one.
fn secret_reason(path: &str) -> String {
    let instead = if path.starts_with("cloud.runpod.") {
        "set RUNPOD_API_KEY or use the app's key store"
    } else {
        "remove it and supply it through an environment variable or the app's key store"
    };
    format!("secrets do not belong in config files; {instead}")
}

/// An object being read, with its dotted path.
struct Section<'v> {
    path: String,
    map: &'v Map,
}

impl<'v> Section<'v> {
    /// Path and value of a key; the value is `None` when the key is absent.
    fn get(&self, key: &str) -> (String, Option<&'v Value>) {
        (join(&self.path, key), self.map.get(key))
    }
}

#[derive(Default)]
struct Checker {
    problems: Vec<ConfigProblem>,
}

impl Checker {
    fn push(&mut self, path: &str, reason: String) {
        self.problems.push(ConfigProblem {
            path: path.to_owned(),
            reason,
        });
    }

    /// Records "expected X, got V" (or that the key is missing) and yields nothing.
    fn expected<T>(&mut self, path: &str, what: &str, value: Option<&Value>) -> Option<T> {
        let reason = match value {
            Some(v) => format!("expected {what}, got {}", show(v)),
            None => format!("missing; expected {what}"),
        };
        self.push(path, reason);
        None
    }

    // --- objects -----------------------------------------------------------------------------

    /// Opens a fixed-schema object: reports keys outside `known` (or secret-named ones) and
    /// returns the section so its known keys can be read.
    fn section<'v>(
        &mut self,
        path: &str,
        value: Option<&'v Value>,
        known: &[&str],
    ) -> Option<Section<'v>> {
        let Some(Value::Object(map)) = value else {
            return self.expected(path, "an object", value);
        };
        for (key, child) in map {
            if known.contains(&key.as_str()) {
                continue;
            }
            let child_path = join(path, key);
            if is_secret_key_name(key) {
                // Said instead of "unknown key": it is the more useful thing to fix.
                self.push(&child_path, secret_reason(&child_path));
            } else {
                let reason = format!("unknown key (expected one of: {})", known.join(", "));
                self.push(&child_path, reason);
                self.scan_secrets(&child_path, child);
            }
        }
        Some(Section {
            path: path.to_owned(),
            map,
        })
    }

    /// Reports secret-named keys at any depth below `value` (which is not otherwise checked).
    fn scan_secrets(&mut self, path: &str, value: &Value) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let child_path = join(path, key);
                    if is_secret_key_name(key) {
                        self.push(&child_path, secret_reason(&child_path));
                    } else {
                        self.scan_secrets(&child_path, child);
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.scan_secrets(&format!("{path}[{i}]"), item);
                }
            }
            _ => {}
        }
    }

    /// A map of entries by id (`voices`): each entry must be an object; its inner schema
    /// belongs to the component that uses it, but secrets are refused here already.
    fn entries(&mut self, path: &str, value: Option<&Value>) -> Option<BTreeMap<String, Value>> {
        let Some(Value::Object(map)) = value else {
            return self.expected(path, "an object of entries by id", value);
        };
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (id, entry) in map {
            let entry_path = join(path, id);
            if is_secret_key_name(id) {
                // Checked before the type so that a secret string is never echoed back.
                self.push(&entry_path, secret_reason(&entry_path));
                ok = false;
            } else if entry.is_object() {
                let before = self.problems.len();
                self.scan_secrets(&entry_path, entry);
                ok &= self.problems.len() == before;
                out.insert(id.clone(), entry.clone());
            } else {
                self.expected::<()>(&entry_path, "an object", Some(entry));
                ok = false;
            }
        }
        ok.then_some(out)
    }

    /// `models`: entries by id, each a [`ModelEntry`].
    fn models(
        &mut self,
        path: &str,
        value: Option<&Value>,
    ) -> Option<BTreeMap<String, ModelEntry>> {
        let Some(Value::Object(map)) = value else {
            return self.expected(path, "an object of entries by id", value);
        };
        let mut out = Some(BTreeMap::new());
        for (id, entry) in map {
            let entry_path = join(path, id);
            let model = if is_secret_key_name(id) {
                self.push(&entry_path, secret_reason(&entry_path));
                None
            } else if !is_model_id(id) {
                self.push(
                    &entry_path,
                    "a model id uses only letters, digits, '-', '_' and '.'".to_owned(),
                );
                None
            } else {
                self.model(&entry_path, entry)
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

    fn model(&mut self, path: &str, value: &Value) -> Option<ModelEntry> {
        const KEYS: [&str; 10] = [
            "role",
            "required",
            "kind",
            "file",
            "urls",
            "sha256",
            "bytes",
            "license",
            "archive_member",
            "platform",
        ];
        let s = self.section(path, Some(value), &KEYS)?;
        let (p, v) = s.get("role");
        let role = self.one_of(
            &p,
            v,
            &[
                ("video", ModelRole::Only(crate::Role::Video)),
                ("audio", ModelRole::Only(crate::Role::Audio)),
                ("any", ModelRole::Any),
            ],
        );
        let (p, v) = s.get("required");
        let required = match v {
            Some(Value::Bool(b)) => Some(*b),
            _ => self.expected(&p, "true or false", v),
        };
        let (p, v) = s.get("kind");
        let kind = match v {
            None => Some(ModelKind::Model),
            Some(_) => self.one_of(
                &p,
                v,
                &[
                    ("model", ModelKind::Model),
                    ("onnxruntime", ModelKind::OnnxRuntime),
                ],
            ),
        };
        let (p, v) = s.get("file");
        let file = match v {
            Some(Value::String(f)) if is_plain_file_name(f) => Some(f.clone()),
            _ => self.expected(&p, "a file name without folders", v),
        };
        let (p, v) = s.get("urls");
        let urls = self.urls(&p, v);
        let (p, v) = s.get("sha256");
        let sha256 = match v {
            Some(Value::Null) => Some(None),
            Some(Value::String(h)) if h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()) => {
                Some(Some(h.to_ascii_lowercase()))
            }
            _ => self.expected(&p, "64 hex digits or null", v),
        };
        let (p, v) = s.get("bytes");
        let bytes = match v {
            Some(Value::Null) => Some(None),
            _ => self.positive::<u64>(&p, v).map(Some),
        };
        let (p, v) = s.get("license");
        let license = self.non_empty_string(&p, v);
        let (p, v) = s.get("archive_member");
        let archive_member = match v {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(m)) if !m.is_empty() && m.matches('*').count() <= 1 => {
                Some(Some(m.clone()))
            }
            _ => self.expected(
                &p,
                "a path inside the archive with at most one '*', or null",
                v,
            ),
        };
        let (p, v) = s.get("platform");
        let platform = match v {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(t))
                if t.split_once('-')
                    .is_some_and(|(os, arch)| !os.is_empty() && !arch.is_empty()) =>
            {
                Some(Some(t.clone()))
            }
            _ => self.expected(&p, "\"<os>-<arch>\" such as \"linux-x86_64\", or null", v),
        };
        Some(ModelEntry {
            role: role?,
            required: required?,
            kind: kind?,
            file: file?,
            urls: urls?,
            sha256: sha256?,
            bytes: bytes?,
            license: license?,
            archive_member: archive_member?,
            platform: platform?,
        })
    }

    /// A non-empty array of http(s) URLs; each bad element is its own problem.
    fn urls(&mut self, path: &str, value: Option<&Value>) -> Option<Vec<String>> {
        let Some(Value::Array(items)) =
            value.filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
        else {
            return self.expected(path, "a non-empty array of URLs", value);
        };
        let mut urls = Some(Vec::with_capacity(items.len()));
        for (i, item) in items.iter().enumerate() {
            let url = match item {
                Value::String(u) if u.starts_with("http://") || u.starts_with("https://") => {
                    Some(u.clone())
                }
                _ => self.expected(
                    &format!("{path}[{i}]"),
                    "a URL starting with http:// or https://",
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

    // --- scalars -----------------------------------------------------------------------------

    /// An integer from `min` to `max`; anything else is "expected {what}".
    fn int_in(
        &mut self,
        path: &str,
        value: Option<&Value>,
        min: u64,
        max: u64,
        what: &str,
    ) -> Option<u64> {
        match value.and_then(Value::as_u64) {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => self.expected(path, what, value),
        }
    }

    /// An integer of at least `min` that fits in `T`; `what` names the kind ("a positive
    /// integer"), and a number too large for `T` says the limit.
    fn integer<T: TryFrom<u64> + Into<u64> + Bounded>(
        &mut self,
        path: &str,
        value: Option<&Value>,
        min: u64,
        what: &str,
    ) -> Option<T> {
        let limit: u64 = T::MAX_VALUE.into();
        match value.and_then(Value::as_u64) {
            Some(n) if n < min => self.expected(path, what, value),
            Some(n) => match T::try_from(n) {
                Ok(t) => Some(t),
                Err(_) => self.expected(path, &format!("{what} up to {limit}"), value),
            },
            None => self.expected(path, what, value),
        }
    }

    /// An integer > 0 that fits in `T`.
    fn positive<T: TryFrom<u64> + Into<u64> + Bounded>(
        &mut self,
        path: &str,
        value: Option<&Value>,
    ) -> Option<T> {
        self.integer(path, value, 1, "a positive integer")
    }

    /// An integer >= 0 that fits in `T`.
    fn non_negative<T: TryFrom<u64> + Into<u64> + Bounded>(
        &mut self,
        path: &str,
        value: Option<&Value>,
    ) -> Option<T> {
        self.integer(path, value, 0, "a non-negative integer")
    }

    /// A string with something other than whitespace in it.
    fn non_empty_string(&mut self, path: &str, value: Option<&Value>) -> Option<String> {
        match value {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            _ => self.expected(path, "a non-empty string", value),
        }
    }

    /// One of a fixed set of strings, mapped to its value.
    fn one_of<T: Copy>(
        &mut self,
        path: &str,
        value: Option<&Value>,
        choices: &[(&str, T)],
    ) -> Option<T> {
        if let Some(Value::String(s)) = value
            && let Some((_, t)) = choices.iter().find(|(name, _)| name == s)
        {
            return Some(*t);
        }
        let names: Vec<String> = choices
            .iter()
            .map(|(name, _)| format!("{name:?}"))
            .collect();
        self.expected(path, &format!("one of {}", names.join(", ")), value)
    }

    // --- the schema --------------------------------------------------------------------------

    fn config(&mut self, doc: &Value) -> Option<Config> {
        const TOP: [&str; 8] = [
            "video", "audio", "servers", "models", "voices", "cloud", "talk", "face",
        ];
        // Reading the top level as a section gives the same unknown-key and secret checks as
        // everywhere else.
        let top = self.section("", Some(doc), &TOP)?;

        let video = self.video(&top);
        let audio = self.audio(&top);
        let servers = self.servers(&top);
        let (models_path, models) = top.get("models");
        let models = self.models(&models_path, models);
        let (voices_path, voices) = top.get("voices");
        let voices = self.entries(&voices_path, voices).map(|entries| {
            let mut checked = BTreeMap::new();
            for (id, entry) in entries {
                match crate::voices::check_voice(&join(&voices_path, &id), &entry) {
                    Ok(voice) => {
                        checked.insert(id, voice);
                    }
                    Err(problems) => {
                        for (path, reason) in problems {
                            self.push(&path, reason);
                        }
                    }
                }
            }
            checked
        });
        let cloud = self.cloud(&top);
        let talk = self.talk(&top);
        let face = self.face(&top);
        Some(Config {
            video: video?,
            audio: audio?,
            servers: servers?,
            models: models?,
            voices: voices?,
            cloud: cloud?,
            talk: talk?,
            face: face?,
        })
    }

    fn video(&mut self, parent: &Section) -> Option<VideoConfig> {
        let (path, value) = parent.get("video");
        let s = self.section(&path, value, &["width", "height", "fps", "fallback"])?;
        let width = self.dimension(&s, "width", 7680);
        let height = self.dimension(&s, "height", 4320);
        let (path, value) = s.get("fps");
        let fps = self.positive::<u32>(&path, value).and_then(|n| {
            if n <= 120 {
                Some(n)
            } else {
                self.expected(&path, "a frame rate from 1 to 120", value)
            }
        });
        let (path, value) = s.get("fallback");
        let fallback = self.one_of(
            &path,
            value,
            &[
                ("last_frame", VideoFallback::LastFrame),
                ("card", VideoFallback::Card),
            ],
        );
        Some(VideoConfig {
            width: width?,
            height: height?,
            fps: fps?,
            fallback: fallback?,
        })
    }

    /// A frame width or height: 16 to `max` pixels, and even because I420 halves the chroma
    /// planes in both directions.
    fn dimension(&mut self, s: &Section, key: &str, max: u64) -> Option<u32> {
        let (path, value) = s.get(key);
        let n: u32 = self.positive(&path, value)?;
        if !(16..=max).contains(&u64::from(n)) {
            return self.expected(&path, &format!("from 16 to {max} pixels"), value);
        }
        if !n.is_multiple_of(2) {
            return self.expected(&path, "an even number of pixels (I420 video)", value);
        }
        Some(n)
    }

    fn audio(&mut self, parent: &Section) -> Option<AudioConfig> {
        const RATES: [u64; 5] = [16000, 24000, 32000, 44100, 48000];
        let (path, value) = parent.get("audio");
        let s = self.section(&path, value, &["sample_rate", "channels", "frame_ms"])?;

        let (path, value) = s.get("sample_rate");
        let sample_rate = self.positive::<u32>(&path, value).and_then(|n| {
            if RATES.contains(&u64::from(n)) {
                Some(n)
            } else {
                self.expected(
                    &path,
                    "one of 16000, 24000, 32000, 44100, 48000 (Hz)",
                    value,
                )
            }
        });

        let (path, value) = s.get("channels");
        let channels = match value.and_then(Value::as_u64) {
            Some(1) => Some(1u16),
            _ => {
                let got = value.map_or_else(|| "nothing".to_owned(), show);
                self.push(
                    &path,
                    format!("the pipeline is mono; expected 1, got {got}"),
                );
                None
            }
        };

        let (path, value) = s.get("frame_ms");
        let frame_ms = match value.and_then(Value::as_u64) {
            Some(10) => Some(10),
            Some(20) => Some(20),
            _ => self.expected(&path, "10 or 20 (milliseconds)", value),
        };

        Some(AudioConfig {
            sample_rate: sample_rate?,
            channels: channels?,
            frame_ms: frame_ms?,
        })
    }

    fn servers(&mut self, parent: &Section) -> Option<ServersConfig> {
        let (path, value) = parent.get("servers");
        let s = self.section(&path, value, &["video", "audio", "restart", "cache_dir"])?;
        let video = self.server(&s, "video");
        let audio = self.server(&s, "audio");
        let restart = self.restart(&s);
        let (path, value) = s.get("cache_dir");
        let cache_dir = match value {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(d)) if !d.trim().is_empty() => Some(Some(d.clone())),
            _ => self.expected(&path, "a folder path or null (the OS cache folder)", value),
        };
        Some(ServersConfig {
            video: video?,
            audio: audio?,
            restart: restart?,
            cache_dir: cache_dir?,
        })
    }

    fn server(&mut self, parent: &Section, key: &str) -> Option<ServerConfig> {
        let (path, value) = parent.get(key);
        let s = self.section(
            &path,
            value,
            &["host", "port", "backend", "device", "onnxruntime"],
        )?;
        let (path, value) = s.get("host");
        let host = self.non_empty_string(&path, value);
        let (path, value) = s.get("port");
        let port = self
            .int_in(&path, value, 0, 65535, "a port number 0–65535")
            .and_then(|n| u16::try_from(n).ok());
        let (path, value) = s.get("backend");
        let backend = self.one_of(
            &path,
            value,
            &[
                ("auto", Backend::Auto),
                ("ort", Backend::Ort),
                ("tract", Backend::Tract),
            ],
        );
        let (path, value) = s.get("device");
        let device = match value {
            Some(Value::String(d)) if is_device_name(d) => Some(d.clone()),
            _ => self.expected(
                &path,
                "\"auto\", \"cpu\" or a device such as \"cuda:0\"",
                value,
            ),
        };
        let (path, value) = s.get("onnxruntime");
        let onnxruntime = match value {
            None | Some(Value::Null) => Some(None),
            Some(_) => self.non_empty_string(&path, value).map(Some),
        };
        Some(ServerConfig {
            host: host?,
            port: port?,
            backend: backend?,
            device: device?,
            onnxruntime: onnxruntime?,
        })
    }

    fn restart(&mut self, parent: &Section) -> Option<RestartConfig> {
        let (path, value) = parent.get("restart");
        let s = self.section(
            &path,
            value,
            &["initial_backoff_ms", "max_backoff_ms", "start_timeout_ms"],
        )?;
        let (path, value) = s.get("initial_backoff_ms");
        let initial = self.positive::<u64>(&path, value);
        let (max_path, max_value) = s.get("max_backoff_ms");
        let mut max = self.positive::<u64>(&max_path, max_value);
        // Backoff doubles from the initial delay up to the cap; a cap below the start makes
        // no sense, so it is reported on the cap.
        if let (Some(i), Some(m)) = (initial, max)
            && m < i
        {
            max = self.expected(
                &max_path,
                &format!("at least initial_backoff_ms ({i})"),
                max_value,
            );
        }
        let (path, value) = s.get("start_timeout_ms");
        let start_timeout = self.positive::<u64>(&path, value);
        Some(RestartConfig {
            initial_backoff_ms: initial?,
            max_backoff_ms: max?,
            start_timeout_ms: start_timeout?,
        })
    }

    fn cloud(&mut self, parent: &Section) -> Option<CloudConfig> {
        let (path, value) = parent.get("cloud");
        let s = self.section(&path, value, &["runpod"])?;
        let runpod = self.runpod(&s);
        Some(CloudConfig { runpod: runpod? })
    }

    fn runpod(&mut self, parent: &Section) -> Option<RunpodConfig> {
        const KEYS: [&str; 14] = [
            "api_url",
            "proxy_url_template",
            "server_image",
            "gpu_types",
            "cloud_type",
            "http_port",
            "ice_tcp_port",
            "volume_gb",
            "container_disk_gb",
            "idle_timeout_minutes",
            "max_lifetime_hours",
            "min_cuda_version",
            "max_hourly_usd",
            "pod_name_prefix",
        ];
        let (path, value) = parent.get("runpod");
        let s = self.section(&path, value, &KEYS)?;

        let (path, value) = s.get("api_url");
        let api_url = match value {
            Some(Value::String(u)) if u.starts_with("http://") || u.starts_with("https://") => {
                Some(u.clone())
            }
            _ => self.expected(&path, "a URL starting with http:// or https://", value),
        };

        let (path, value) = s.get("proxy_url_template");
        let proxy_url_template = match value {
            Some(Value::String(t)) if t.contains("{pod_id}") && t.contains("{port}") => {
                Some(t.clone())
            }
            _ => self.expected(
                &path,
                "a URL template containing {pod_id} and {port}",
                value,
            ),
        };

        let (path, value) = s.get("server_image");
        let server_image = self.non_empty_string(&path, value);

        let (path, value) = s.get("gpu_types");
        let gpu_types = self.gpu_types(&path, value);

        let (path, value) = s.get("cloud_type");
        let cloud_type = self.one_of(
            &path,
            value,
            &[
                ("SECURE", CloudType::Secure),
                ("COMMUNITY", CloudType::Community),
                ("any", CloudType::Any),
            ],
        );

        let (path, value) = s.get("http_port");
        let http_port = self
            .int_in(&path, value, 1, 65535, "a port number 1–65535")
            .and_then(|n| u16::try_from(n).ok());

        // RunPod maps ports above 70000 symmetrically, so this one is deliberately not a
        // 16-bit port.
        let (path, value) = s.get("ice_tcp_port");
        let ice_tcp_port = self
            .int_in(
                &path,
                value,
                1,
                u64::from(u32::MAX),
                "a port number 1–4294967295",
            )
            .and_then(|n| u32::try_from(n).ok());

        let (path, value) = s.get("volume_gb");
        let volume_gb = match self.non_negative::<u32>(&path, value) {
            Some(gb) if (1..10).contains(&gb) => self.expected(
                &path,
                "0 (no volume) or at least 10 (RunPod's smallest volume)",
                value,
            ),
            gb => gb,
        };
        let (path, value) = s.get("container_disk_gb");
        let container_disk_gb = self.positive::<u32>(&path, value);
        let (path, value) = s.get("idle_timeout_minutes");
        let idle_timeout_minutes = self.positive::<u32>(&path, value);
        let (path, value) = s.get("max_lifetime_hours");
        let max_lifetime_hours = self.positive::<u32>(&path, value);

        let (path, value) = s.get("min_cuda_version");
        let min_cuda_version = match value {
            Some(Value::String(v)) if is_major_minor(v) => Some(v.clone()),
            _ => self.expected(
                &path,
                "a CUDA version as major.minor, such as \"12.4\"",
                value,
            ),
        };

        let (path, value) = s.get("max_hourly_usd");
        let max_hourly_usd = match value.and_then(Value::as_f64) {
            Some(x) if x.is_finite() && x > 0.0 => Some(x),
            _ => self.expected(&path, "a positive number of US dollars", value),
        };

        let (path, value) = s.get("pod_name_prefix");
        let pod_name_prefix = self.non_empty_string(&path, value);

        Some(RunpodConfig {
            api_url: api_url?,
            proxy_url_template: proxy_url_template?,
            server_image: server_image?,
            gpu_types: gpu_types?,
            cloud_type: cloud_type?,
            http_port: http_port?,
            ice_tcp_port: ice_tcp_port?,
            volume_gb: volume_gb?,
            container_disk_gb: container_disk_gb?,
            idle_timeout_minutes: idle_timeout_minutes?,
            max_lifetime_hours: max_lifetime_hours?,
            min_cuda_version: min_cuda_version?,
            max_hourly_usd: max_hourly_usd?,
            pod_name_prefix: pod_name_prefix?,
        })
    }

    /// A non-empty array of non-empty strings; each bad element is its own problem.
    fn gpu_types(&mut self, path: &str, value: Option<&Value>) -> Option<Vec<String>> {
        let Some(Value::Array(items)) =
            value.filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
        else {
            return self.expected(path, "a non-empty array of GPU type names", value);
        };
        let mut names = Some(Vec::with_capacity(items.len()));
        for (i, item) in items.iter().enumerate() {
            let name = self.non_empty_string(&format!("{path}[{i}]"), Some(item));
            match (names.as_mut(), name) {
                (Some(list), Some(name)) => list.push(name),
                _ => names = None,
            }
        }
        names
    }

    fn talk(&mut self, parent: &Section) -> Option<TalkConfig> {
        let (path, value) = parent.get("talk");
        let s = self.section(&path, value, &["key", "hang_ms", "preroll_ms"])?;
        let (path, value) = s.get("key");
        let key = self.non_empty_string(&path, value);
        let (path, value) = s.get("hang_ms");
        let hang_ms = self.non_negative::<u32>(&path, value);
        let (path, value) = s.get("preroll_ms");
        let preroll_ms = self.non_negative::<u32>(&path, value);
        Some(TalkConfig {
            key: key?,
            hang_ms: hang_ms?,
            preroll_ms: preroll_ms?,
        })
    }
}

impl Checker {
    fn face(&mut self, parent: &Section) -> Option<FaceConfig> {
        let (path, value) = parent.get("face");
        let s = self.section(
            &path,
            value,
            &["detect_every", "max_image_bytes", "max_image_pixels"],
        )?;
        let (path, value) = s.get("detect_every");
        let detect_every = self
            .int_in(&path, value, 1, 120, "a frame count from 1 to 120")
            .map(|n| n as u32);
        let (path, value) = s.get("max_image_bytes");
        let max_image_bytes = self.positive::<u64>(&path, value);
        let (path, value) = s.get("max_image_pixels");
        let max_image_pixels = self.positive::<u64>(&path, value);
        Some(FaceConfig {
            detect_every: detect_every?,
            max_image_bytes: max_image_bytes?,
            max_image_pixels: max_image_pixels?,
        })
    }
}

/// Integer types the reader produces, with their largest value for messages.
trait Bounded {
    const MAX_VALUE: Self;
}

impl Bounded for u32 {
    const MAX_VALUE: Self = u32::MAX;
}

impl Bounded for u64 {
    const MAX_VALUE: Self = u64::MAX;
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

/// `major.minor` in digits, as RunPod's `minCudaVersion` takes it (`^\d+\.\d+$`).
fn is_major_minor(version: &str) -> bool {
    version.split_once('.').is_some_and(|(major, minor)| {
        [major, minor]
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
    })
}
