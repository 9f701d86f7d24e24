//! Provisioning as a state machine without I/O: delete what an earlier run left, check prices
//! against the hourly cap, create the video and audio pods (walking the GPU types on capacity
//! errors), wait until both run with their ports and their servers answer through the proxy,
//! and delete everything on stop, failure or timeout. The driver asks [`Provisioner::next`]
//! what to do, does it, and hands the result to [`Provisioner::handle`]; time is whatever the
//! caller says it is, so tests run it on synthetic time.

use crate::api::{CreateGpu, CreatePod, GpuType, Mounts, PersistentMount, Pod, PodStatus};
use crate::provider::ApiError;
use crate::secret::Secret;
use crate::settings::CloudSettings;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use studio_proto::Role;
use studio_proto::config::{CloudType, RunpodConfig};

/// Where the pod volume is mounted; the server keeps its model cache there.
pub const VOLUME_MOUNT: &str = "/workspace";
/// A cold image pull took about 165 s; model downloads follow. Ten minutes is generous.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(600);
pub const DEFAULT_POLL_EVERY: Duration = Duration::from_secs(2);
/// When RunPod says 429 without a `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);
/// GPUs per pod.
pub const GPU_COUNT: u32 = 1;
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Attempts to delete one pod before telling the user to delete it by hand.
const DELETE_ATTEMPTS: u32 = 5;
/// Prices are compared with a little slack so a cap of exactly the price passes.
const PRICE_SLACK: f64 = 1e-9;

/// What to provision, from config and this install's id.
#[derive(Debug, Clone)]
pub struct Plan {
    pub image: String,
    /// In order of preference.
    pub gpu_types: Vec<String>,
    /// `any` tries SECURE, then COMMUNITY, for each GPU type.
    pub cloud_type: CloudType,
    /// `gpu.minCudaVersion`: the image's CUDA.
    pub min_cuda_version: String,
    /// For both pods together.
    pub max_hourly_usd: f64,
    pub http_port: u16,
    pub ice_tcp_port: u32,
    /// 0: no volume.
    pub volume_gb: u32,
    pub container_disk_gb: u32,
    /// `{pod_name_prefix}-{install id}`: this install's pods are named `{this}-{role}-…`.
    pub name_prefix: String,
    pub settings: CloudSettings,
    pub ready_timeout: Duration,
    pub poll_every: Duration,
}

impl Plan {
    pub fn new(config: &RunpodConfig, settings: CloudSettings, install_id: &str) -> Plan {
        Plan {
            image: config.server_image.clone(),
            gpu_types: config.gpu_types.clone(),
            cloud_type: config.cloud_type,
            min_cuda_version: config.min_cuda_version.clone(),
            max_hourly_usd: config.max_hourly_usd,
            http_port: config.http_port,
            ice_tcp_port: config.ice_tcp_port,
            volume_gb: config.volume_gb,
            container_disk_gb: config.container_disk_gb,
            name_prefix: format!("{}-{install_id}", config.pod_name_prefix),
            settings,
            ready_timeout: DEFAULT_READY_TIMEOUT,
            poll_every: DEFAULT_POLL_EVERY,
        }
    }

    /// Pods named by this install (what a crash may have left).
    pub fn owns(&self, pod_name: &str) -> bool {
        pod_name
            .strip_prefix(&self.name_prefix)
            .is_some_and(|rest| rest.starts_with('-'))
    }

    /// (GPU type, cloud) in the order they are tried: each GPU type in every allowed cloud.
    fn candidates(&self) -> Vec<Candidate> {
        self.gpu_types
            .iter()
            .flat_map(|gpu| {
                self.cloud_type.clouds().iter().map(|cloud| Candidate {
                    gpu: gpu.clone(),
                    cloud: (*cloud).to_string(),
                })
            })
            .collect()
    }

    /// How a candidate is named to the user: the cloud only when more than one is allowed.
    fn label(&self, candidate: &Candidate) -> String {
        if self.cloud_type.clouds().len() > 1 {
            format!("{} in {}", candidate.gpu, candidate.cloud)
        } else {
            candidate.gpu.clone()
        }
    }
}

/// One GPU type in one cloud: what a single create asks for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Candidate {
    gpu: String,
    cloud: String,
}

/// One role's server, ready: what a session needs to reach it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServerEndpoint {
    pub role: Role,
    pub pod_id: String,
    pub gpu_type: String,
    /// `SECURE` or `COMMUNITY`.
    pub cloud: String,
    /// The pod's `cost` (USD per hour) as RunPod reported it, else the catalog's price.
    pub cost_per_hr: f64,
    /// The server's HTTP API through RunPod's proxy: signalling, status, events.
    pub base_url: String,
    #[serde(skip)]
    pub token: Secret,
    /// Where WebRTC's ICE-TCP candidate points: the pod's public IP and the mapped port.
    pub public_ip: String,
    pub ice_tcp_port: u16,
    /// Seconds from the start of provisioning until the server answered health.
    pub ready_after_s: f64,
}

/// A step shown to the user, with the time since provisioning began.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub elapsed: Duration,
    pub message: String,
    /// A price this step makes known, for a window to show beside the steps.
    pub price: Option<Price>,
}

/// What the pods cost, as it becomes known.
#[derive(Debug, Clone, PartialEq)]
pub enum Price {
    /// Before anything is created: the catalog's `price.<cloud>` × GPU count for both pods
    /// on the first GPU type in the list.
    Quoted { hourly_usd: f64, gpu: String },
    /// Both pods run: the sum of their `cost` as RunPod reports it.
    Running { hourly_usd: f64 },
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{:6.1} s] {}", self.elapsed.as_secs_f64(), self.message)
    }
}

/// What the driver does next.
#[derive(Debug, Clone)]
pub enum Action {
    ListPods,
    ListPrices,
    Create {
        role: Role,
        request: CreatePod,
    },
    /// `GET /v1/health` through the proxy for each listed server.
    CheckHealth {
        checks: Vec<(Role, String)>,
    },
    Delete {
        pod_id: String,
    },
    /// Nothing to do for this long (or until stopped).
    Sleep(Duration),
    /// Both servers answer. Keep the machine: [`Provisioner::stop`] deletes the pods.
    Ready(Vec<ServerEndpoint>),
    /// Everything created is deleted (or reported as not deletable); `Ok` after a stop.
    Finished(Result<(), CloudError>),
}

/// The result of the last action.
#[derive(Debug, Clone)]
pub enum Outcome {
    Pods(Result<Vec<Pod>, ApiError>),
    Prices(Result<Vec<GpuType>, ApiError>),
    Created(Result<Pod, ApiError>),
    Health(Vec<(Role, bool)>),
    Deleted(Result<(), ApiError>),
}

/// Why cloud servers could not be had, in words for the user.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CloudError {
    #[error(
        "RunPod refused the API key ({0}). Check the key in the Cloud panel or RUNPOD_API_KEY."
    )]
    Unauthorized(String),
    #[error(
        "RunPod says the account balance is too low to start a pod ({0}). Add funds at runpod.io, then start again."
    )]
    Balance(String),
    #[error(
        "the cheapest GPU type in your list, {gpu} at ${per_pod:.2}/h, makes the two pods cost ${total:.2}/h, over your cap of ${cap:.2}/h. Raise the cap or choose cheaper GPU types; nothing was started."
    )]
    OverCap {
        gpu: String,
        per_pod: f64,
        total: f64,
        cap: f64,
    },
    #[error(
        "RunPod lists no price for any of your GPU types ({0}), so the hourly cap cannot be checked; nothing was started."
    )]
    NoPrices(String),
    #[error(
        "no GPU type in your list could take the {role} pod now ({tried}). Try again later or add GPU types."
    )]
    NoCapacity { role: Role, tried: String },
    #[error("RunPod rejected the request ({0}); this is a bug in the studio, please report it.")]
    Rejected(String),
    #[error("the {role} pod {pod_id} ended with status {status:?} before it was ready")]
    PodFailed {
        role: Role,
        pod_id: String,
        status: PodStatus,
    },
    #[error("the {role} pod {pod_id} disappeared from the account before it was ready")]
    PodVanished { role: Role, pod_id: String },
    #[error(
        "the cloud servers were not ready after {after_s:.0} s (still waiting for {waiting_for}); what was created is deleted."
    )]
    Timeout { after_s: f64, waiting_for: String },
    #[error(
        "could not delete pod(s) {pods}: delete them at https://www.runpod.io/console/pods (the studio also retries at its next start){}",
        cause.as_ref().map(|c| format!(". Before that: {c}")).unwrap_or_default()
    )]
    NotDeleted {
        pods: String,
        cause: Option<Box<CloudError>>,
    },
}

/// Why the pods are being deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The user pressed Stop, the run ended, or the app is exiting.
    Stopped,
    /// No session used the pods for the idle timeout.
    Idle,
}

#[derive(Debug, Clone)]
struct CreatedPod {
    role: Role,
    id: String,
    gpu_type: String,
    cloud: String,
    cost_per_hr: f64,
    status: PodStatus,
    /// Proxy URL, public IP and ICE-TCP port, once it runs with its ports.
    reach: Option<(String, String, u16)>,
    healthy_after: Option<Duration>,
    deleted: bool,
    delete_failures: u32,
}

#[derive(Debug, Clone)]
enum Phase {
    FindOrphans,
    DeleteOrphans(Vec<String>),
    Prices,
    Create {
        role_index: usize,
        candidate: Option<Candidate>,
    },
    Start,
    Ready,
    TearDown {
        failure: Option<CloudError>,
    },
    Done(Result<(), CloudError>),
}

const ROLES: [Role; 2] = [Role::Video, Role::Audio];

/// The provisioning lifecycle for one cloud run.
#[derive(Debug)]
pub struct Provisioner {
    plan: Plan,
    tokens: BTreeMap<Role, Secret>,
    started: Option<Duration>,
    phase: Phase,
    /// Hourly list price of one pod per candidate (`price.<cloud>` × GPU count).
    prices: BTreeMap<Candidate, f64>,
    /// Candidates that had no capacity or no access in this run.
    unavailable: BTreeSet<Candidate>,
    tried: Vec<String>,
    pods: Vec<CreatedPod>,
    wait_until: Option<Duration>,
    failures_in_a_row: u32,
    orphan_failures: u32,
    undeletable: Vec<String>,
    progress: Vec<Progress>,
    now: Duration,
}

impl Provisioner {
    /// `tokens`: a fresh random one per role; each pod's server requires its own.
    pub fn new(plan: Plan, video_token: Secret, audio_token: Secret) -> Provisioner {
        Provisioner {
            plan,
            tokens: [(Role::Video, video_token), (Role::Audio, audio_token)].into(),
            started: None,
            phase: Phase::FindOrphans,
            prices: BTreeMap::new(),
            unavailable: BTreeSet::new(),
            tried: Vec::new(),
            pods: Vec::new(),
            wait_until: None,
            failures_in_a_row: 0,
            orphan_failures: 0,
            undeletable: Vec::new(),
            progress: Vec::new(),
            now: Duration::ZERO,
        }
    }

    /// Steps to show since the last call.
    pub fn take_progress(&mut self) -> Vec<Progress> {
        std::mem::take(&mut self.progress)
    }

    /// Pod ids created and not yet deleted.
    pub fn live_pods(&self) -> Vec<String> {
        self.pods
            .iter()
            .filter(|p| !p.deleted)
            .map(|p| p.id.clone())
            .collect()
    }

    /// Hourly cost of the pods created so far.
    pub fn hourly_cost(&self) -> f64 {
        self.pods.iter().map(|p| p.cost_per_hr).sum()
    }

    fn elapsed(&self) -> Duration {
        self.now.saturating_sub(self.started.unwrap_or(self.now))
    }

    fn say(&mut self, message: impl Into<String>) {
        self.say_with(message, None);
    }

    fn say_with(&mut self, message: impl Into<String>, price: Option<Price>) {
        let message = message.into();
        tracing::info!(target: "studio::cloud", "{message}");
        self.progress.push(Progress {
            elapsed: self.elapsed(),
            message,
            price,
        });
    }

    fn set_time(&mut self, now: Duration) {
        self.started.get_or_insert(now);
        self.now = now.max(self.now);
    }

    /// Delete what exists and finish with `failure`.
    fn fail(&mut self, failure: CloudError) {
        self.say(format!("stopping: {failure}"));
        self.wait_until = None;
        self.failures_in_a_row = 0;
        self.phase = Phase::TearDown {
            failure: Some(failure),
        };
    }

    /// Delete both pods (Stop, exit, idle). Provisioning that is under way ends too.
    pub fn stop(&mut self, reason: StopReason, now: Duration) {
        self.set_time(now);
        if matches!(self.phase, Phase::TearDown { .. } | Phase::Done(_)) {
            return;
        }
        let why = match reason {
            StopReason::Stopped => "stopping",
            StopReason::Idle => "no session used the pods for the idle timeout",
        };
        if self.live_pods().is_empty() {
            self.say(format!("{why}: no pods to delete"));
        } else {
            self.say(format!("{why}: deleting the pods"));
        }
        self.wait_until = None;
        self.failures_in_a_row = 0;
        self.phase = Phase::TearDown { failure: None };
    }

    fn backoff(&mut self) -> Duration {
        let delay = Duration::from_secs(1u64 << self.failures_in_a_row.min(5)).min(MAX_BACKOFF);
        self.failures_in_a_row += 1;
        delay
    }

    /// A transient failure: wait as told (429) or back off (5xx, no answer).
    fn retry_later(&mut self, what: &str, error: &ApiError) {
        let delay = if error.status == Some(429) {
            let delay = error.retry_after.unwrap_or(DEFAULT_RETRY_AFTER);
            self.say(format!(
                "RunPod is rate limiting {what}; waiting {:.0} s as it asks",
                delay.as_secs_f64()
            ));
            delay
        } else {
            let delay = self.backoff();
            self.say(format!(
                "{what} failed ({error}); retrying in {:.0} s",
                delay.as_secs_f64()
            ));
            delay
        };
        self.wait_until = Some(self.now.saturating_add(delay));
    }

    /// The last answer's `RateLimit` said a window is used up: no request before `pause` is
    /// over (however the lifecycle would have gone on).
    pub fn pause_requests(&mut self, pause: Duration, now: Duration) {
        self.set_time(now);
        let until = self.now.saturating_add(pause);
        if self.wait_until.is_none_or(|w| w < until) {
            self.say(format!(
                "RunPod's rate limit has no request left; pausing {:.0} s until it resets",
                pause.as_secs_f64()
            ));
            self.wait_until = Some(until);
        }
    }

    /// What the driver should do now.
    pub fn next(&mut self, now: Duration) -> Action {
        self.set_time(now);
        let provisioning = matches!(
            self.phase,
            Phase::FindOrphans
                | Phase::DeleteOrphans(_)
                | Phase::Prices
                | Phase::Create { .. }
                | Phase::Start
        );
        if provisioning && self.elapsed() >= self.plan.ready_timeout {
            let waiting_for = self.waiting_for();
            self.fail(CloudError::Timeout {
                after_s: self.elapsed().as_secs_f64(),
                waiting_for,
            });
        }
        if let Some(until) = self.wait_until {
            if self.now < until {
                // A timeout or a stop must not wait out a long Retry-After.
                let cap = if provisioning {
                    self.plan.ready_timeout.saturating_sub(self.elapsed())
                } else {
                    Duration::MAX
                };
                return Action::Sleep((until - self.now).min(cap.max(Duration::from_millis(1))));
            }
            self.wait_until = None;
        }
        match &mut self.phase {
            Phase::FindOrphans => Action::ListPods,
            Phase::Start if self.pods.iter().all(|p| p.reach.is_some()) => {
                let checks = self
                    .pods
                    .iter()
                    .filter(|p| p.healthy_after.is_none())
                    .filter_map(|p| Some((p.role, p.reach.as_ref()?.0.clone())))
                    .collect();
                Action::CheckHealth { checks }
            }
            Phase::Start => Action::ListPods,
            Phase::DeleteOrphans(ids) => match ids.last() {
                Some(id) => Action::Delete { pod_id: id.clone() },
                None => {
                    self.phase = Phase::Prices;
                    self.say(format!(
                        "checking GPU prices against your cap of ${:.2}/h",
                        self.plan.max_hourly_usd
                    ));
                    Action::ListPrices
                }
            },
            Phase::Prices => Action::ListPrices,
            Phase::Create { role_index, .. } => {
                let index = *role_index;
                self.next_create(index)
            }
            Phase::Ready => Action::Ready(self.endpoints()),
            Phase::TearDown { .. } => self.next_delete(),
            Phase::Done(result) => Action::Finished(result.clone()),
        }
    }

    fn next_create(&mut self, role_index: usize) -> Action {
        let role = ROLES[role_index];
        let spent = self.hourly_cost();
        let still_to_create = (ROLES.len() - role_index - 1) as f64;
        let open: Vec<(Candidate, f64)> = self
            .plan
            .candidates()
            .into_iter()
            .filter(|c| !self.unavailable.contains(c))
            .filter_map(|c| {
                let price = *self.prices.get(&c)?;
                Some((c, price))
            })
            .collect();
        let cheapest_left = open
            .iter()
            .map(|(_, price)| *price)
            .fold(f64::INFINITY, f64::min);
        let budget = self.plan.max_hourly_usd - spent - still_to_create * cheapest_left;
        let choice = open
            .into_iter()
            .find(|(_, price)| *price <= budget + PRICE_SLACK);
        let Some((candidate, price)) = choice else {
            let mut tried = self.tried.join("; ");
            if tried.is_empty() {
                tried = "none within the hourly cap".into();
            }
            self.fail(CloudError::NoCapacity { role, tried });
            return self.next_delete();
        };
        self.say(format!(
            "creating the {role} pod on {} (${price:.2}/h)",
            self.plan.label(&candidate)
        ));
        let request = self.request(role, &candidate);
        self.phase = Phase::Create {
            role_index,
            candidate: Some(candidate),
        };
        Action::Create { role, request }
    }

    fn request(&self, role: Role, candidate: &Candidate) -> CreatePod {
        let token = self
            .tokens
            .get(&role)
            .map(|t| t.expose().to_string())
            .unwrap_or_default();
        let env = [
            ("STUDIO_ROLE".to_string(), role.as_str().to_string()),
            ("STUDIO_TOKEN".to_string(), token),
            ("STUDIO_PORT".to_string(), self.plan.http_port.to_string()),
            (
                // The port asked of RunPod; the entrypoint turns RunPod's mapping of it into
                // the server's STUDIO_ICE_TCP_PORT.
                "STUDIO_ICE_TCP_REQUESTED".to_string(),
                self.plan.ice_tcp_port.to_string(),
            ),
        ]
        .into();
        let mounts = (self.plan.volume_gb > 0).then(|| Mounts {
            persistent: PersistentMount {
                size: self.plan.volume_gb,
                path: VOLUME_MOUNT.to_string(),
            },
        });
        CreatePod {
            name: format!("{}-{role}", self.plan.name_prefix),
            image: self.plan.image.clone(),
            gpu: CreateGpu {
                id: candidate.gpu.clone(),
                count: GPU_COUNT,
                min_cuda_version: self.plan.min_cuda_version.clone(),
            },
            cloud: candidate.cloud.clone(),
            disk: self.plan.container_disk_gb,
            mounts,
            ports: vec![
                format!("{}/http", self.plan.http_port),
                format!("{}/tcp", self.plan.ice_tcp_port),
            ],
            env,
        }
    }

    fn next_delete(&mut self) -> Action {
        let pending = self
            .pods
            .iter()
            .find(|p| !p.deleted && p.delete_failures < DELETE_ATTEMPTS);
        if let Some(pod) = pending {
            return Action::Delete {
                pod_id: pod.id.clone(),
            };
        }
        let failure = match std::mem::replace(&mut self.phase, Phase::Done(Ok(()))) {
            Phase::TearDown { failure } => failure,
            _ => None,
        };
        let undeleted: Vec<String> = self
            .pods
            .iter()
            .filter(|p| !p.deleted)
            .map(|p| p.id.clone())
            .chain(self.undeletable.iter().cloned())
            .collect();
        let result = if !undeleted.is_empty() {
            Err(CloudError::NotDeleted {
                pods: undeleted.join(", "),
                cause: failure.map(Box::new),
            })
        } else {
            match failure {
                Some(failure) => Err(failure),
                None => Ok(()),
            }
        };
        self.phase = Phase::Done(result.clone());
        Action::Finished(result)
    }

    fn waiting_for(&self) -> String {
        match &self.phase {
            Phase::FindOrphans | Phase::DeleteOrphans(_) => {
                "RunPod to list this install's pods".into()
            }
            Phase::Prices => "RunPod's GPU prices".into(),
            Phase::Create { role_index, .. } => {
                format!("RunPod to create the {} pod", ROLES[*role_index])
            }
            Phase::Start => {
                let names = |f: &dyn Fn(&CreatedPod) -> bool| {
                    self.pods
                        .iter()
                        .filter(|p| f(p))
                        .map(|p| p.role.to_string())
                        .collect::<Vec<_>>()
                        .join(" and ")
                };
                let not_running = names(&|p| p.reach.is_none());
                if !not_running.is_empty() {
                    format!("the {not_running} pod to run with its ports")
                } else {
                    format!(
                        "the {} server to answer through the proxy",
                        names(&|p| p.healthy_after.is_none())
                    )
                }
            }
            _ => "nothing".into(),
        }
    }

    fn endpoints(&self) -> Vec<ServerEndpoint> {
        self.pods
            .iter()
            .filter_map(|p| {
                let (base_url, public_ip, ice_tcp_port) = p.reach.clone()?;
                Some(ServerEndpoint {
                    role: p.role,
                    pod_id: p.id.clone(),
                    gpu_type: p.gpu_type.clone(),
                    cloud: p.cloud.clone(),
                    cost_per_hr: p.cost_per_hr,
                    base_url,
                    token: self.tokens.get(&p.role)?.clone(),
                    public_ip,
                    ice_tcp_port,
                    ready_after_s: p.healthy_after?.as_secs_f64(),
                })
            })
            .collect()
    }

    /// The result of the action [`Self::next`] gave last.
    pub fn handle(&mut self, outcome: Outcome, now: Duration) {
        self.set_time(now);
        let phase = self.phase.clone();
        match (phase, outcome) {
            (Phase::FindOrphans, Outcome::Pods(result)) => self.on_orphan_list(result),
            (Phase::DeleteOrphans(mut ids), Outcome::Deleted(result)) => {
                let id = ids.last().cloned().unwrap_or_default();
                match result {
                    Ok(()) => {
                        self.failures_in_a_row = 0;
                        self.say(format!("deleted {id}, left by an earlier run"));
                        ids.pop();
                    }
                    Err(e) if e.status == Some(429) => self.retry_later("deleting old pods", &e),
                    Err(e) => {
                        self.orphan_failures += 1;
                        if self.orphan_failures >= DELETE_ATTEMPTS {
                            self.say(format!(
                                "could not delete {id} ({e}); delete it at https://www.runpod.io/console/pods"
                            ));
                            self.undeletable.push(id);
                            self.orphan_failures = 0;
                            ids.pop();
                        } else {
                            self.retry_later(&format!("deleting {id}"), &e);
                        }
                    }
                }
                self.phase = Phase::DeleteOrphans(ids);
            }
            (Phase::Prices, Outcome::Prices(result)) => self.on_prices(result),
            (
                Phase::Create {
                    role_index,
                    candidate: Some(candidate),
                },
                Outcome::Created(result),
            ) => self.on_created(role_index, candidate, result),
            (Phase::Start, Outcome::Pods(result)) => self.on_pods(result),
            (Phase::Start, Outcome::Health(results)) => self.on_health(results),
            (Phase::TearDown { .. }, Outcome::Deleted(result)) => self.on_deleted(result),
            (phase, outcome) => {
                tracing::warn!(target: "studio::cloud", "ignoring {outcome:?} in {phase:?}");
            }
        }
    }

    fn on_orphan_list(&mut self, result: Result<Vec<Pod>, ApiError>) {
        match result {
            Ok(pods) => {
                self.failures_in_a_row = 0;
                let orphans: Vec<String> = pods
                    .iter()
                    .filter(|p| self.plan.owns(&p.name))
                    .map(|p| p.id.clone())
                    .collect();
                if !orphans.is_empty() {
                    self.say(format!(
                        "deleting {} pod(s) an earlier run left behind: {}",
                        orphans.len(),
                        orphans.join(", ")
                    ));
                }
                // Deleted from the end: keep the order they were listed in.
                self.phase = Phase::DeleteOrphans(orphans.into_iter().rev().collect());
            }
            Err(e) if e.status == Some(401) || e.status == Some(403) => {
                self.fail(CloudError::Unauthorized(e.to_string()))
            }
            Err(e) => self.retry_later("listing pods", &e),
        }
    }

    fn on_prices(&mut self, result: Result<Vec<GpuType>, ApiError>) {
        let gpus = match result {
            Ok(gpus) => gpus,
            Err(e) if e.status == Some(401) || e.status == Some(403) => {
                return self.fail(CloudError::Unauthorized(e.to_string()));
            }
            Err(e)
                if e.status
                    .is_some_and(|s| (400..500).contains(&s) && s != 429) =>
            {
                return self.fail(CloudError::Rejected(e.to_string()));
            }
            Err(e) => return self.retry_later("reading GPU prices", &e),
        };
        self.failures_in_a_row = 0;
        for candidate in self.plan.candidates() {
            if let Some(price) = gpus
                .iter()
                .find(|g| g.id == candidate.gpu)
                .and_then(|g| g.price(&candidate.cloud, GPU_COUNT))
            {
                self.prices.insert(candidate, price);
            }
        }
        let cheapest = self
            .plan
            .candidates()
            .into_iter()
            .filter_map(|c| {
                let price = *self.prices.get(&c)?;
                Some((c, price))
            })
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let Some((candidate, per_pod)) = cheapest else {
            return self.fail(CloudError::NoPrices(self.plan.gpu_types.join(", ")));
        };
        let total = per_pod * ROLES.len() as f64;
        if total > self.plan.max_hourly_usd + PRICE_SLACK {
            return self.fail(CloudError::OverCap {
                gpu: self.plan.label(&candidate),
                per_pod,
                total,
                cap: self.plan.max_hourly_usd,
            });
        }
        let unpriced: Vec<String> = self
            .plan
            .candidates()
            .iter()
            .filter(|c| !self.prices.contains_key(*c))
            .map(|c| self.plan.label(c))
            .collect();
        if !unpriced.is_empty() {
            let line = format!(
                "skipping {} (RunPod lists no price for it)",
                unpriced.join(", ")
            );
            self.say(line);
        }
        if let Some((first, price)) = self
            .plan
            .candidates()
            .into_iter()
            .find_map(|c| Some((c.clone(), *self.prices.get(&c)?)))
        {
            let hourly_usd = price * ROLES.len() as f64;
            let gpu = self.plan.label(&first);
            self.say_with(
                format!(
                    "price: ${hourly_usd:.2}/h for both pods on {gpu} (${price:.2}/h each; cap ${:.2}/h)",
                    self.plan.max_hourly_usd
                ),
                Some(Price::Quoted { hourly_usd, gpu }),
            );
        }
        self.phase = Phase::Create {
            role_index: 0,
            candidate: None,
        };
    }

    fn on_created(
        &mut self,
        role_index: usize,
        candidate: Candidate,
        result: Result<Pod, ApiError>,
    ) {
        let role = ROLES[role_index];
        let label = self.plan.label(&candidate);
        match result {
            Ok(pod) => {
                self.failures_in_a_row = 0;
                let cost = pod
                    .cost
                    .filter(|c| c.is_finite() && *c > 0.0)
                    .or_else(|| self.prices.get(&candidate).copied())
                    .unwrap_or_default();
                self.say(format!("created the {role} pod {} on {label}", pod.id));
                self.pods.push(CreatedPod {
                    role,
                    id: pod.id,
                    gpu_type: candidate.gpu,
                    cloud: candidate.cloud,
                    cost_per_hr: cost,
                    status: pod.status,
                    reach: None,
                    healthy_after: None,
                    deleted: false,
                    delete_failures: 0,
                });
                if role_index + 1 < ROLES.len() {
                    self.phase = Phase::Create {
                        role_index: role_index + 1,
                        candidate: None,
                    };
                } else {
                    self.say("waiting for both pods to run");
                    self.phase = Phase::Start;
                }
            }
            Err(e) => match e.status {
                Some(400) | Some(403) => {
                    let why = if e.status == Some(403) {
                        "no access"
                    } else {
                        "no capacity"
                    };
                    self.say(format!(
                        "{label}: {why} ({}); trying the next GPU type",
                        e.message
                    ));
                    self.tried.push(format!("{label}: {}", e.message));
                    self.unavailable.insert(candidate);
                    self.failures_in_a_row = 0;
                    self.phase = Phase::Create {
                        role_index,
                        candidate: None,
                    };
                }
                Some(401) => self.fail(CloudError::Unauthorized(e.to_string())),
                Some(402) => self.fail(CloudError::Balance(e.message)),
                Some(429) => self.retry_later(&format!("creating the {role} pod"), &e),
                Some(s) if (400..500).contains(&s) => {
                    self.fail(CloudError::Rejected(e.to_string()))
                }
                // 5xx or no answer: transient, the same candidate again.
                _ => self.retry_later(&format!("creating the {role} pod"), &e),
            },
        }
    }

    fn on_pods(&mut self, result: Result<Vec<Pod>, ApiError>) {
        let listed = match result {
            Ok(pods) => pods,
            Err(e) if e.status == Some(401) => {
                return self.fail(CloudError::Unauthorized(e.to_string()));
            }
            Err(e) => return self.retry_later("checking the pods", &e),
        };
        self.failures_in_a_row = 0;
        let (http_port, ice_port) = (self.plan.http_port, self.plan.ice_tcp_port);
        let mut messages = Vec::new();
        let mut failure = None;
        for pod in &mut self.pods {
            let Some(seen) = listed.iter().find(|p| p.id == pod.id) else {
                failure = Some(CloudError::PodVanished {
                    role: pod.role,
                    pod_id: pod.id.clone(),
                });
                pod.deleted = true;
                break;
            };
            if seen.status.is_final() {
                failure = Some(CloudError::PodFailed {
                    role: pod.role,
                    pod_id: pod.id.clone(),
                    status: seen.status,
                });
                break;
            }
            if seen.status != pod.status {
                messages.push(format!("the {} pod is {:?}", pod.role, seen.status).to_lowercase());
                pod.status = seen.status;
            }
            if let Some(cost) = seen.cost.filter(|c| c.is_finite() && *c > 0.0) {
                pod.cost_per_hr = cost;
            }
            if pod.reach.is_none()
                && seen.status == PodStatus::Running
                && let Some((ip, port)) = ice_tcp_mapping(seen, ice_port, http_port)
            {
                let base_url = self.plan.settings.proxy_url(&pod.id, http_port);
                messages.push(format!(
                    "the {} pod runs (ICE-TCP at {ip}:{port}); waiting for its server through the proxy",
                    pod.role
                ));
                pod.reach = Some((base_url, ip, port));
            }
        }
        for message in messages {
            self.say(message);
        }
        if let Some(failure) = failure {
            return self.fail(failure);
        }
        if self.pods.iter().any(|p| p.reach.is_none()) {
            self.wait_until = Some(self.now.saturating_add(self.plan.poll_every));
        }
    }

    fn on_health(&mut self, results: Vec<(Role, bool)>) {
        let elapsed = self.elapsed();
        let mut messages = Vec::new();
        for (role, ok) in results {
            if let Some(pod) = self.pods.iter_mut().find(|p| p.role == role)
                && ok
                && pod.healthy_after.is_none()
            {
                pod.healthy_after = Some(elapsed);
                messages.push(format!(
                    "the {role} server answers ({}, ${:.2}/h)",
                    pod.gpu_type, pod.cost_per_hr
                ));
            }
        }
        for message in messages {
            self.say(message);
        }
        if self.pods.iter().all(|p| p.healthy_after.is_some()) {
            let hourly_usd = self.hourly_cost();
            self.say_with(
                format!("both servers ready; the pods cost ${hourly_usd:.2}/h together"),
                Some(Price::Running { hourly_usd }),
            );
            self.phase = Phase::Ready;
        } else {
            self.wait_until = Some(self.now.saturating_add(self.plan.poll_every));
        }
    }

    fn on_deleted(&mut self, result: Result<(), ApiError>) {
        let Some(index) = self
            .pods
            .iter()
            .position(|p| !p.deleted && p.delete_failures < DELETE_ATTEMPTS)
        else {
            return;
        };
        match result {
            Ok(()) => {
                self.failures_in_a_row = 0;
                let pod = &mut self.pods[index];
                pod.deleted = true;
                let line = format!("deleted the {} pod {}", pod.role, pod.id);
                self.say(line);
            }
            Err(e) => {
                self.pods[index].delete_failures += 1;
                let id = self.pods[index].id.clone();
                if self.pods[index].delete_failures >= DELETE_ATTEMPTS {
                    self.say(format!("giving up deleting {id} ({e})"));
                } else {
                    self.retry_later(&format!("deleting {id}"), &e);
                }
            }
        }
    }

    /// Where the machine stands, for the window's status line.
    pub fn is_ready(&self) -> bool {
        matches!(self.phase, Phase::Ready)
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Done(_))
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }
}

/// The public address of the pod's ICE-TCP port: a `tcp` entry for the requested port (or,
/// for a port of 70000 and up, RunPod's symmetric mapping), with a public port and an IP that
/// is neither private nor carrier-grade NAT. `None` until RunPod reports one.
pub fn ice_tcp_mapping(pod: &Pod, ice_port: u32, http_port: u16) -> Option<(String, u16)> {
    let ports = pod.runtime.as_ref()?.ports.as_slice();
    ports.iter().find_map(|p| {
        let private = p.private?;
        let public = p.public?;
        let wanted = private == u64::from(ice_port) || (ice_port >= 70000 && private == public);
        if p.kind.as_deref() != Some("tcp") || !wanted || private == u64::from(http_port) {
            return None;
        }
        let ip: std::net::Ipv4Addr = p.ip.as_deref()?.trim().parse().ok()?;
        let port = u16::try_from(public).ok().filter(|port| *port > 0)?;
        is_public(ip).then(|| (ip.to_string(), port))
    })
}

/// Not in 10/8, 172.16/12, 192.168/16 (RFC 1918) or 100.64/10 (carrier-grade NAT), and not
/// unspecified: an address a client elsewhere can reach.
pub fn is_public(ip: std::net::Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let cgnat = a == 100 && (64..128).contains(&b);
    !(ip.is_private() || cgnat || ip.is_unspecified() || ip.is_broadcast())
}
