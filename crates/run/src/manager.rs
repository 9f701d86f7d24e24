//! The local server manager: starts the video and audio servers as child processes on free
//! loopback ports with fresh tokens, waits until they answer, restarts one that dies (with
//! back-off, and says so), and stops both when the app ends. A killed app leaves nothing
//! behind either: each server watches its stdin, which only this process holds open.

use anyhow::{Context, bail};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use studio_client::ServerClient;
use studio_proto::Role;
use studio_proto::api::Listening;
use studio_proto::config::RestartConfig;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often a remote server's health is checked.
const REMOTE_HEALTH_EVERY: Duration = Duration::from_secs(2);
/// A server that ran long enough is healthy again: its next failure starts the back-off anew.
const STABLE_AFTER: Duration = Duration::from_secs(30);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running, healthy server.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub role: Role,
    /// The local process; 0 for a server on another machine (a cloud pod).
    pub pid: u32,
    pub url: String,
    pub client: ServerClient,
    /// Counts the starts of this role's server, from 1; a restart gets a new one.
    pub generation: u64,
}

/// What the manager did, for the UI and logs.
#[derive(Debug, Clone)]
pub enum ManagerEvent {
    Starting {
        role: Role,
        generation: u64,
    },
    Ready {
        role: Role,
        pid: u32,
        url: String,
    },
    StartFailed {
        role: Role,
        error: String,
    },
    Exited {
        role: Role,
        pid: u32,
        status: String,
    },
    Restarting {
        role: Role,
        after: Duration,
    },
}

impl std::fmt::Display for ManagerEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ManagerEvent::Starting {
                role,
                generation: 1,
            } => write!(f, "starting the {role} server"),
            ManagerEvent::Starting { role, .. } => write!(f, "starting the {role} server again"),
            ManagerEvent::Ready { role, pid, url } => {
                write!(f, "the {role} server is ready at {url} (pid {pid})")
            }
            ManagerEvent::StartFailed { role, error } => {
                write!(f, "the {role} server did not start: {error}")
            }
            ManagerEvent::Exited { role, pid, status } => {
                write!(
                    f,
                    "the {role} server (pid {pid}) stopped unexpectedly: {status}"
                )
            }
            ManagerEvent::Restarting { role, after } => write!(
                f,
                "restarting the {role} server in {:.1} s",
                after.as_secs_f64()
            ),
        }
    }
}

/// One server process the manager started, for reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServerRecord {
    pub role: Role,
    pub pid: u32,
    pub url: String,
    /// Seconds since the manager started.
    pub started_s: f64,
    /// When it ended, if it did before the manager stopped it.
    pub exited_s: Option<f64>,
    pub exit_status: Option<String>,
}

/// What the manager needs to start servers.
#[derive(Debug, Clone)]
pub struct ManagerOptions {
    pub server_binary: PathBuf,
    /// The user's config file, passed on so servers see the same settings as the app.
    pub config_file: Option<PathBuf>,
    pub restart: RestartConfig,
    /// Diagnostic hold on each role's results (`studio run --inject-delay`); empty normally.
    pub inject_delay: std::collections::BTreeMap<Role, Duration>,
}

/// Find `studio-server`: `STUDIO_SERVER_BIN`, else beside this executable (or one folder up,
/// which is where Cargo puts binaries relative to test executables).
pub fn find_server_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("STUDIO_SERVER_BIN") {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        bail!(
            "STUDIO_SERVER_BIN names {}, which is not a file",
            path.display()
        );
    }
    let exe = std::env::current_exe().context("finding this program's own path")?;
    let name = format!("studio-server{}", std::env::consts::EXE_SUFFIX);
    let mut dir = exe.parent();
    for _ in 0..2 {
        let Some(d) = dir else { break };
        let candidate = d.join(&name);
        if candidate.is_file() {
            return Ok(candidate);
        }
        dir = d.parent();
    }
    bail!(
        "cannot find {name} next to {}; build both binaries with `cargo build --release --workspace`, or set STUDIO_SERVER_BIN",
        exe.display()
    )
}

/// Supervises both servers until [`ServerManager::stop`].
pub struct ServerManager {
    servers: Vec<(Role, watch::Receiver<Option<ServerInfo>>)>,
    events: broadcast::Sender<ManagerEvent>,
    /// Cancelled by [`Self::stop`], or when the manager is dropped.
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    history: Arc<Mutex<Vec<ServerRecord>>>,
}

impl ServerManager {
    /// Start supervising both roles. Returns at once; use [`Self::wait_ready`].
    pub fn start(options: ManagerOptions) -> ServerManager {
        let (events, _) = broadcast::channel(64);
        let shutdown = CancellationToken::new();
        let history = Arc::new(Mutex::new(Vec::new()));
        let started = Instant::now();
        let mut servers = Vec::new();
        let mut tasks = Vec::new();
        for role in Role::ALL {
            let (tx, rx) = watch::channel(None);
            servers.push((role, rx));
            let supervisor = Supervisor {
                role,
                options: options.clone(),
                info: tx,
                events: events.clone(),
                shutdown: shutdown.clone(),
                history: history.clone(),
                started,
            };
            tasks.push(tokio::spawn(supervisor.run()));
        }
        ServerManager {
            servers,
            events,
            shutdown,
            tasks,
            history,
        }
    }

    /// Servers someone else started and owns (cloud pods): published as given, and watched
    /// through their health so a server that stops answering is withdrawn and, once it answers
    /// again, offered anew (the session then reconnects).
    pub fn remote(servers: Vec<ServerInfo>) -> ServerManager {
        let (events, _) = broadcast::channel(64);
        let shutdown = CancellationToken::new();
        let mut published = Vec::new();
        let mut tasks = Vec::new();
        for info in servers {
            let (tx, rx) = watch::channel(Some(info.clone()));
            published.push((info.role, rx));
            let stop = shutdown.clone();
            let events = events.clone();
            tasks.push(tokio::spawn(async move {
                let mut info = info;
                let mut answering = true;
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(REMOTE_HEALTH_EVERY) => {}
                        _ = stop.cancelled() => return,
                    }
                    let ok = info.client.health().await.is_ok();
                    if ok != answering {
                        answering = ok;
                        if ok {
                            info.generation += 1;
                            let _ = events.send(ManagerEvent::Ready {
                                role: info.role,
                                pid: info.pid,
                                url: info.url.clone(),
                            });
                            tx.send_replace(Some(info.clone()));
                        } else {
                            let _ = events.send(ManagerEvent::StartFailed {
                                role: info.role,
                                error: format!("{} stopped answering", info.url),
                            });
                            tx.send_replace(None);
                        }
                    }
                }
            }));
        }
        ServerManager {
            servers: published,
            events,
            shutdown,
            tasks,
            history: Arc::default(),
        }
    }

    /// The current server of a role: `None` while it is (re)starting.
    pub fn server(&self, role: Role) -> watch::Receiver<Option<ServerInfo>> {
        self.servers
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, rx)| rx.clone())
            .unwrap_or_else(|| watch::channel(None).1)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ManagerEvent> {
        self.events.subscribe()
    }

    /// Wait until both servers answer, or fail with the last start error.
    pub async fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let mut events = self.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last_error = None;
        for (role, rx) in &self.servers {
            let mut rx = rx.clone();
            loop {
                if rx.borrow_and_update().is_some() {
                    break;
                }
                tokio::select! {
                    changed = rx.changed() => {
                        if changed.is_err() {
                            bail!("the {role} server's supervisor ended");
                        }
                    }
                    event = events.recv() => {
                        if let Ok(ManagerEvent::StartFailed { error, .. }) = event {
                            last_error = Some(error);
                        }
                    }
                    _ = tokio::time::sleep_until(deadline) => {
                        match &last_error {
                            Some(e) => bail!("the {role} server did not start in {timeout:?}: {e}"),
                            None => bail!("the {role} server did not start in {timeout:?}"),
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Every server process started so far.
    pub fn history(&self) -> Vec<ServerRecord> {
        lock(&self.history).clone()
    }

    /// Stop both servers and wait until they are gone.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for ServerManager {
    /// A manager dropped without [`ServerManager::stop`] (a run given up while its servers
    /// were starting) still stops them; nobody waits for them to be gone.
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

struct Supervisor {
    role: Role,
    options: ManagerOptions,
    info: watch::Sender<Option<ServerInfo>>,
    events: broadcast::Sender<ManagerEvent>,
    shutdown: CancellationToken,
    history: Arc<Mutex<Vec<ServerRecord>>>,
    started: Instant,
}

/// A started server: the child, and the stdin pipe whose closing tells it to exit.
struct RunningServer {
    child: Child,
    _stdin: ChildStdin,
    info: ServerInfo,
}

impl Supervisor {
    fn emit(&self, event: ManagerEvent) {
        match &event {
            ManagerEvent::Exited { .. } | ManagerEvent::StartFailed { .. } => {
                tracing::warn!("{event}")
            }
            _ => tracing::info!("{event}"),
        }
        let _ = self.events.send(event);
    }

    async fn run(self) {
        let role = self.role;
        let initial = Duration::from_millis(self.options.restart.initial_backoff_ms);
        let max = Duration::from_millis(self.options.restart.max_backoff_ms);
        let mut backoff = initial;
        let mut generation = 0;
        loop {
            if self.shutdown.is_cancelled() {
                return;
            }
            generation += 1;
            self.emit(ManagerEvent::Starting { role, generation });
            let started = Instant::now();
            let shutdown = self.shutdown.clone();
            let start = tokio::select! {
                start = self.start_server(generation) => start,
                _ = shutdown.cancelled() => return,
            };
            match start {
                Ok(mut running) => {
                    let pid = running.info.pid;
                    let record_index = {
                        let mut history = lock(&self.history);
                        history.push(ServerRecord {
                            role,
                            pid,
                            url: running.info.url.clone(),
                            started_s: self.started.elapsed().as_secs_f64(),
                            exited_s: None,
                            exit_status: None,
                        });
                        history.len() - 1
                    };
                    self.emit(ManagerEvent::Ready {
                        role,
                        pid,
                        url: running.info.url.clone(),
                    });
                    self.info.send_replace(Some(running.info.clone()));
                    let exit = tokio::select! {
                        status = running.child.wait() => status,
                        _ = self.shutdown.cancelled() => {
                            self.info.send_replace(None);
                            stop_child(running).await;
                            return;
                        }
                    };
                    self.info.send_replace(None);
                    let status = match exit {
                        Ok(status) => describe_exit(status),
                        Err(e) => format!("could not wait for it: {e}"),
                    };
                    if let Some(record) = lock(&self.history).get_mut(record_index) {
                        record.exited_s = Some(self.started.elapsed().as_secs_f64());
                        record.exit_status = Some(status.clone());
                    }
                    self.emit(ManagerEvent::Exited { role, pid, status });
                }
                Err(e) => self.emit(ManagerEvent::StartFailed {
                    role,
                    error: format!("{e:#}"),
                }),
            }
            if started.elapsed() > STABLE_AFTER {
                backoff = initial;
            }
            self.emit(ManagerEvent::Restarting {
                role,
                after: backoff,
            });
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = self.shutdown.cancelled() => return,
            }
            backoff = (backoff * 2).min(max);
        }
    }

    async fn start_server(&self, generation: u64) -> anyhow::Result<RunningServer> {
        let role = self.role;
        let token = studio_transport::raw::random_key().context("making a server token")?;
        let mut command = Command::new(&self.options.server_binary);
        command
            .arg("--role")
            .arg(role.as_str())
            .arg("--port")
            .arg("0")
            .arg("--watch-stdin")
            // The token travels in the environment: arguments are visible to every user.
            .env("STUDIO_TOKEN", &token)
            .env_remove("STUDIO_PORT")
            .env_remove("STUDIO_HOST")
            .env_remove("STUDIO_INJECT_DELAY_MS")
            // A local server has no business with the cloud account's key.
            .env_remove("RUNPOD_API_KEY")
            // A pod's identity would make a local server delete that pod when idle.
            .env_remove("RUNPOD_POD_ID")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(config) = &self.options.config_file {
            command.arg("--config").arg(config);
        }
        if let Some(delay) = self.options.inject_delay.get(&role) {
            command.env("STUDIO_INJECT_DELAY_MS", delay.as_millis().to_string());
        }
        // A group of its own: Ctrl-C in the terminal reaches only the app, which then stops
        // the servers in order instead of seeing them die and restarting them.
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot run {}", self.options.server_binary.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let stdin = child.stdin.take().context("no stdin pipe to the server")?;
        let stdout = child
            .stdout
            .take()
            .context("no stdout pipe from the server")?;
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(forward_logs(role, stderr));
        }

        let timeout = Duration::from_millis(self.options.restart.start_timeout_ms);
        let deadline = tokio::time::Instant::now() + timeout;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .with_context(|| format!("no address from the server within {timeout:?}"))?
            .context("reading the server's first line")?;
        let Some(first) = first else {
            let status = child.wait().await.map(describe_exit).unwrap_or_default();
            bail!("the server exited before printing its address ({status})");
        };
        let listening: Listening = serde_json::from_str(&first)
            .with_context(|| format!("the server's first line is not its address: {first:?}"))?;
        if listening.role != role {
            bail!("asked for a {role} server, got a {} server", listening.role);
        }
        // Nothing more is expected on stdout; keep draining it so the server never blocks.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let url = format!("http://{}", listening.listening);
        let client = ServerClient::new(&url, &token).context("making an HTTP client")?;
        loop {
            if client.health().await.is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                bail!(
                    "the server exited while starting ({})",
                    describe_exit(status)
                );
            }
            if tokio::time::Instant::now() > deadline {
                bail!("the server at {url} did not answer health within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(RunningServer {
            child,
            _stdin: stdin,
            info: ServerInfo {
                role,
                pid,
                url,
                client,
                generation,
            },
        })
    }
}

/// Close the server's stdin so it shuts down cleanly; kill it if it takes too long.
async fn stop_child(running: RunningServer) {
    let RunningServer {
        mut child, _stdin, ..
    } = running;
    drop(_stdin);
    if tokio::time::timeout(Duration::from_secs(3), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("killed by signal {signal}");
        }
    }
    match status.code() {
        Some(code) => format!("exit status {code}"),
        None => status.to_string(),
    }
}

/// Pass a server's log lines on to ours, marked with its role.
async fn forward_logs(role: Role, stderr: tokio::process::ChildStderr) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        // Routine server chatter stays out of the user's way; its problems do not.
        if line.contains(" WARN ") || line.contains(" ERROR ") {
            tracing::warn!(target: "studio::server", "[{role} server] {line}");
        } else {
            tracing::debug!(target: "studio::server", "[{role} server] {line}");
        }
    }
}
