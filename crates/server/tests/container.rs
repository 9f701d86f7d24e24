//! How the container configures the server: every flag from `STUDIO_<FLAG>`, and the image's
//! entrypoint script (`server/entrypoint.sh`), run here with a stand-in `studio-server` that
//! prints what it was given and with the real one.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use studio_proto::api::Listening;

const TOKEN: &str = "container-token-1234";

fn entrypoint() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../server/entrypoint.sh")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn role_token_host_and_port_come_from_the_environment() {
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_studio-server"));
    command
        .env_remove("STUDIO_CONFIG")
        .env("STUDIO_ROLE", "audio")
        .env("STUDIO_TOKEN", TOKEN)
        .env("STUDIO_HOST", "127.0.0.1")
        .env("STUDIO_PORT", port.to_string());
    let server = common::spawn(command);
    assert_eq!(server.listening.listening, format!("127.0.0.1:{port}"));
    assert_eq!(server.listening.role, studio_proto::Role::Audio);

    let http = reqwest::Client::new();
    let status = http
        .get(format!("{}/v1/status", server.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 200);
    let body: serde_json::Value = status.json().await.unwrap();
    assert_eq!(body["role"], "audio");
    let refused = http
        .get(format!("{}/v1/status", server.url))
        .bearer_auth("another-token")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
}

/// A `studio-server` stand-in on PATH that prints its environment and arguments.
fn stand_in(dir: &Path) {
    let script = dir.join("studio-server");
    std::fs::write(
        &script,
        "#!/bin/sh\nenv | grep -E '^(STUDIO_|ORT_)' | sort\necho \"ARGS=$*\"\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

fn run_entrypoint(path_dir: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let path = format!(
        "{}:{}",
        path_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new("sh");
    command
        .arg(entrypoint())
        .arg("--watch-stdin")
        .env_clear()
        .env("PATH", path);
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn lines(output: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_entrypoint_fills_in_the_pod_defaults_and_the_ice_tcp_mapping() {
    let dir = tempfile::tempdir().unwrap();
    stand_in(dir.path());
    let cache = dir.path().join("workspace/models");
    let cache_text = cache.display().to_string();
    let output = run_entrypoint(
        dir.path(),
        &[
            ("STUDIO_ROLE", "video"),
            ("STUDIO_TOKEN", TOKEN),
            ("STUDIO_CACHE_DIR", &cache_text),
            ("STUDIO_ICE_TCP_REQUESTED", "70000"),
            ("RUNPOD_TCP_PORT_70000", "40123"),
            ("RUNPOD_PUBLIC_IP", "203.0.113.7"),
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let seen = lines(&output);
    for expected in [
        "STUDIO_HOST=0.0.0.0",
        "STUDIO_PORT=8000",
        "STUDIO_ROLE=video",
        "STUDIO_ICE_TCP_PORT=40123",
        "STUDIO_PUBLIC_IP=203.0.113.7",
        &format!("STUDIO_CACHE_DIR={cache_text}"),
        "ARGS=--watch-stdin",
    ] {
        assert!(
            seen.iter().any(|l| l == expected),
            "{expected} not in {seen:?}"
        );
    }
    assert!(cache.is_dir(), "the model cache folder was made");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("video server on 0.0.0.0:8000"), "{stderr}");
    assert!(!stderr.contains(TOKEN), "the token was printed");
}

#[test]
fn the_entrypoint_refuses_to_start_without_role_or_token() {
    let dir = tempfile::tempdir().unwrap();
    stand_in(dir.path());
    let cache = dir.path().join("models").display().to_string();
    let cases: [(&[(&str, &str)], &str); 3] = [
        (&[("STUDIO_TOKEN", TOKEN)], "STUDIO_ROLE is not set"),
        (
            &[("STUDIO_ROLE", "faces"), ("STUDIO_TOKEN", TOKEN)],
            "STUDIO_ROLE must be video or audio, not 'faces'",
        ),
        (&[("STUDIO_ROLE", "audio")], "STUDIO_TOKEN is not set"),
    ];
    for (env, message) in cases {
        let mut env = env.to_vec();
        env.push(("STUDIO_CACHE_DIR", &cache));
        let output = run_entrypoint(dir.path(), &env);
        assert_eq!(output.status.code(), Some(64), "{env:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(message),
            "{message}: {output:?}"
        );
        assert!(output.stdout.is_empty(), "the server was started: {env:?}");
    }
}

#[test]
fn the_entrypoint_starts_the_real_server() {
    let dir = tempfile::tempdir().unwrap();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_studio-server"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = Command::new("sh")
        .arg(entrypoint())
        .arg("--watch-stdin")
        .env_remove("STUDIO_CONFIG")
        .env("PATH", path)
        .env("STUDIO_ROLE", "video")
        .env("STUDIO_TOKEN", TOKEN)
        .env("STUDIO_HOST", "127.0.0.1")
        .env("STUDIO_PORT", "0")
        .env("STUDIO_CACHE_DIR", dir.path().join("models"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let listening: Listening = serde_json::from_str(&first).unwrap();
    assert_eq!(listening.role, studio_proto::Role::Video);
    assert!(listening.listening.starts_with("127.0.0.1:"));
    // The entrypoint exec'd the server: closing stdin ends it.
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
}
