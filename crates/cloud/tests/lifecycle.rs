//! The provisioning lifecycle on synthetic time: every decision the issue lists, without I/O.

use std::time::Duration;
use studio_cloud::api::{GpuOffer, Pod, PodRuntime, PodStatus, PortMapping};
use studio_cloud::lifecycle::StopReason;
use studio_cloud::{
    Action, ApiError, CloudError, CloudSettings, Outcome, Plan, Provisioner, Secret,
};
use studio_proto::Role;

const S: Duration = Duration::from_secs(1);

fn plan() -> Plan {
    let config = studio_proto::config::Config::defaults()
        .unwrap()
        .cloud
        .runpod;
    let settings = CloudSettings {
        api_url: "https://api.runpod.io/v2".into(),
        proxy_url_template: "https://{pod_id}-{port}.proxy.runpod.net".into(),
    };
    Plan::new(&config, settings, "inst01")
}

fn machine() -> Provisioner {
    Provisioner::new(
        plan(),
        Secret::new("video-token"),
        Secret::new("audio-token"),
    )
}

fn offers() -> Vec<GpuOffer> {
    [
        ("NVIDIA GeForce RTX 4090", 0.69),
        ("NVIDIA RTX A5000", 0.27),
        ("NVIDIA L4", 0.43),
        ("NVIDIA RTX 4000 Ada Generation", 0.26),
    ]
    .into_iter()
    .map(|(id, price)| GpuOffer {
        id: id.into(),
        secure_price: Some(price),
        community_price: Some(price / 2.0),
    })
    .collect()
}

fn pod(id: &str, name: &str, status: PodStatus) -> Pod {
    Pod {
        id: id.into(),
        name: name.into(),
        status,
        gpu_type_id: None,
        cost_per_hr: None,
        runtime: None,
    }
}

fn running(id: &str, ice_port: u32) -> Pod {
    Pod {
        runtime: Some(PodRuntime {
            ports: vec![
                PortMapping {
                    private: 8000,
                    public: 8000,
                    kind: "http".into(),
                    ip: None,
                },
                PortMapping {
                    private: ice_port,
                    public: ice_port,
                    kind: "tcp".into(),
                    ip: Some("203.0.113.9".into()),
                },
            ],
        }),
        ..pod(id, "x", PodStatus::Running)
    }
}

fn api_error(status: u16, message: &str) -> ApiError {
    ApiError {
        status: Some(status),
        message: message.into(),
        retry_after: None,
    }
}

/// Through the orphan check (none) and the price check, to the first create.
fn to_first_create(m: &mut Provisioner, t: Duration) {
    assert!(matches!(m.next(t), Action::ListPods));
    m.handle(Outcome::Pods(Ok(vec![])), t);
    assert!(matches!(m.next(t), Action::ListPrices));
    m.handle(Outcome::Prices(Ok(offers())), t);
}

fn expect_create(action: Action) -> (Role, String) {
    match action {
        Action::Create { role, request } => (role, request.gpu_type_ids[0].clone()),
        other => panic!("expected a create, got {other:?}"),
    }
}

fn expect_delete(action: Action) -> String {
    match action {
        Action::Delete { pod_id } => pod_id,
        other => panic!("expected a delete, got {other:?}"),
    }
}

#[test]
fn both_pods_are_created_with_their_role_token_and_ports_then_wait_for_health() {
    let mut m = machine();
    to_first_create(&mut m, Duration::ZERO);
    let Action::Create { role, request } = m.next(Duration::ZERO) else {
        panic!("expected a create")
    };
    assert_eq!(role, Role::Video);
    assert_eq!(request.name, "streaming-studio-inst01-video");
    assert_eq!(
        request.image_name,
        "ghcr.io/streaming-studio/studio-server:latest"
    );
    assert_eq!(request.gpu_type_ids, ["NVIDIA GeForce RTX 4090"]);
    assert_eq!(request.ports, ["8000/http", "70000/tcp"]);
    assert_eq!(request.env["STUDIO_ROLE"], "video");
    assert_eq!(request.env["STUDIO_TOKEN"], "video-token");
    assert_eq!(request.volume_mount_path, "/workspace");
    assert!(!format!("{request:?}").contains("video-token"));
    m.handle(
        Outcome::Created(Ok(pod("v1", "n", PodStatus::Provisioning))),
        S,
    );

    let Action::Create { role, request } = m.next(S) else {
        panic!("expected the audio create")
    };
    assert_eq!(role, Role::Audio);
    assert_eq!(request.env["STUDIO_TOKEN"], "audio-token");
    // 0.69 for video leaves 0.81 of the 1.50 cap: the 4090 again fits.
    assert_eq!(request.gpu_type_ids, ["NVIDIA GeForce RTX 4090"]);
    m.handle(
        Outcome::Created(Ok(pod("a1", "n", PodStatus::Provisioning))),
        S,
    );

    // Provisioning: runtime null, so keep polling every 2 s.
    assert!(matches!(m.next(S), Action::ListPods));
    m.handle(
        Outcome::Pods(Ok(vec![
            pod("v1", "n", PodStatus::Provisioning),
            pod("a1", "n", PodStatus::Provisioning),
        ])),
        S,
    );
    assert!(matches!(m.next(S), Action::Sleep(d) if d == 2 * S));
    // RUNNING without ports yet is not enough.
    assert!(matches!(m.next(3 * S), Action::ListPods));
    m.handle(
        Outcome::Pods(Ok(vec![
            running("v1", 40001),
            pod("a1", "n", PodStatus::Running),
        ])),
        3 * S,
    );
    assert!(matches!(m.next(5 * S), Action::ListPods));
    m.handle(
        Outcome::Pods(Ok(vec![running("v1", 40001), running("a1", 40002)])),
        5 * S,
    );
    let Action::CheckHealth { checks } = m.next(5 * S) else {
        panic!("expected health checks")
    };
    assert_eq!(
        checks,
        [
            (Role::Video, "https://v1-8000.proxy.runpod.net".to_string()),
            (Role::Audio, "https://a1-8000.proxy.runpod.net".to_string()),
        ]
    );
    m.handle(
        Outcome::Health(vec![(Role::Video, true), (Role::Audio, false)]),
        6 * S,
    );
    let Action::CheckHealth { checks } = m.next(8 * S) else {
        panic!("expected the audio health check")
    };
    assert_eq!(checks.len(), 1);
    m.handle(Outcome::Health(vec![(Role::Audio, true)]), 9 * S);
    let Action::Ready(endpoints) = m.next(9 * S) else {
        panic!("expected ready")
    };
    assert_eq!(endpoints.len(), 2);
    assert_eq!(endpoints[0].public_ip, "203.0.113.9");
    assert_eq!(endpoints[0].ice_tcp_port, 40001);
    assert_eq!(endpoints[0].ready_after_s, 6.0);
    assert_eq!(endpoints[1].ready_after_s, 9.0);
    assert_eq!(endpoints[1].token.expose(), "audio-token");
    assert!((m.hourly_cost() - 1.38).abs() < 1e-9);

    let progress = m.take_progress();
    assert!(progress.windows(2).all(|w| w[0].elapsed <= w[1].elapsed));
    assert!(
        progress
            .iter()
            .any(|p| p.message.contains("the audio server answers"))
    );

    // Stop deletes both.
    m.stop(StopReason::Stopped, 100 * S);
    assert_eq!(expect_delete(m.next(100 * S)), "v1");
    m.handle(Outcome::Deleted(Ok(())), 100 * S);
    assert_eq!(expect_delete(m.next(100 * S)), "a1");
    m.handle(Outcome::Deleted(Ok(())), 101 * S);
    assert!(matches!(m.next(101 * S), Action::Finished(Ok(()))));
}

#[test]
fn a_capacity_error_moves_to_the_next_gpu_type_for_both_pods() {
    let mut m = machine();
    to_first_create(&mut m, Duration::ZERO);
    assert_eq!(expect_create(m.next(S)).1, "NVIDIA GeForce RTX 4090");
    m.handle(
        Outcome::Created(Err(api_error(
            400,
            "There are no longer any instances available with the requested specifications",
        ))),
        S,
    );
    assert_eq!(
        expect_create(m.next(S)),
        (Role::Video, "NVIDIA RTX A5000".to_string())
    );
    m.handle(
        Outcome::Created(Ok(pod("v1", "n", PodStatus::Provisioning))),
        S,
    );
    // The audio pod skips the type that had no capacity.
    assert_eq!(
        expect_create(m.next(S)),
        (Role::Audio, "NVIDIA RTX A5000".to_string())
    );
    let shown: Vec<String> = m.take_progress().into_iter().map(|p| p.message).collect();
    assert!(
        shown
            .iter()
            .any(|m| m.contains("NVIDIA GeForce RTX 4090: no capacity")),
        "{shown:?}"
    );
}

#[test]
fn running_out_of_gpu_types_stops_and_deletes_the_pod_already_made() {
    let mut m = machine();
    to_first_create(&mut m, Duration::ZERO);
    let no = || Outcome::Created(Err(api_error(400, "no instances")));
    expect_create(m.next(S));
    m.handle(
        Outcome::Created(Ok(pod("v1", "n", PodStatus::Provisioning))),
        S,
    );
    for _ in 0..4 {
        expect_create(m.next(S));
        m.handle(no(), S);
    }
    assert_eq!(expect_delete(m.next(S)), "v1");
    m.handle(Outcome::Deleted(Ok(())), S);
    match m.next(S) {
        Action::Finished(Err(CloudError::NoCapacity { role, tried })) => {
            assert_eq!(role, Role::Audio);
            assert!(tried.contains("NVIDIA L4: no instances"), "{tried}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn balance_too_low_stops_with_a_clear_message_and_deletes_what_was_made() {
    let mut m = machine();
    to_first_create(&mut m, Duration::ZERO);
    expect_create(m.next(S));
    m.handle(
        Outcome::Created(Ok(pod("v1", "n", PodStatus::Provisioning))),
        S,
    );
    expect_create(m.next(S));
    m.handle(
        Outcome::Created(Err(api_error(402, "Your balance is too low"))),
        S,
    );
    assert_eq!(expect_delete(m.next(S)), "v1");
    m.handle(Outcome::Deleted(Ok(())), S);
    let Action::Finished(Err(error)) = m.next(S) else {
        panic!("expected a failure")
    };
    assert!(matches!(error, CloudError::Balance(_)));
    assert!(error.to_string().contains("balance is too low"), "{error}");
    assert!(error.to_string().contains("Add funds"), "{error}");
    // Nothing is tried again.
    assert!(matches!(m.next(100 * S), Action::Finished(Err(_))));
}

#[test]
fn rate_limiting_waits_exactly_as_told_then_retries_the_same_gpu_type() {
    let mut m = machine();
    to_first_create(&mut m, Duration::ZERO);
    expect_create(m.next(S));
    m.handle(
        Outcome::Created(Err(ApiError {
            status: Some(429),
            message: "Too many requests".into(),
            retry_after: Some(7 * S),
        })),
        S,
    );
    assert!(matches!(m.next(S), Action::Sleep(d) if d == 7 * S));
    assert!(matches!(m.next(7 * S), Action::Sleep(d) if d == S));
    assert_eq!(
        expect_create(m.next(8 * S)),
        (Role::Video, "NVIDIA GeForce RTX 4090".to_string())
    );
}

#[test]
fn server_errors_back_off_and_retry_the_same_candidate() {
    let mut m = machine();
    to_first_create(&mut m, Duration::ZERO);
    expect_create(m.next(Duration::ZERO));
    m.handle(
        Outcome::Created(Err(api_error(503, "unavailable"))),
        Duration::ZERO,
    );
    assert!(matches!(m.next(Duration::ZERO), Action::Sleep(d) if d == S));
    expect_create(m.next(S));
    m.handle(Outcome::Created(Err(ApiError::network("reset"))), S);
    assert!(matches!(m.next(S), Action::Sleep(d) if d == 2 * S));
    assert_eq!(expect_create(m.next(3 * S)).1, "NVIDIA GeForce RTX 4090");
}

#[test]
fn a_malformed_request_is_never_retried() {
    let mut m = machine();
    to_first_create(&mut m, Duration::ZERO);
    expect_create(m.next(S));
    m.handle(Outcome::Created(Err(api_error(422, "bad body"))), S);
    assert!(matches!(
        m.next(S),
        Action::Finished(Err(CloudError::Rejected(_)))
    ));
}

#[test]
fn prices_over_the_cap_start_nothing() {
    let mut m = machine();
    assert!(matches!(m.next(Duration::ZERO), Action::ListPods));
    m.handle(Outcome::Pods(Ok(vec![])), Duration::ZERO);
    assert!(matches!(m.next(Duration::ZERO), Action::ListPrices));
    let dear: Vec<GpuOffer> = offers()
        .into_iter()
        .map(|o| GpuOffer {
            secure_price: o.secure_price.map(|p| p * 4.0),
            ..o
        })
        .collect();
    m.handle(Outcome::Prices(Ok(dear)), Duration::ZERO);
    match m.next(Duration::ZERO) {
        Action::Finished(Err(e @ CloudError::OverCap { .. })) => {
            let text = e.to_string();
            assert!(
                text.contains("NVIDIA RTX 4000 Ada Generation at $1.04/h"),
                "{text}"
            );
            assert!(text.contains("$2.08/h, over your cap of $1.50/h"), "{text}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_second_pod_must_fit_what_the_first_left_of_the_cap() {
    let mut m = machine();
    to_first_create(&mut m, Duration::ZERO);
    expect_create(m.next(S));
    // RunPod charged more than listed: 1.20 leaves 0.30, which only the A5000 and the
    // RTX 4000 Ada fit.
    m.handle(
        Outcome::Created(Ok(Pod {
            cost_per_hr: Some(1.20),
            ..pod("v1", "n", PodStatus::Provisioning)
        })),
        S,
    );
    assert_eq!(
        expect_create(m.next(S)),
        (Role::Audio, "NVIDIA RTX A5000".to_string())
    );
}

#[test]
fn a_timeout_names_what_it_waited_for_and_deletes_both_pods() {
    let mut m = machine();
    to_first_create(&mut m, Duration::ZERO);
    expect_create(m.next(S));
    m.handle(
        Outcome::Created(Ok(pod("v1", "n", PodStatus::Provisioning))),
        S,
    );
    expect_create(m.next(S));
    m.handle(
        Outcome::Created(Ok(pod("a1", "n", PodStatus::Provisioning))),
        S,
    );
    let mut t = S;
    loop {
        match m.next(t) {
            Action::ListPods => m.handle(
                Outcome::Pods(Ok(vec![running("v1", 40001), running("a1", 40002)])),
                t,
            ),
            Action::CheckHealth { checks } => m.handle(
                Outcome::Health(
                    checks
                        .into_iter()
                        .map(|(r, _)| (r, r == Role::Video))
                        .collect(),
                ),
                t,
            ),
            Action::Sleep(d) => t += d,
            Action::Delete { .. } => break,
            other => panic!("{other:?}"),
        }
        assert!(t <= Duration::from_secs(601), "no timeout by {t:?}");
    }
    assert_eq!(t, Duration::from_secs(600));
    m.handle(Outcome::Deleted(Ok(())), t);
    expect_delete(m.next(t));
    m.handle(Outcome::Deleted(Ok(())), t);
    let Action::Finished(Err(error)) = m.next(t) else {
        panic!("expected the timeout")
    };
    let text = error.to_string();
    assert!(text.contains("not ready after 600 s"), "{text}");
    assert!(text.contains("the audio server to answer"), "{text}");
    assert!(m.live_pods().is_empty());
}

#[test]
fn pods_left_by_this_install_are_deleted_first_and_others_are_left_alone() {
    let mut m = machine();
    assert!(matches!(m.next(Duration::ZERO), Action::ListPods));
    m.handle(
        Outcome::Pods(Ok(vec![
            pod("old1", "streaming-studio-inst01-video", PodStatus::Running),
            pod(
                "mine-not",
                "streaming-studio-inst012-video",
                PodStatus::Running,
            ),
            pod("other", "streaming-studio-zzzz99-audio", PodStatus::Running),
            pod("old2", "streaming-studio-inst01-audio", PodStatus::Exited),
        ])),
        Duration::ZERO,
    );
    assert_eq!(expect_delete(m.next(S)), "old1");
    m.handle(Outcome::Deleted(Ok(())), S);
    assert_eq!(expect_delete(m.next(S)), "old2");
    m.handle(Outcome::Deleted(Ok(())), S);
    assert!(matches!(m.next(S), Action::ListPrices));
}

#[test]
fn stop_while_waiting_deletes_what_was_created() {
    let mut m = machine();
    to_first_create(&mut m, Duration::ZERO);
    expect_create(m.next(S));
    m.handle(
        Outcome::Created(Ok(pod("v1", "n", PodStatus::Provisioning))),
        S,
    );
    expect_create(m.next(S));
    m.handle(
        Outcome::Created(Err(ApiError {
            status: Some(429),
            message: "slow down".into(),
            retry_after: Some(60 * S),
        })),
        S,
    );
    assert!(matches!(m.next(2 * S), Action::Sleep(_)));
    m.stop(StopReason::Stopped, 3 * S);
    assert_eq!(expect_delete(m.next(3 * S)), "v1");
    m.handle(Outcome::Deleted(Ok(())), 3 * S);
    assert!(matches!(m.next(3 * S), Action::Finished(Ok(()))));
}

#[test]
fn a_pod_that_cannot_be_deleted_is_named_for_the_user() {
    let mut m = machine();
    to_first_create(&mut m, Duration::ZERO);
    expect_create(m.next(S));
    m.handle(
        Outcome::Created(Ok(pod("v1", "n", PodStatus::Provisioning))),
        S,
    );
    m.stop(StopReason::Idle, S);
    let mut t = S;
    loop {
        match m.next(t) {
            Action::Delete { .. } => m.handle(Outcome::Deleted(Err(api_error(500, "oops"))), t),
            Action::Sleep(d) => t += d,
            Action::Finished(Err(e)) => {
                assert!(e.to_string().contains("could not delete pod(s) v1"), "{e}");
                break;
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_refused_key_stops_before_anything_is_created() {
    let mut m = machine();
    assert!(matches!(m.next(Duration::ZERO), Action::ListPods));
    m.handle(
        Outcome::Pods(Err(api_error(401, "unauthorized"))),
        Duration::ZERO,
    );
    assert!(matches!(
        m.next(Duration::ZERO),
        Action::Finished(Err(CloudError::Unauthorized(_)))
    ));
}
