//! The configuration schema: defaults from the repository's `config.json`, a user file that
//! overrides any key, and validation that reports every problem as `path.to.key: reason`.

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
    /// Model registry entries by id; their schema arrives with the model manager.
    pub models: BTreeMap<String, serde_json::Value>,
    /// Voices by id; their schema arrives with the voice engine.
    pub voices: BTreeMap<String, serde_json::Value>,
    pub cloud: CloudConfig,
    pub talk: TalkConfig,
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
}

impl ServersConfig {
    pub fn role(&self, role: crate::Role) -> &ServerConfig {
        match role {
            crate::Role::Video => &self.video,
            crate::Role::Audio => &self.audio,
        }
    }
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
    /// `SECURE`, `COMMUNITY` or `ALL`.
    pub cloud_type: String,
    pub http_port: u16,
    /// Above 65535 on purpose: RunPod maps ports over 70000 symmetrically.
    pub ice_tcp_port: u32,
    pub volume_gb: u32,
    pub container_disk_gb: u32,
    pub idle_timeout_minutes: u32,
    pub max_hourly_usd: f64,
    pub pod_name_prefix: String,
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
    pub fn from_layers(user: Option<(&str, &str)>) -> Result<Config, ConfigError> {
        todo!("{user:?}")
    }
}
