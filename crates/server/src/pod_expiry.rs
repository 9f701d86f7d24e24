//! A RunPod pod that deletes itself. Inside a pod RunPod sets `RUNPOD_POD_ID` and a key scoped
//! to that pod, `RUNPOD_API_KEY`; with both, the server deletes its own pod
//! (`DELETE {api}/pods/{id}`, the API at `RUNPOD_API_URL` or `cloud.runpod.api_url`) once
//! nobody used it for `cloud.runpod.idle_timeout_minutes` (no session and no request with
//! its token) and after `cloud.runpod.max_lifetime_hours` whatever happens. So a studio that
//! was killed, or a laptop that died, leaves nothing billing for long.
//!
//! [`Expiry`] is the decision without I/O, on whatever clock the caller gives; [`start`] is
//! the tokio driver that feeds it the registry's activity and sends the delete.

use crate::registry::Registry;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why the pod is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// Nobody used the server for the idle timeout.
    Idle(Duration),
    /// The pod reached its maximum lifetime.
    Lifetime(Duration),
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::Idle(t) => write!(
                f,
                "no session and no request for {:.0} s (the idle timeout)",
                t.as_secs_f64()
            ),
            Why::Lifetime(t) => write!(
                f,
                "the pod has run for {:.0} s (its maximum lifetime)",
                t.as_secs_f64()
            ),
        }
    }
}

/// The two deadlines, on a clock that starts at zero when the server does.
#[derive(Debug, Clone)]
pub struct Expiry {
    idle_timeout: Duration,
    max_lifetime: Duration,
    /// The last moment the server was seen in use (or its start).
    last_busy: Duration,
}

impl Expiry {
    pub fn new(idle_timeout: Duration, max_lifetime: Duration) -> Expiry {
        Expiry {
            idle_timeout,
            max_lifetime,
            last_busy: Duration::ZERO,
        }
    }

    /// What the server looked like at `now`: whether a session is open, and when the last
    /// request with its token came.
    pub fn observe(&mut self, sessions_open: bool, last_request: Option<Duration>, now: Duration) {
        if sessions_open {
            self.last_busy = self.last_busy.max(now);
        }
        if let Some(at) = last_request {
            self.last_busy = self.last_busy.max(at.min(now));
        }
    }

    /// Whether the pod should go now, and why. The lifetime wins over idleness.
    pub fn due(&self, now: Duration) -> Option<Why> {
        if now >= self.max_lifetime {
            return Some(Why::Lifetime(self.max_lifetime));
        }
        (now.saturating_sub(self.last_busy) >= self.idle_timeout)
            .then_some(Why::Idle(self.idle_timeout))
    }

    /// How long until a deadline passes if nothing is seen meanwhile.
    pub fn until_due(&self, now: Duration) -> Duration {
        let idle_at = self.last_busy.saturating_add(self.idle_timeout);
        idle_at.min(self.max_lifetime).saturating_sub(now)
    }
}

/// The pod this server runs in, and how to reach the API that can delete it.
#[derive(Clone)]
pub struct PodIdentity {
    pub pod_id: String,
    /// Pods live at `{api_url}/pods`.
    pub api_url: String,
    key: String,
}

impl std::fmt::Debug for PodIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodIdentity")
            .field("pod_id", &self.pod_id)
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

impl PodIdentity {
    /// `None` unless both `RUNPOD_POD_ID` and `RUNPOD_API_KEY` are set (not in a pod);
    /// `RUNPOD_API_URL` over `default_api_url`, as the studio's own client reads it.
    pub fn from_env(
        env: impl Fn(&str) -> Option<String>,
        default_api_url: &str,
    ) -> Option<Result<PodIdentity, String>> {
        let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let (pod_id, key) = (set("RUNPOD_POD_ID")?, set("RUNPOD_API_KEY")?);
        let api_url = set("RUNPOD_API_URL").unwrap_or_else(|| default_api_url.to_string());
        if !(api_url.starts_with("http://") || api_url.starts_with("https://")) {
            return Some(Err(format!(
                "RUNPOD_API_URL must start with http:// or https://, got {api_url:?}"
            )));
        }
        let pod_id = pod_id.trim().to_string();
        if !pod_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Some(Err(format!("RUNPOD_POD_ID {pod_id:?} is not a pod id")));
        }
        Some(Ok(PodIdentity {
            pod_id,
            api_url: api_url.trim().trim_end_matches('/').to_string(),
            key: key.trim().to_string(),
        }))
    }

    fn url(&self) -> String {
        format!("{}/pods/{}", self.api_url, self.pod_id)
    }
}

/// How often the driver looks at the registry at most: activity is read from it, so a
/// longer wait would only make the deadline late.
const LOOK_EVERY: Duration = Duration::from_secs(5);
const MAX_RETRY: Duration = Duration::from_secs(30);

/// Watch the registry and delete the pod when a deadline passes. Runs until the pod is gone
/// (RunPod then stops the container) or the server shuts down.
pub fn start(
    registry: Arc<Registry>,
    pod: PodIdentity,
    idle_timeout: Duration,
    max_lifetime: Duration,
) -> tokio::task::JoinHandle<()> {
    tracing::info!(
        pod = %pod.pod_id,
        "this pod deletes itself after {:.0} s unused or {:.0} s in all",
        idle_timeout.as_secs_f64(),
        max_lifetime.as_secs_f64()
    );
    tokio::spawn(async move {
        let origin = registry.started();
        let since = |t: Instant| t.saturating_duration_since(origin);
        let mut expiry = Expiry::new(idle_timeout, max_lifetime);
        let mut down = registry.shutdown_signal();
        let why = loop {
            let now = since(Instant::now());
            expiry.observe(
                registry.has_sessions(),
                registry.last_request().map(since),
                now,
            );
            if let Some(why) = expiry.due(now) {
                break why;
            }
            let wait = expiry
                .until_due(now)
                .clamp(Duration::from_millis(50), LOOK_EVERY);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = down.wait_for(|d| *d) => return,
            }
        };
        tracing::warn!(pod = %pod.pod_id, "deleting this pod: {why}");
        delete_until_gone(&pod, &mut down).await;
    })
}

/// `DELETE` until RunPod says the pod is gone (204, or 404 when it already was); transient
/// failures back off, up to [`MAX_RETRY`] apart, for as long as the server runs.
async fn delete_until_gone(pod: &PodIdentity, down: &mut tokio::sync::watch::Receiver<bool>) {
    let http = match reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()
    {
        Ok(http) => http,
        Err(e) => {
            tracing::error!("cannot make an HTTP client to delete this pod: {e}");
            return;
        }
    };
    let mut delay = Duration::from_secs(1);
    loop {
        match http.delete(pod.url()).bearer_auth(&pod.key).send().await {
            Ok(answer) if answer.status().is_success() || answer.status() == 404 => {
                tracing::warn!(pod = %pod.pod_id, "pod deleted");
                return;
            }
            Ok(answer) => {
                let status = answer.status();
                let retry_after = answer
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(|s| Duration::from_secs(s).min(MAX_RETRY));
                let detail = answer
                    .json::<serde_json::Value>()
                    .await
                    .ok()
                    .and_then(|v| v["detail"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                tracing::error!(pod = %pod.pod_id, "RunPod refused to delete this pod: HTTP {status} {detail}");
                if let Some(wait) = retry_after {
                    delay = wait;
                }
            }
            Err(e) => tracing::error!(pod = %pod.pod_id, "deleting this pod failed: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = down.wait_for(|d| *d) => return,
        }
        delay = (delay * 2).min(MAX_RETRY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn an_unused_pod_expires_after_the_idle_timeout() {
        let mut e = Expiry::new(60 * S, 3600 * S);
        e.observe(false, None, 59 * S);
        assert_eq!(e.due(59 * S), None);
        assert_eq!(e.until_due(59 * S), S);
        assert_eq!(e.due(60 * S), Some(Why::Idle(60 * S)));
    }

    #[test]
    fn sessions_and_requests_keep_it_and_the_lifetime_ends_it_anyway() {
        let mut e = Expiry::new(60 * S, 300 * S);
        e.observe(false, Some(50 * S), 100 * S);
        assert_eq!(e.due(100 * S), None);
        assert_eq!(e.due(110 * S), Some(Why::Idle(60 * S)));
        let mut e = Expiry::new(60 * S, 300 * S);
        for t in (0..300).step_by(10) {
            e.observe(true, None, t * S);
            assert_eq!(e.due(t * S), None, "{t}");
        }
        e.observe(true, Some(300 * S), 300 * S);
        assert_eq!(e.due(300 * S), Some(Why::Lifetime(300 * S)));
        assert_eq!(e.until_due(299 * S), S);
    }

    #[test]
    fn a_request_stamped_in_the_future_does_not_move_the_deadline_past_now() {
        let mut e = Expiry::new(60 * S, 3600 * S);
        e.observe(false, Some(500 * S), 10 * S);
        assert_eq!(e.due(70 * S), Some(Why::Idle(60 * S)));
    }

    #[test]
    fn only_a_pod_with_both_variables_deletes_itself() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let default = "https://api.runpod.io/v2";
        assert!(PodIdentity::from_env(env(&[]), default).is_none());
        assert!(PodIdentity::from_env(env(&[("RUNPOD_POD_ID", "abc")]), default).is_none());
        assert!(PodIdentity::from_env(env(&[("RUNPOD_API_KEY", "k")]), default).is_none());
        let pod = PodIdentity::from_env(
            env(&[
                ("RUNPOD_POD_ID", "abc123"),
                ("RUNPOD_API_KEY", "secret-key"),
            ]),
            default,
        )
        .unwrap()
        .unwrap();
        assert_eq!(pod.url(), "https://api.runpod.io/v2/pods/abc123");
        assert!(!format!("{pod:?}").contains("secret-key"));
        let elsewhere = PodIdentity::from_env(
            env(&[
                ("RUNPOD_POD_ID", "abc123"),
                ("RUNPOD_API_KEY", "k"),
                ("RUNPOD_API_URL", "http://127.0.0.1:9/v2/"),
            ]),
            default,
        )
        .unwrap()
        .unwrap();
        assert_eq!(elsewhere.url(), "http://127.0.0.1:9/v2/pods/abc123");
        let odd = PodIdentity::from_env(
            env(&[("RUNPOD_POD_ID", "../x"), ("RUNPOD_API_KEY", "k")]),
            default,
        );
        assert!(matches!(odd, Some(Err(_))));
    }
}
