//! The studio's media run: sources captured on one clock, one session per server that
//! follows restarts, the lip-sync buffer, and the sinks written in capture order; the local
//! server manager and the cloud pods the run goes through.

pub mod cloud;
pub mod controls;
pub mod faces;
pub mod item;
pub mod levels;
pub mod lipsync;
pub mod live_source;
pub mod manager;
pub mod pipeline;
pub mod report;
pub mod session_transport;
pub mod sinks;
pub mod spec;
pub mod tap;
pub mod voice_file;

pub use spec::{DeviceFallback, RunSpec, Servers};
/// How a run is told to stop (re-exported so callers need not name tokio-util).
pub use tokio_util::sync::CancellationToken;

use anyhow::Context;
use cloud::CloudReport;
use manager::ServerManager;
use report::Report;
use studio_proto::config::Config;

/// What a run gives back.
pub struct Outcome {
    pub report: Report,
    /// The pods' section, for a cloud run.
    pub cloud: Option<CloudReport>,
}

/// The run was cancelled before its servers were ready: nothing was captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoppedEarly;

impl std::fmt::Display for StoppedEarly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stopped before the servers were ready")
    }
}

impl std::error::Error for StoppedEarly {}

/// Run `spec` until its sources end, its time is up or `cancel` is cancelled. Its sources
/// and outputs are opened first (bad input fails before any server starts), then its servers
/// come up; local servers are stopped and cloud pods deleted before this returns, however the
/// run ends.
pub async fn run(
    config: &Config,
    spec: RunSpec,
    cancel: CancellationToken,
) -> anyhow::Result<Outcome> {
    // Opening a camera or a sound device blocks for a moment: off the async threads.
    let (spec, opened) = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            let opened = pipeline::open(&config, &spec);
            (spec, opened)
        })
        .await
        .context("opening the sources and outputs")?
    };
    let opened = opened?;
    match &spec.servers {
        Servers::Local(options) => {
            let manager = ServerManager::start(options.clone());
            let report = pipeline::run_with(config, opened, manager, spec, cancel).await?;
            Ok(Outcome {
                report,
                cloud: None,
            })
        }
        Servers::Cloud { key, on_step } => {
            let key = key.clone();
            let on_step = on_step.clone();
            let (report, cloud) =
                cloud::run_on_pods(config, key, &*on_step, opened, spec, cancel).await?;
            Ok(Outcome {
                report,
                cloud: Some(cloud),
            })
        }
    }
}
