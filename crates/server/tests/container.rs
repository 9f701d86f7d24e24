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

/// What `server/Dockerfile` says, read as text: no Docker engine runs in CI, so the facts an
/// image build depends on are checked here against the workspace.
struct Dockerfile {
    text: String,
}

impl Dockerfile {
    fn read() -> Dockerfile {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../server/Dockerfile");
        Dockerfile {
            text: std::fs::read_to_string(&path).unwrap(),
        }
    }

    /// Instructions with continuation lines joined, comments dropped.
    fn instructions(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut current = String::new();
        for line in self.text.lines() {
            let line = line.trim();
            if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
                continue;
            }
            match line.strip_suffix('\\') {
                Some(start) => current.push_str(start),
                None => {
                    current.push_str(line);
                    out.push(std::mem::take(&mut current));
                }
            }
        }
        out
    }

    /// `FROM image:tag [AS name]` → (image, tag, stage name).
    fn stages(&self) -> Vec<(String, String, Option<String>)> {
        self.instructions()
            .iter()
            .filter_map(|i| i.strip_prefix("FROM "))
            .map(|from| {
                let words: Vec<&str> = from.split_whitespace().collect();
                let (image, tag) = words[0].split_once(':').unwrap_or((words[0], ""));
                let name = (words.len() == 3 && words[1].eq_ignore_ascii_case("as"))
                    .then(|| words[2].to_string());
                (image.to_string(), tag.to_string(), name)
            })
            .collect()
    }

    /// The instructions of the stage named `name`.
    fn stage(&self, name: &str) -> Vec<String> {
        let mut inside = false;
        let mut out = Vec::new();
        for i in self.instructions() {
            if i.starts_with("FROM ") {
                inside = i.ends_with(&format!(" AS {name}"));
                continue;
            }
            if inside {
                out.push(i);
            }
        }
        out
    }

    /// Packages `apt-get install` names in a stage (version pins dropped).
    fn apt_packages(&self, stage: &str) -> Vec<String> {
        self.stage(stage)
            .iter()
            .filter_map(|i| i.split("apt-get install").nth(1))
            .flat_map(|rest| {
                rest.split("&&")
                    .next()
                    .unwrap_or_default()
                    .split_whitespace()
                    .filter(|w| !w.starts_with('-'))
                    .map(|w| w.split('=').next().unwrap_or_default().to_string())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn arg(&self, name: &str) -> String {
        let prefix = format!("ARG {name}=");
        self.instructions()
            .iter()
            .find_map(|i| i.strip_prefix(&prefix).map(str::to_owned))
            .unwrap_or_else(|| panic!("no {prefix} in the Dockerfile"))
    }
}

fn version_numbers(text: &str) -> Vec<u64> {
    text.split(['.', '-'])
        .map_while(|part| part.parse::<u64>().ok())
        .collect()
}

/// `cargo metadata` for the workspace, with the resolved features.
fn cargo_metadata() -> serde_json::Value {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn every_base_image_is_pinned_by_tag() {
    let stages = Dockerfile::read().stages();
    assert_eq!(stages.len(), 3, "{stages:?}");
    for (image, tag, _) in &stages {
        assert!(
            !tag.is_empty() && tag != "latest" && tag.chars().any(|c| c.is_ascii_digit()),
            "{image} is not pinned to a versioned tag: {tag:?}"
        );
    }
}

#[test]
fn the_build_stage_has_a_new_enough_rust_and_what_the_native_parts_need() {
    let dockerfile = Dockerfile::read();
    let stages = dockerfile.stages();
    let (image, tag, _) = stages
        .iter()
        .find(|(_, _, name)| name.as_deref() == Some("build"))
        .expect("a stage named build");
    assert_eq!(image, "rust");
    let metadata = cargo_metadata();
    let server = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "studio-server")
        .unwrap();
    let required = version_numbers(server["rust_version"].as_str().expect("a rust-version"));
    let image_rust = version_numbers(tag);
    assert!(
        image_rust >= required,
        "rust:{tag} is older than the workspace's rust-version {required:?}"
    );
    let packages = dockerfile.apt_packages("build");
    // cmake: the bundled libopus; nasm: openh264's SIMD; pkg-config; a C compiler.
    for needed in ["cmake", "nasm", "pkg-config"] {
        assert!(
            packages.iter().any(|p| p == needed),
            "{needed} missing from {packages:?}"
        );
    }
    assert!(
        packages
            .iter()
            .any(|p| ["gcc", "clang", "build-essential"].contains(&p.as_str())),
        "no C compiler in {packages:?}"
    );
    // No device libraries: the server links no camera, microphone, window or X11 code.
    for device in [
        "libasound2-dev",
        "libx11-dev",
        "libxtst-dev",
        "libxi-dev",
        "libpulse-dev",
    ] {
        assert!(
            !packages.iter().any(|p| p == device),
            "{device} in {packages:?}"
        );
    }
    let build = dockerfile.stage("build").join("\n");
    assert!(
        build.contains("cargo build --release --locked -p studio-server"),
        "{build}"
    );
}

#[test]
fn the_image_onnx_runtime_is_one_the_ort_features_in_use_accept() {
    let dockerfile = Dockerfile::read();
    let version = dockerfile.arg("ONNXRUNTIME_GPU_VERSION");
    let numbers = version_numbers(&version);
    assert_eq!(numbers.len(), 3, "{version}");
    let (major, minor) = (numbers[0], numbers[1]);
    // The library the server loads is that very version.
    assert!(
        dockerfile.text.contains(&format!(
            "ORT_DYLIB_PATH=/opt/onnxruntime/lib/libonnxruntime.so.{version}"
        )),
        "ORT_DYLIB_PATH does not name libonnxruntime.so.{version}"
    );

    let metadata = cargo_metadata();
    let ort = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "ort")
        .expect("ort in the dependency graph");
    let api = |feature: &str| feature.strip_prefix("api-")?.parse::<u64>().ok();
    let highest_known = ort["features"]
        .as_object()
        .unwrap()
        .keys()
        .filter_map(|f| api(f))
        .max()
        .unwrap();
    let node = metadata["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == ort["id"])
        .unwrap();
    let in_use = node["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| api(f.as_str()?))
        .max()
        .unwrap_or(17);
    // `ort` refuses a library older than its API level (1.<api>), and knows no API newer
    // than its highest `api-N` feature.
    assert_eq!(major, 1, "{version}");
    assert!(
        minor >= in_use,
        "ort {} with api-{in_use} needs ONNX Runtime 1.{in_use} or newer; the image has {version}",
        ort["version"]
    );
    assert!(
        minor <= highest_known,
        "ort {} knows ONNX Runtime up to 1.{highest_known}; the image has {version}",
        ort["version"]
    );
}

#[test]
fn pods_ask_for_the_cuda_the_image_is_built_on() {
    let dockerfile = Dockerfile::read();
    let stages = dockerfile.stages();
    let (image, tag, name) = stages.last().unwrap();
    assert_eq!(
        (image.as_str(), name),
        ("nvidia/cuda", &None),
        "the runtime stage"
    );
    let cuda = version_numbers(tag);
    let config = studio_proto::config::Config::defaults().unwrap();
    assert_eq!(
        config.cloud.runpod.min_cuda_version,
        format!("{}.{}", cuda[0], cuda[1]),
        "cloud.runpod.min_cuda_version must be the image's CUDA ({tag})"
    );
    // ONNX Runtime's GPU release archives since 1.19 are built for CUDA 12 and cuDNN 9.
    assert_eq!(cuda[0], 12, "{tag}");
    assert!(
        tag.contains("cudnn"),
        "{tag}: ONNX Runtime's CUDA provider needs cuDNN"
    );
}
