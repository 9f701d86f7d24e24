//! The cloud servers against the fake RunPod API on loopback, whose pods are real
//! `studio-server` processes: the idle timeout.

mod support;

use std::time::Duration;
use studio_cloud::lifecycle::StopReason;
use studio_cloud::{CloudSettings, Secret};
use studio_cloud_fake::{FakeOptions, FakeRunpod};
use studio_run::cloud::{CloudRunOptions, CloudServers};
use studio_run::session_transport::Transport;

const KEY: &str = "rpa_test_key_for_the_fake";

async fn fake() -> FakeRunpod {
    FakeRunpod::start(FakeOptions {
        server_binary: support::server_binary(),
        api_key: KEY.into(),
        provisioning: Duration::from_millis(300),
        pod_env: Vec::new(),
    })
    .await
    .expect("start the fake RunPod API")
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_pods_are_deleted_and_pods_in_use_are_kept() {
    let fake = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let config = studio_proto::config::Config::defaults().unwrap();
    let settings = CloudSettings {
        api_url: fake.api_url(),
        proxy_url_template: fake.proxy_url_template(),
    };
    let options = CloudRunOptions {
        idle_timeout: Duration::from_millis(1500),
        ..CloudRunOptions::from_config(&config, Transport::Raw)
    };
    let (_stop_tx, mut stop) = tokio::sync::watch::channel(false);
    let servers = CloudServers::start_with(
        &config,
        Secret::new(KEY),
        settings,
        dir.path(),
        options,
        |_| {},
        &mut stop,
    )
    .await
    .unwrap();
    assert_eq!(fake.pods().len(), 2);

    // A session through the proxy keeps the pods in use past the timeout.
    let video = &servers.endpoints()[0];
    let client = studio_client::ServerClient::new(&video.base_url, video.token.expose()).unwrap();
    let (offer, session) = client.open_raw_session().await.unwrap();
    let idle = servers.idle();
    tokio::pin!(idle);
    assert!(
        tokio::time::timeout(Duration::from_secs(3), &mut idle)
            .await
            .is_err(),
        "pods in use were called idle"
    );
    session.sender.close();
    client.close_session(&offer.id).await.unwrap();
    drop(session);
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(10), &mut idle)
        .await
        .expect("the idle timeout never came");
    assert!(started.elapsed() >= Duration::from_millis(1000));

    let (report, deleted) = servers.shutdown(StopReason::Idle, |_| {}).await;
    deleted.unwrap();
    assert_eq!(report.stopped_by, "idle");
    assert!(report.deleted);
    assert!(fake.pods().is_empty());
}
