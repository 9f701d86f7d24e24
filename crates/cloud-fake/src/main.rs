//! `studio-fake-runpod`: the fake RunPod API as a program, so `studio` can be tried in cloud
//! mode without an account. Prints `{"api_url":…,"proxy_url_template":…}` on its first line;
//! set those as `RUNPOD_API_URL` and `RUNPOD_PROXY_URL_TEMPLATE`. Ends on Ctrl-C or when stdin
//! closes, deleting its pods.

use anyhow::Context;
use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;
use studio_cloud_fake::{FakeOptions, FakeRunpod};

#[derive(Parser, Debug)]
#[command(name = "studio-fake-runpod", about = "A fake RunPod API on loopback")]
struct Args {
    /// The API key it accepts (also FAKE_RUNPOD_API_KEY).
    #[arg(long, env = "FAKE_RUNPOD_API_KEY", hide_env_values = true)]
    api_key: String,
    /// The studio-server each pod runs; defaults to the one beside this program.
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Port to listen on (0: any free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Milliseconds a pod stays PROVISIONING.
    #[arg(long, default_value_t = 500)]
    provisioning_ms: u64,
    /// A GPU type that answers "no capacity" (repeatable).
    #[arg(long)]
    no_capacity: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let server_binary = match args.server_bin {
        Some(path) => path,
        None => std::env::current_exe()
            .context("finding this program's path")?
            .with_file_name(format!("studio-server{}", std::env::consts::EXE_SUFFIX)),
    };
    anyhow::ensure!(
        server_binary.is_file(),
        "{} is not a file; pass --server-bin",
        server_binary.display()
    );
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let fake = FakeRunpod::start_on(
            FakeOptions {
                server_binary,
                api_key: args.api_key,
                provisioning: Duration::from_millis(args.provisioning_ms),
                pod_env: Vec::new(),
            },
            args.port,
        )
        .await
        .context("listening")?;
        for gpu in &args.no_capacity {
            fake.set_no_capacity(gpu);
        }
        println!(
            "{}",
            serde_json::json!({
                "api_url": fake.api_url(),
                "proxy_url_template": fake.proxy_url_template(),
            })
        );
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        });
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = stdin_closed => {}
        }
        drop(fake);
        // Let the pods' servers see their stdin close.
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(())
    })
}
