//! `studio`: the desktop app's binary. With no command it runs the studio in the console;
//! `studio run --headless ...` runs the whole path from files or synthetic sources to files
//! and writes a report.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;
use studio_app::manager::{ManagerOptions, find_server_binary};
use studio_app::pipeline::{self, RunOptions};
use studio_media::source::{AudioInput, VideoInput};
use studio_proto::config_file::LoadedConfig;

mod bench_cli;
mod models_cli;

#[derive(Parser, Debug)]
#[command(
    name = "studio",
    version,
    about = "Streaming Studio: a different face and voice in any video call"
)]
struct Cli {
    /// User configuration file, applied over the defaults (also STUDIO_CONFIG).
    #[arg(long, global = true, env = "STUDIO_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the whole path once without a window: sources in, both servers, files out.
    Run(RunArgs),
    /// The model cache: list, fetch (with progress), verify, clear.
    Models(models_cli::ModelsArgs),
    /// Speed figures per stage: `studio bench video [--backend ort|tract] [--models ...]`.
    Bench(bench_cli::BenchArgs),
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Run without a window (the only way `run` works today; kept so scripts stay valid).
    #[arg(long)]
    headless: bool,
    /// `test` (moving pattern with frame numbers), `sync` (a flash each second) or a .y4m file.
    #[arg(long, default_value = "test", value_parser = parse_video_in)]
    video_in: VideoInput,
    /// `tone:<Hz>`, `sync` (a click each second) or a .wav file.
    #[arg(long, default_value = "tone:440", value_parser = parse_audio_in)]
    audio_in: AudioInput,
    /// How long to capture; without it the run lasts until the inputs end or Ctrl-C.
    #[arg(long, value_parser = parse_seconds)]
    seconds: Option<f64>,
    /// Where the processed video goes (Y4M): what the virtual camera would show.
    #[arg(long)]
    video_out: Option<PathBuf>,
    /// Where the processed audio goes (WAV): what the virtual microphone would play.
    #[arg(long)]
    audio_out: Option<PathBuf>,
    /// Write the run's report (JSON) here.
    #[arg(long)]
    report: Option<PathBuf>,
}

fn parse_video_in(s: &str) -> Result<VideoInput, String> {
    VideoInput::parse(s).map_err(|e| e.to_string())
}

fn parse_audio_in(s: &str) -> Result<AudioInput, String> {
    AudioInput::parse(s).map_err(|e| e.to_string())
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("expected a positive number of seconds, got {s:?}")),
    }
}

fn main() {
    let cli = Cli::parse();
    let loaded = match studio_proto::config_file::load(cli.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprint!("studio: {e}");
            std::process::exit(2);
        }
    };
    init_logging();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("studio: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Some(Command::Run(args)) => run_headless(&loaded, args).await,
            Some(Command::Models(args)) => models_cli::run(&loaded.config, args).await,
            Some(Command::Bench(args)) => bench_cli::run(&loaded.config, args),
            None => run_console(&loaded).await,
        }
    });
    if let Err(e) = result {
        eprintln!("studio: {e:#}");
        std::process::exit(1);
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STUDIO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn manager_options(loaded: &LoadedConfig) -> anyhow::Result<ManagerOptions> {
    Ok(ManagerOptions {
        server_binary: find_server_binary()?,
        config_file: loaded.user_file.clone(),
        restart: loaded.config.servers.restart.clone(),
    })
}

async fn run_headless(loaded: &LoadedConfig, args: RunArgs) -> anyhow::Result<()> {
    let _ = args.headless;
    let options = RunOptions {
        video_in: args.video_in,
        audio_in: args.audio_in,
        seconds: args.seconds,
        video_out: args.video_out,
        audio_out: args.audio_out,
        status_every: None,
        controls: Default::default(),
    };
    let report = pipeline::run(
        &loaded.config,
        manager_options(loaded)?,
        options,
        interrupted(),
    )
    .await?;
    let json = serde_json::to_string_pretty(&report).context("encoding the report")?;
    if let Some(path) = &args.report {
        std::fs::write(path, format!("{json}\n"))
            .with_context(|| format!("writing the report to {}", path.display()))?;
    }
    println!(
        "{:.2} s ({}): video {} frames in, {} out, latency p50 {:.1} ms p95 {:.1} ms; audio {} samples in, {} out, latency p50 {:.1} ms p95 {:.1} ms; {} server restart(s)",
        report.seconds,
        report.ended_by,
        report.video.frames_in,
        report.video.frames_out,
        report.latency_ms.video.p50,
        report.latency_ms.video.p95,
        report.audio.samples_in,
        report.audio.samples_out,
        report.latency_ms.audio.p50,
        report.latency_ms.audio.p95,
        report.restarts,
    );
    Ok(())
}

/// The studio in the console, until the window lands: both servers, the test pattern and a
/// tone through them live, and a status line each second. Ctrl-C stops everything.
async fn run_console(loaded: &LoadedConfig) -> anyhow::Result<()> {
    println!("Streaming Studio: starting the video and audio servers (Ctrl-C stops)");
    let options = RunOptions {
        video_in: VideoInput::Test,
        audio_in: AudioInput::Tone(440.0),
        seconds: None,
        video_out: None,
        audio_out: None,
        status_every: Some(Duration::from_secs(1)),
        controls: Default::default(),
    };
    let report = pipeline::run(
        &loaded.config,
        manager_options(loaded)?,
        options,
        interrupted(),
    )
    .await?;
    println!(
        "stopped after {:.1} s; both servers are stopped. Video latency p50 {:.1} ms, audio p50 {:.1} ms.",
        report.seconds, report.latency_ms.video.p50, report.latency_ms.audio.p50
    );
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn interrupted() {
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}
