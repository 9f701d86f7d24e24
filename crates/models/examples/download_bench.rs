//! Download throughput of the model manager on loopback against a bare streaming GET into a
//! file (the least any downloader does), in the same run. The manager also hashes the file
//! before use and renames it into place; a third run cuts the connection halfway and resumes.
//!
//! `cargo run -p studio-models --example download_bench [MiB]`

#[path = "../tests/support/file_server.rs"]
mod file_server;

use file_server::{Fault, FileServer};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use studio_models::{ManagerOptions, ModelManager, StatusSink};
use studio_proto::Role;
use studio_proto::api::ModelStatus;
use studio_proto::config::{ModelEntry, ModelKind, ModelRole};
use tokio::io::AsyncWriteExt;

struct Quiet;

impl StatusSink for Quiet {
    fn model_status(&self, _: ModelStatus) {}
}

const RUNS: usize = 5;

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

#[tokio::main]
async fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(64);
    let len = mib * 1024 * 1024;
    let body: Vec<u8> = (0..len)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let sha = studio_models::cache::hex(&Sha256::digest(&body));
    let server = FileServer::start().await;
    server.serve("m.onnx", body);
    let dir = tempfile::tempdir().expect("tempdir");
    let client = reqwest::Client::new();

    let mut bare = Vec::new();
    let mut managed = Vec::new();
    let mut resumed = Vec::new();
    for run in 0..RUNS {
        // Baseline: stream the body into a file.
        let path = dir.path().join(format!("bare-{run}"));
        let started = Instant::now();
        let mut file = tokio::fs::File::create(&path).await.expect("create");
        let mut stream = client
            .get(server.url("m.onnx"))
            .send()
            .await
            .expect("get")
            .bytes_stream();
        while let Some(chunk) = stream.next().await {
            file.write_all(&chunk.expect("chunk")).await.expect("write");
        }
        file.flush().await.expect("flush");
        bare.push(started.elapsed());

        for (cut, times) in [(false, &mut managed), (true, &mut resumed)] {
            if cut {
                server.fail_next("m.onnx", Fault::CutAfter(len as u64 / 2));
            }
            let cache = dir.path().join(format!("cache-{run}-{cut}"));
            let entry = ModelEntry {
                role: ModelRole::Only(Role::Video),
                required: true,
                kind: ModelKind::Model,
                file: "m.onnx".into(),
                urls: vec![server.url("m.onnx")],
                sha256: Some(sha.clone()),
                bytes: Some(len as u64),
                license: "-".into(),
                archive_member: None,
                platform: None,
            };
            let manager = ModelManager::new(
                BTreeMap::from([("m".to_owned(), entry)]),
                ManagerOptions::new(cache),
                Arc::new(Quiet),
            )
            .expect("manager");
            let started = Instant::now();
            manager.ensure("m").await.expect("download");
            times.push(started.elapsed());
        }
    }
    let (bare, managed, resumed) = (median(bare), median(managed), median(resumed));
    let rate = |d: Duration| len as f64 / d.as_secs_f64() / 1e6;
    println!("{mib} MiB over loopback, median of {RUNS} runs");
    println!(
        "bare GET into a file:        {:>7.1} ms  {:>7.0} MB/s  1.00x",
        bare.as_secs_f64() * 1e3,
        rate(bare)
    );
    println!(
        "manager (download+SHA-256):  {:>7.1} ms  {:>7.0} MB/s  {:.2}x the bare time",
        managed.as_secs_f64() * 1e3,
        rate(managed),
        managed.as_secs_f64() / bare.as_secs_f64()
    );
    println!(
        "manager, cut at half+resume: {:>7.1} ms  {:>7.0} MB/s  {:.2}x the bare time (includes the test server's 100 ms pause before the cut)",
        resumed.as_secs_f64() * 1e3,
        rate(resumed),
        resumed.as_secs_f64() / bare.as_secs_f64()
    );
    println!(
        "bytes served in all: {:.2}x the file size",
        server.bytes_sent("m.onnx") as f64 / (len as f64 * RUNS as f64 * 3.0)
    );
}
