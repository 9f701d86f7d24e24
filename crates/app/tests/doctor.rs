//! `studio doctor --json` and `studio devices --json` on this machine: whatever it has, every
//! check is there, and every problem comes with a fix.

mod common;

use common::studio;
use serde_json::Value;

#[test]
fn doctor_json_lists_every_check_with_a_fix_for_each_problem() {
    let output = studio().args(["doctor", "--json"]).output().unwrap();
    let checks: Value = serde_json::from_slice(&output.stdout).expect("a JSON list");
    let checks = checks.as_array().expect("a list");
    let ids: Vec<&str> = checks.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "gpu",
            "onnxruntime",
            "cameras",
            "microphones",
            "virtual_camera",
            "virtual_microphone",
            "model_hosts",
            "talk_key"
        ]
    );
    let mut problems = 0;
    for check in checks {
        match check["status"].as_str().unwrap() {
            "ok" => assert!(check.get("fix").is_none(), "{check}"),
            "problem" => {
                problems += 1;
                assert!(
                    check["fix"].as_str().is_some_and(|f| f.len() > 20),
                    "a problem without a usable fix: {check}"
                );
            }
            other => panic!("status {other}"),
        }
        assert!(!check["detail"].as_str().unwrap().is_empty());
    }
    // The exit status tells scripts whether anything needs fixing.
    assert_eq!(output.status.success(), problems == 0);
}

#[test]
fn doctor_reports_onnxruntime_named_by_ort_dylib_path() {
    let dir = tempfile::tempdir().unwrap();
    let library = dir.path().join("libonnxruntime.so.1.20.0");
    std::fs::write(&library, b"").unwrap();
    std::fs::write(dir.path().join("libonnxruntime_providers_cuda.so"), b"").unwrap();
    let output = studio()
        .env("ORT_DYLIB_PATH", &library)
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    let checks: Value = serde_json::from_slice(&output.stdout).unwrap();
    let ort = &checks[1];
    assert_eq!(ort["id"], "onnxruntime");
    assert_eq!(ort["status"], "ok", "{ort}");
    assert!(
        ort["detail"].as_str().unwrap().contains("CPU, CUDA"),
        "{ort}"
    );
}

#[test]
fn devices_json_is_a_list_of_specs() {
    let output = studio().args(["devices", "--json"]).output().unwrap();
    assert!(output.status.success());
    let devices: Value = serde_json::from_slice(&output.stdout).unwrap();
    for device in devices.as_array().unwrap() {
        let spec = device["spec"].as_str().unwrap();
        let kind = device["kind"].as_str().unwrap();
        let prefix = match kind {
            "camera" => "camera:",
            "microphone" => "mic:",
            "speaker" => "device:",
            "virtual-camera" => "v4l2:",
            "virtual-microphone" => "pulse",
            other => panic!("kind {other}"),
        };
        assert!(spec.starts_with(prefix), "{device}");
    }
}
