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
