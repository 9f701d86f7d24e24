//! Cloud mode in the run: provisioning with progress, the servers handed to
//! the media path, the idle timeout, and deleting the pods whatever happens. The lifecycle
//! itself lives in `studio-cloud`; this is where the app drives it.

use crate::manager::{ServerInfo, ServerManager};
use crate::session_transport::Transport;
use anyhow::{Context, bail};
use serde::Serialize;
use std::time::Duration;
use studio_client::ServerClient;
use studio_cloud::idle::IdleWatch;
use studio_cloud::lifecycle::StopReason;
use studio_cloud::{
    CloudEvent, CloudSettings, Plan, Progress, Provisioner, RunpodRest, Secret, ServerEndpoint,
};
use studio_proto::config::Config;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Cloud settings that are not in config.json.
#[derive(Debug, Clone)]
pub struct CloudRunOptions {
    pub transport: Transport,
    pub idle_timeout: Duration,
    pub ready_timeout: Duration,
}

impl CloudRunOptions {
    pub fn from_config(config: &Config, transport: Transport) -> CloudRunOptions {
        CloudRunOptions {
            transport,
            idle_timeout: Duration::from_secs(
                u64::from(config.cloud.runpod.idle_timeout_minutes) * 60,
            ),
            ready_timeout: studio_cloud::lifecycle::DEFAULT_READY_TIMEOUT,
        }
    }
}

/// One pod in the report.
#[derive(Debug, Clone, Serialize)]
pub struct PodReport {
    pub role: studio_proto::Role,
    pub pod_id: String,
    pub gpu_type: String,
    /// `SECURE` or `COMMUNITY`.
    pub cloud: String,
    /// The pod's `cost` as RunPod reports it (USD per hour).
    pub cost_per_hr: f64,
    /// Seconds from Start until its server answered through the proxy.
    pub ready_after_s: f64,
    pub base_url: String,
    pub public_ip: String,
    pub ice_tcp_port: u16,
}

/// A step shown while provisioning or deleting.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub elapsed_s: f64,
    pub message: String,
}

/// The `cloud` section of a headless run's report.
#[derive(Debug, Clone, Serialize)]
pub struct CloudReport {
    pub provider: String,
    pub transport: Transport,
    pub pods: Vec<PodReport>,
    /// Seconds from Start until both servers answered.
    pub time_to_ready_s: f64,
    pub hourly_usd: f64,
    /// What the pods cost, counted from Start until they were deleted (an upper bound:
    /// each pod is counted from Start).
    pub cost_estimate_usd: f64,
    /// Seconds from Start until both pods were deleted.
    pub total_s: f64,
    pub deleted: bool,
    /// Why the pods were deleted: `stopped` or `idle`.
    pub stopped_by: String,
    pub steps: Vec<StepReport>,
}

/// Both pods, ready, and what is needed to delete them.
pub struct CloudServers {
    provider: RunpodRest,
    machine: Provisioner,
    endpoints: Vec<ServerEndpoint>,
    clock: Instant,
    steps: Vec<StepReport>,
    options: CloudRunOptions,
    provider_name: String,
}

fn step(progress: &Progress) -> StepReport {
    StepReport {
        elapsed_s: (progress.elapsed.as_secs_f64() * 10.0).round() / 10.0,
        message: progress.message.clone(),
    }
}

impl CloudServers {
    /// Delete what an earlier run left, then create both pods and wait until their servers
    /// answer. Each step goes to `on_step` as it happens. On failure or `stop`, whatever was
    /// created is deleted before this returns.
    pub async fn start(
        config: &Config,
        key: Secret,
        options: CloudRunOptions,
        on_step: impl FnMut(&Progress),
        stop: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<CloudServers> {
        let settings = CloudSettings::from_env(&config.cloud.runpod)?;
        let data_dir = studio_cloud::install::data_dir()?;
        CloudServers::start_with(config, key, settings, &data_dir, options, on_step, stop).await
    }

    /// [`Self::start`] with the API and proxy addresses and the app data folder given.
    pub async fn start_with(
        config: &Config,
        key: Secret,
        settings: CloudSettings,
        data_dir: &std::path::Path,
        options: CloudRunOptions,
        mut on_step: impl FnMut(&Progress),
        stop: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<CloudServers> {
        let runpod = &config.cloud.runpod;
        check_transport(options.transport, &settings)?;
        let install_id = studio_cloud::install::install_id(data_dir)?;
        let provider = RunpodRest::new(&settings.api_url, key)?;
        let mut plan = Plan::new(runpod, settings, &install_id);
        plan.ready_timeout = options.ready_timeout;
        let tokens = (Secret::random_token(), Secret::random_token());
        let (Ok(video_token), Ok(audio_token)) = tokens else {
            bail!("cannot make server tokens: the system's random source failed");
        };
        let mut machine = Provisioner::new(plan, video_token, audio_token);
        let clock = Instant::now();
        let mut steps = Vec::new();
        let result = studio_cloud::drive(
            &provider,
            &mut machine,
            clock,
            |CloudEvent::Progress(p)| {
                on_step(&p);
                steps.push(step(&p));
            },
            stop,
        )
        .await;
        match result {
            Ok(endpoints) => Ok(CloudServers {
                provider,
                machine,
                endpoints,
                clock,
                steps,
                options,
                provider_name: "runpod".into(),
            }),
            Err(Some(error)) => Err(error.into()),
            Err(None) => {
                bail!("stopped before the cloud servers were ready; nothing is left running")
            }
        }
    }

    pub fn endpoints(&self) -> &[ServerEndpoint] {
        &self.endpoints
    }

    /// The pods as servers for the media path.
    pub fn manager(&self) -> anyhow::Result<ServerManager> {
        let mut servers = Vec::new();
        for endpoint in &self.endpoints {
            let client = ServerClient::new(&endpoint.base_url, endpoint.token.expose())
                .context("making an HTTP client")?;
            servers.push(ServerInfo {
                role: endpoint.role,
                pid: 0,
                url: endpoint.base_url.clone(),
                client,
                generation: 1,
            });
        }
        Ok(ServerManager::remote(servers))
    }

    /// Resolves once neither server carried a session for the idle timeout.
    pub fn idle(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let timeout = self.options.idle_timeout;
        let clients: Vec<ServerClient> = self
            .endpoints
            .iter()
            .filter_map(|e| ServerClient::new(&e.base_url, e.token.expose()).ok())
            .collect();
        async move {
            let clock = Instant::now();
            let mut watch = IdleWatch::new(timeout, Duration::ZERO);
            // Often enough to be on time within a few percent, never hammering the proxy.
            let every = (timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
            loop {
                let mut busy = false;
                for client in &clients {
                    if let Ok(status) = client.status().await {
                        busy |= !status.sessions.is_empty();
                    }
                }
                let now = clock.elapsed();
                watch.observe(busy, now);
                if watch.expired(now) {
                    tracing::warn!(
                        "no session used the cloud servers for {:.0} s: deleting the pods",
                        timeout.as_secs_f64()
                    );
                    return;
                }
                tokio::time::sleep(every.min(watch.remaining(now).max(Duration::from_millis(10))))
                    .await;
            }
        }
    }

    /// Delete both pods and say what the run cost.
    pub async fn shutdown(
        mut self,
        reason: StopReason,
        mut on_step: impl FnMut(&Progress),
    ) -> (CloudReport, anyhow::Result<()>) {
        let hourly = self.machine.hourly_cost();
        let mut steps = std::mem::take(&mut self.steps);
        let result = studio_cloud::teardown(
            &self.provider,
            &mut self.machine,
            reason,
            self.clock,
            |CloudEvent::Progress(p)| {
                on_step(&p);
                steps.push(step(&p));
            },
        )
        .await;
        let total_s = self.clock.elapsed().as_secs_f64();
        let report = CloudReport {
            provider: self.provider_name,
            transport: self.options.transport,
            pods: self
                .endpoints
                .iter()
                .map(|e| PodReport {
                    role: e.role,
                    pod_id: e.pod_id.clone(),
                    gpu_type: e.gpu_type.clone(),
                    cloud: e.cloud.clone(),
                    cost_per_hr: e.cost_per_hr,
                    ready_after_s: (e.ready_after_s * 1000.0).round() / 1000.0,
                    base_url: e.base_url.clone(),
                    public_ip: e.public_ip.clone(),
                    ice_tcp_port: e.ice_tcp_port,
                })
                .collect(),
            time_to_ready_s: (self
                .endpoints
                .iter()
                .map(|e| e.ready_after_s)
                .fold(0.0, f64::max)
                * 1000.0)
                .round()
                / 1000.0,
            hourly_usd: hourly,
            cost_estimate_usd: (hourly * total_s / 3600.0 * 1e4).round() / 1e4,
            total_s: (total_s * 10.0).round() / 10.0,
            deleted: result.is_ok() && self.machine.live_pods().is_empty(),
            stopped_by: match reason {
                StopReason::Stopped => "stopped",
                StopReason::Idle => "idle",
            }
            .into(),
            steps,
        };
        (report, result.map_err(anyhow::Error::from))
    }
}

/// The raw transport only reaches servers on this computer; say so before anything starts.
fn check_transport(transport: Transport, settings: &CloudSettings) -> anyhow::Result<()> {
    match transport {
        Transport::Raw => {
            let probe = settings.proxy_url("pod", 8000);
            let host = probe
                .split("://")
                .nth(1)
                .and_then(|rest| rest.split(['/', ':']).next())
                .unwrap_or_default();
            if !matches!(host, "127.0.0.1" | "localhost") {
                bail!(
                    "the raw transport reaches only servers on this computer, and {probe} is not; RunPod pods need --transport webrtc"
                );
            }
            Ok(())
        }
        // ICE-TCP to the address each server advertises (RUNPOD_PUBLIC_IP and the symmetric
        // RUNPOD_TCP_PORT_70000 on a pod), signalling through the proxy.
        Transport::Webrtc => Ok(()),
    }
}

/// The media path on two pods: provisioning with `key`, the run until it ends, `cancel` is
/// cancelled or the pods sit idle, and the pods deleted in every case.
pub(crate) async fn run_on_pods(
    config: &Config,
    key: Secret,
    on_step: &(dyn Fn(&Progress) + Send + Sync),
    opened: crate::pipeline::Opened,
    spec: crate::spec::RunSpec,
    cancel: CancellationToken,
) -> anyhow::Result<(crate::report::Report, CloudReport)> {
    // The provisioning driver of studio-cloud watches a flag; it follows the token.
    let (stop_tx, mut stop) = watch::channel(false);
    let follow = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            cancel.cancelled().await;
            stop_tx.send_replace(true);
        })
    };
    let cloud_options = CloudRunOptions::from_config(config, spec.transport);
    let started = CloudServers::start(config, key, cloud_options, on_step, &mut stop).await;
    follow.abort();
    let servers = started?;
    // The run ends when the caller cancels it or when the pods sit idle.
    let run_cancel = cancel.child_token();
    let idled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let idle_watch = {
        let (idle, idled, run_cancel) = (servers.idle(), idled.clone(), run_cancel.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = idle => {
                    idled.store(true, std::sync::atomic::Ordering::Relaxed);
                    run_cancel.cancel();
                }
                _ = run_cancel.cancelled() => {}
            }
        })
    };
    let run = match servers.manager() {
        Ok(manager) => crate::pipeline::run_with(config, opened, manager, spec, run_cancel).await,
        Err(e) => Err(e),
    };
    idle_watch.abort();
    let reason = if idled.load(std::sync::atomic::Ordering::Relaxed) {
        StopReason::Idle
    } else {
        StopReason::Stopped
    };
    let (report, deleted) = servers.shutdown(reason, on_step).await;
    let run = run?;
    deleted?;
    Ok((run, report))
}

/// One line for the console: pods, time to ready, price and cost.
pub fn summary(report: &CloudReport) -> String {
    let pods: Vec<String> = report
        .pods
        .iter()
        .map(|p| format!("{} {} on {}", p.role, p.pod_id, p.gpu_type))
        .collect();
    format!(
        "cloud: {}; ready after {:.1} s; ${:.2}/h, about ${:.4} for this run; pods {}",
        pods.join(", "),
        report.time_to_ready_s,
        report.hourly_usd,
        report.cost_estimate_usd,
        if report.deleted {
            "deleted"
        } else {
            "NOT deleted"
        }
    )
}
