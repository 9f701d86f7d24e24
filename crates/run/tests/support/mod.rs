//! What the run's end-to-end tests share: this build's `studio-server`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The `studio-server` binary of this build (beside the test's own folder). `cargo test
/// --workspace` builds it with the tests; `cargo test -p studio-run` on a fresh tree builds it
/// here.
pub fn server_binary() -> PathBuf {
    let name = format!("studio-server{}", std::env::consts::EXE_SUFFIX);
    // Tests run from `target/<profile>/deps/`; the binaries sit one folder up.
    let test = std::env::current_exe().expect("the test's own path");
    let profile_dir = test
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test runs from target/<profile>/deps");
    let server = profile_dir.join(name);
    if !server.is_file() {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "-p",
                "studio-server",
                "--bin",
                "studio-server",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build for studio-server");
        assert!(status.success(), "building studio-server failed");
    }
    assert!(server.is_file(), "{} is missing", server.display());
    server
}

/// A `studio-server` process, killed when dropped, and the address its first line announced.
pub struct ServerProcess {
    pub child: std::process::Child,
    pub url: String,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `studio-server ARGS` with `token` and no user configuration from the environment;
/// `setup` adds what the test needs (a config file, a cache, ...). Returns once the server
/// has said where it listens.
pub fn start_server(
    args: &[&str],
    token: &str,
    setup: impl FnOnce(&mut Command) -> &mut Command,
) -> ServerProcess {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut command = Command::new(server_binary());
    command
        .args(args)
        .env("STUDIO_TOKEN", token)
        .env_remove("STUDIO_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = setup(&mut command).spawn().expect("start studio-server");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("the server's stdout"))
        .read_line(&mut first)
        .expect("the server's first line");
    let listening: studio_proto::api::Listening =
        serde_json::from_str(&first).expect("the first line is JSON");
    ServerProcess {
        child,
        url: format!("http://{}", listening.listening),
    }
}

/// The stand-in face models (small networks with the real ones' inputs and outputs).
pub fn standin_models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../face/tests/models")
}

/// `models` entries for the three face models that `serve` puts on a file server (it takes a
/// file name and its bytes and returns the URL): the stand-ins, with their real checksums and
/// sizes.
pub fn standin_face_model_entries(
    serve: impl Fn(&str, Vec<u8>) -> String,
) -> serde_json::Map<String, serde_json::Value> {
    let files: Vec<(&str, PathBuf)> = studio_proto::config::FACE_MODEL_IDS
        .iter()
        .map(|id| (*id, standin_models().join(format!("{id}.onnx"))))
        .collect();
    standin_entries(
        "video",
        &files,
        "InsightFace pretrained model: non-commercial research use only",
        serve,
    )
}

/// The stand-in voice models (ContentVec, RMVPE and two synthesizers).
pub fn standin_voice_models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../voice/tests/models")
}

/// `models` entries for the shared voice models (ContentVec and RMVPE) that `serve` puts on
/// a file server: the stand-ins, with their real checksums and sizes.
pub fn standin_voice_model_entries(
    serve: impl Fn(&str, Vec<u8>) -> String,
) -> serde_json::Map<String, serde_json::Value> {
    let dir = standin_voice_models();
    let files = [
        (
            studio_proto::config::CONTENTVEC_MODEL_ID,
            dir.join("contentvec.onnx"),
        ),
        (studio_proto::config::RMVPE_MODEL_ID, dir.join("rmvpe.onnx")),
    ];
    standin_entries("audio", &files, "MIT", serve)
}

fn standin_entries(
    role: &str,
    files: &[(&str, PathBuf)],
    license: &str,
    serve: impl Fn(&str, Vec<u8>) -> String,
) -> serde_json::Map<String, serde_json::Value> {
    use sha2::Digest;
    let mut models = serde_json::Map::new();
    for (id, path) in files {
        let bytes = std::fs::read(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let sha: String = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let size = bytes.len();
        let url = serve(&name, bytes);
        models.insert(
            id.to_string(),
            serde_json::json!({
                "role": role, "required": false, "file": name, "urls": [url],
                "sha256": sha, "bytes": size, "license": license
            }),
        );
    }
    models
}
