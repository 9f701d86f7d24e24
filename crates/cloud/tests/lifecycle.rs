//! The provisioning lifecycle on synthetic time: every decision the issue lists, without I/O.

use std::time::Duration;
use studio_cloud::api::{GpuPrice, GpuType, Pod, PodRuntime, PodRuntimePort, PodStatus};
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

fn offers() -> Vec<GpuType> {
    [
        ("NVIDIA GeForce RTX 4090", 0.69),
        ("NVIDIA RTX A5000", 0.27),
        ("NVIDIA L4", 0.43),
        ("NVIDIA RTX 4000 Ada Generation", 0.26),
    ]
    .into_iter()
    .map(|(id, price)| GpuType {
        id: id.into(),
        price: GpuPrice {
            secure: Some(price),
            community: Some(price / 2.0),
        },
    })
    .collect()
}

fn pod(id: &str, name: &str, status: PodStatus) -> Pod {
    Pod {
        id: id.into(),
        name: name.into(),
        status,
        gpu: None,
        cost: None,
        runtime: None,
    }
}

fn running(id: &str, ice_port: u32) -> Pod {
    Pod {
        runtime: Some(PodRuntime {
            ports: vec![
                PodRuntimePort {
                    private: Some(8000),
                    public: None,
                    kind: Some("http".into()),
                    ip: None,
                },
                PodRuntimePort {
                    private: Some(u64::from(ice_port)),
                    public: Some(u64::from(ice_port)),
                    kind: Some("tcp".into()),
                    ip: Some("203.0.113.9".into()),
                },
            ],
        }),
        ..pod(id, "x", PodStatus::Running)
    }
}

fn api_error(status: u16, message: &str) -> ApiError {
    ApiError::http(status, message)
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
        Action::Create { role, request } => (role, request.gpu.id.clone()),
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
        request.image,
        "ghcr.io/streaming-studio/studio-server:0.1.0"
    );
    assert_eq!(request.gpu.id, "NVIDIA GeForce RTX 4090");
    assert_eq!(
        (request.gpu.count, request.gpu.min_cuda_version.as_str()),
        (1, "12.4")
    );
    assert_eq!(request.cloud, "SECURE");
    assert_eq!(request.disk, 20);
    assert_eq!(request.ports, ["8000/http", "70000/tcp"]);
    assert_eq!(request.env["STUDIO_ROLE"], "video");
    assert_eq!(request.env["STUDIO_TOKEN"], "video-token");
    let volume = request.mounts.as_ref().map(|m| &m.persistent);
    assert_eq!(
        volume.map(|v| (v.size, v.path.as_str())),
        Some((20, "/workspace"))
    );
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
    assert_eq!(request.gpu.id, "NVIDIA GeForce RTX 4090");
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
            retry_after: Some(7 * S),
            ..api_error(429, "Too many requests")
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
    let dear: Vec<GpuType> = offers()
        .into_iter()
        .map(|o| GpuType {
            price: GpuPrice {
                secure: o.price.secure.map(|p| p * 4.0),
                ..o.price
            },
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
            cost: Some(1.20),
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
            retry_after: Some(60 * S),
            ..api_error(429, "slow down")
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

fn machine_with(change: impl FnOnce(&mut Plan)) -> Provisioner {
    let mut plan = plan();
    change(&mut plan);
    Provisioner::new(plan, Secret::new("video-token"), Secret::new("audio-token"))
}

#[test]
fn any_cloud_tries_secure_then_community_for_each_gpu_type() {
    let mut m = machine_with(|p| p.cloud_type = studio_proto::config::CloudType::Any);
    to_first_create(&mut m, Duration::ZERO);
    let request = |action: Action| match action {
        Action::Create { request, .. } => (request.gpu.id, request.cloud),
        other => panic!("expected a create, got {other:?}"),
    };
    assert_eq!(
        request(m.next(S)),
        ("NVIDIA GeForce RTX 4090".to_string(), "SECURE".to_string())
    );
    m.handle(Outcome::Created(Err(api_error(400, "no instances"))), S);
    assert_eq!(
        request(m.next(S)),
        (
            "NVIDIA GeForce RTX 4090".to_string(),
            "COMMUNITY".to_string()
        )
    );
    // The community price is what the pod costs when RunPod's answer has no `cost`.
    m.handle(
        Outcome::Created(Ok(pod("v1", "n", PodStatus::Provisioning))),
        S,
    );
    assert!((m.hourly_cost() - 0.345).abs() < 1e-9);
    let shown: Vec<String> = m.take_progress().into_iter().map(|p| p.message).collect();
    assert!(
        shown
            .iter()
            .any(|m| m.contains("NVIDIA GeForce RTX 4090 in SECURE: no capacity (no instances)")),
        "{shown:?}"
    );
}

#[test]
fn without_a_volume_the_create_has_no_mounts() {
    let mut m = machine_with(|p| p.volume_gb = 0);
    to_first_create(&mut m, Duration::ZERO);
    let Action::Create { request, .. } = m.next(S) else {
        panic!("expected a create")
    };
    assert_eq!(request.mounts, None);
}

#[test]
fn the_price_is_shown_before_any_pod_is_created() {
    let mut m = machine();
    to_first_create(&mut m, Duration::ZERO);
    let shown: Vec<String> = m.take_progress().into_iter().map(|p| p.message).collect();
    assert!(
        shown.iter().any(|m| m
            == "price: $1.38/h for both pods on NVIDIA GeForce RTX 4090 ($0.69/h each; cap $1.50/h)"),
        "{shown:?}"
    );
}

/// Until both pods run; returns the time reached.
fn to_start(m: &mut Provisioner) {
    to_first_create(m, Duration::ZERO);
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
}

#[test]
fn only_a_public_tcp_mapping_of_the_ice_port_makes_a_pod_reachable() {
    let mut m = machine();
    to_start(&mut m);
    // RunPod maps a requested port of 70000 and up symmetrically: private = public.
    let with_ip = |id: &str, ip: Option<&str>, public: Option<u64>| Pod {
        runtime: Some(PodRuntime {
            ports: vec![PodRuntimePort {
                private: Some(40123),
                public,
                kind: Some("tcp".into()),
                ip: ip.map(str::to_owned),
            }],
        }),
        ..pod(id, "x", PodStatus::Running)
    };
    let mut t = S;
    for (ip, public) in [
        (Some("10.1.2.3"), Some(40123)),
        (Some("172.20.0.1"), Some(40123)),
        (Some("192.168.1.9"), Some(40123)),
        (Some("100.100.0.1"), Some(40123)),
        (None, Some(40123)),
        (Some("203.0.113.9"), None),
    ] {
        assert!(matches!(m.next(t), Action::ListPods), "{ip:?} {public:?}");
        m.handle(
            Outcome::Pods(Ok(vec![
                with_ip("v1", ip, public),
                with_ip("a1", ip, public),
            ])),
            t,
        );
        t += 2 * S;
    }
    // No http entry at all: the tcp mapping and the health check are what count.
    assert!(matches!(m.next(t), Action::ListPods));
    m.handle(
        Outcome::Pods(Ok(vec![
            with_ip("v1", Some("203.0.113.9"), Some(40123)),
            with_ip("a1", Some("198.51.100.4"), Some(40123)),
        ])),
        t,
    );
    assert!(matches!(m.next(t), Action::CheckHealth { .. }));
}

#[test]
fn an_absurd_retry_after_waits_the_cap_and_never_overflows() {
    let mut m = machine();
    to_first_create(&mut m, Duration::ZERO);
    expect_create(m.next(S));
    let huge = studio_cloud::limits::retry_after("18446744073709551615");
    assert_eq!(huge, Some(60 * S));
    m.handle(
        Outcome::Created(Err(ApiError {
            retry_after: huge,
            ..api_error(429, "rate limit exceeded for the minute window")
        })),
        S,
    );
    assert!(matches!(m.next(S), Action::Sleep(d) if d == 60 * S));
    // Even a wait of Duration::MAX from the clock's far end does not overflow.
    let mut m = machine();
    to_first_create(&mut m, Duration::ZERO);
    expect_create(m.next(S));
    m.handle(
        Outcome::Created(Err(ApiError {
            retry_after: Some(Duration::MAX),
            ..api_error(429, "slow down")
        })),
        Duration::MAX / 2,
    );
    assert!(matches!(
        m.next(Duration::MAX / 2),
        Action::Sleep(_) | Action::Delete { .. } | Action::Finished(_)
    ));
}

#[test]
fn a_used_up_rate_limit_window_pauses_polling_until_it_resets() {
    let mut m = machine();
    to_start(&mut m);
    assert!(matches!(m.next(S), Action::ListPods));
    m.handle(
        Outcome::Pods(Ok(vec![
            pod("v1", "n", PodStatus::Provisioning),
            pod("a1", "n", PodStatus::Provisioning),
        ])),
        S,
    );
    m.pause_requests(12 * S, S);
    assert!(matches!(m.next(S), Action::Sleep(d) if d == 12 * S));
    assert!(matches!(m.next(12 * S), Action::Sleep(d) if d == S));
    assert!(matches!(m.next(13 * S), Action::ListPods));
}

#[test]
fn refusals_reach_the_user_with_their_detail_and_errors() {
    let mut m = machine();
    to_first_create(&mut m, Duration::ZERO);
    expect_create(m.next(S));
    let problem = studio_cloud::ApiError::from_answer(
        422,
        "Unprocessable Entity",
        None,
        br#"{"title":"Unprocessable Entity","status":422,"detail":"Request validation failed.","errors":["$.gpu: additional properties 'gpuTypeIds' not allowed"]}"#,
    );
    m.handle(Outcome::Created(Err(problem)), S);
    let Action::Finished(Err(error)) = m.next(S) else {
        panic!("expected a failure")
    };
    let text = error.to_string();
    assert!(text.contains("Request validation failed."), "{text}");
    assert!(
        text.contains("additional properties 'gpuTypeIds' not allowed"),
        "{text}"
    );
}
