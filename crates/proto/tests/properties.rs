//! Config files and JSON bodies from outside: any text is a value or a clear error that names
//! where, never a panic.

use proptest::prelude::*;
use serde_json::{Value, json};
use studio_proto::api::{ErrorBody, RawSessionOffer, RawSessionRequest, ServerStatus};
use studio_proto::config::{Config, is_model_url};
use studio_proto::control::{Control, ControlAck};

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("video".to_string()),
                    Just("audio".to_string()),
                    Just("servers".to_string()),
                    Just("models".to_string()),
                    Just("voices".to_string()),
                    Just("face".to_string()),
                    Just("limits".to_string()),
                    Just("cloud".to_string()),
                    Just("urls".to_string()),
                    Just("max_sessions".to_string()),
                    "[a-z_]{1,10}",
                ],
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn any_config_text_loads_or_names_its_problems(text in "\\PC{0,300}") {
        if let Err(e) = Config::from_layers(Some(("user.json", &text))) {
            prop_assert!(!e.problems.is_empty());
        }
    }

    #[test]
    fn any_config_shaped_json_loads_or_names_its_problems(doc in json_value()) {
        let text = doc.to_string();
        match Config::from_layers(Some(("user.json", &text))) {
            Ok(config) => prop_assert!(config.limits.max_sessions >= 1),
            Err(e) => {
                prop_assert!(!e.problems.is_empty());
                for problem in &e.problems {
                    prop_assert!(!problem.reason.is_empty());
                }
            }
        }
    }

    #[test]
    fn json_bodies_parse_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..256), doc in json_value()) {
        let _ = serde_json::from_slice::<RawSessionRequest>(&bytes);
        let _ = serde_json::from_slice::<Control>(&bytes);
        let text = doc.to_string();
        let _ = serde_json::from_str::<RawSessionRequest>(&text);
        let _ = serde_json::from_str::<RawSessionOffer>(&text);
        let _ = serde_json::from_str::<Control>(&text);
        let _ = serde_json::from_str::<ControlAck>(&text);
        let _ = serde_json::from_str::<ServerStatus>(&text);
        let _ = serde_json::from_str::<ErrorBody>(&text);
    }

    #[test]
    fn model_urls_are_https_or_loopback(url in "(https?://)?[a-z0-9.:@\\[\\]/]{0,30}") {
        if is_model_url(&url) && !url.starts_with("https://") {
            let host = url.trim_start_matches("http://");
            prop_assert!(
                host.starts_with("127.0.0.1") || host.starts_with("[::1]") || host.starts_with("localhost"),
                "{url}"
            );
            prop_assert!(!host.split('/').next().unwrap_or("").contains('@'));
        }
    }
}

#[test]
fn plain_http_model_urls_are_only_for_this_machine() {
    assert!(is_model_url("https://huggingface.co/x.onnx"));
    assert!(is_model_url("http://127.0.0.1:8080/m.onnx"));
    assert!(is_model_url("http://[::1]:80/m.onnx"));
    assert!(is_model_url("http://localhost/m.onnx"));
    assert!(!is_model_url("http://example.com/m.onnx"));
    assert!(!is_model_url("http://127.0.0.1@evil.example/m.onnx"));
    assert!(!is_model_url("http://localhost.evil.example/m.onnx"));
    assert!(!is_model_url("ftp://127.0.0.1/m.onnx"));
    let err = Config::from_layers(Some((
        "user.json",
        r#"{"models": {"m": {"role": "video", "required": false, "file": "m.onnx",
            "urls": ["http://mirror.example/m.onnx"], "sha256": null, "bytes": null,
            "license": "MIT"}}}"#,
    )))
    .expect_err("plain http to another host is refused");
    assert!(
        err.problems.iter().any(|p| p.path == "models.m.urls[0]"),
        "{err}"
    );
}

#[test]
fn limits_have_defaults_and_are_checked() {
    let c = Config::defaults().expect("defaults load");
    let l = &c.limits;
    assert_eq!(l.max_sessions, 16);
    assert_eq!(l.session_idle_s, 60);
    assert_eq!(l.session_body_bytes, 65_536);
    assert_eq!(l.max_event_streams, 32);
    assert_eq!((l.ice_tcp_pending, l.ice_tcp_per_address), (64, 8));
    let err = Config::from_layers(Some(("user.json", r#"{"limits": {"max_sessions": 0}}"#)))
        .expect_err("zero sessions is no server");
    assert_eq!(err.problems[0].path, "limits.max_sessions");
    let c = Config::from_layers(Some(("user.json", r#"{"limits": {"max_sessions": 2}}"#)))
        .expect("valid");
    assert_eq!(c.limits.max_sessions, 2);
    assert_eq!(c.limits.session_idle_s, 60, "siblings keep their defaults");
}
