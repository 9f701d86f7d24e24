//! The thin async driver: carries out the lifecycle's actions against a provider, on the
//! tokio clock, and reports each step as it happens.

use crate::lifecycle::{
    Action, CloudError, Outcome, Progress, Provisioner, ServerEndpoint, StopReason,
};
use crate::provider::CloudProvider;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// What the driver tells its caller.
#[derive(Debug, Clone)]
pub enum CloudEvent {
    Progress(Progress),
}

/// Run the lifecycle until both servers are ready (`Ok`) or it ended (`Err`, with everything
/// it created deleted): `Err(Some(why))` on a failure, `Err(None)` when `stop` was set.
pub async fn drive<P: CloudProvider>(
    provider: &P,
    machine: &mut Provisioner,
    clock: Instant,
    mut on_event: impl FnMut(CloudEvent),
    stop: &mut watch::Receiver<bool>,
) -> Result<Vec<ServerEndpoint>, Option<CloudError>> {
    loop {
        let now = clock.elapsed();
        if *stop.borrow() {
            machine.stop(StopReason::Stopped, now);
        }
        let action = machine.next(now);
        for progress in machine.take_progress() {
            on_event(CloudEvent::Progress(progress));
        }
        match action {
            Action::Ready(endpoints) => return Ok(endpoints),
            Action::Finished(result) => return Err(result.err()),
            Action::Sleep(delay) => {
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.wait_for(|s| *s) => {}
                }
            }
            // Requests run to the end even when a stop comes: a pod whose creation is not
            // waited for could be left running.
            action => {
                let outcome = perform(provider, action).await;
                machine.handle(outcome, clock.elapsed());
                if let Some(pause) = provider.take_quota_pause() {
                    machine.pause_requests(pause, clock.elapsed());
                }
            }
        }
    }
}

/// Delete the pods of a ready (or failed) lifecycle; `Ok` once nothing is left.
pub async fn teardown<P: CloudProvider>(
    provider: &P,
    machine: &mut Provisioner,
    reason: StopReason,
    clock: Instant,
    mut on_event: impl FnMut(CloudEvent),
) -> Result<(), CloudError> {
    machine.stop(reason, clock.elapsed());
    loop {
        let action = machine.next(clock.elapsed());
        for progress in machine.take_progress() {
            on_event(CloudEvent::Progress(progress));
        }
        match action {
            Action::Finished(result) => return result,
            Action::Sleep(delay) => tokio::time::sleep(delay.min(Duration::from_secs(60))).await,
            Action::Ready(_) => return Ok(()),
            action => {
                let outcome = perform(provider, action).await;
                machine.handle(outcome, clock.elapsed());
                if let Some(pause) = provider.take_quota_pause() {
                    machine.pause_requests(pause, clock.elapsed());
                }
            }
        }
    }
}

async fn perform<P: CloudProvider>(provider: &P, action: Action) -> Outcome {
    match action {
        Action::ListPods => Outcome::Pods(provider.list_pods().await),
        Action::ListPrices => Outcome::Prices(provider.gpu_types().await),
        Action::Create { request, .. } => Outcome::Created(provider.create_pod(&request).await),
        Action::Delete { pod_id } => Outcome::Deleted(provider.delete_pod(&pod_id).await),
        Action::CheckHealth { checks } => {
            let mut results = Vec::with_capacity(checks.len());
            for (role, url) in checks {
                results.push((role, provider.server_healthy(&url).await));
            }
            Outcome::Health(results)
        }
        // Not requests: the loops above handle them and never get here. An empty health
        // answer changes nothing in the machine.
        Action::Sleep(_) | Action::Ready(_) | Action::Finished(_) => Outcome::Health(Vec::new()),
    }
}
