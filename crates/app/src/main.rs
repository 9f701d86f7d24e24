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
    /// Measure the engines on this machine: `studio bench audio [--voice ID] [--json]`.
    Bench(BenchArgs),
}

#[derive(clap::Args, Debug)]
struct BenchArgs {
    /// `audio`: real-time factor and latency (algorithmic and processing) per voice.
    #[arg(value_parser = ["audio"])]
    what: String,
    /// A voice to measure (repeatable); without it, every ready voice.
    #[arg(long)]
    voice: Vec<String>,
    /// Seconds of test audio per voice.
    #[arg(long)]
    seconds: Option<f64>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// The engines live in the server, so the server binary measures them.
fn run_bench(loaded: &LoadedConfig, args: BenchArgs) -> anyhow::Result<()> {
    let server = find_server_binary()?;
    let mut command = std::process::Command::new(&server);
    command.arg("bench").arg(&args.what);
    for voice in &args.voice {
        command.arg("--voice").arg(voice);
    }
    if let Some(seconds) = args.seconds {
        command.arg("--seconds").arg(seconds.to_string());
    }
    if args.json {
        command.arg("--json");
    }
    if let Some(file) = &loaded.user_file {
        command.arg("--config").arg(file);
    }
    let status = command
        .status()
        .with_context(|| format!("running {}", server.display()))?;
    if !status.success() {
        anyhow::bail!("the benchmark failed ({status})");
    }
    Ok(())
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
    /// The voice: an id from `voices` in config (`deeper`, `robot`, ...), `none`, or
    /// `dsp:pitch=<semitones>[,formant=<semitones>]`.
    #[arg(long)]
    voice: Option<String>,
    /// The talk key's state for the whole run: `always` converts everything, `never` sends
    /// exact silence to the virtual microphone.
    #[arg(long, value_parser = ["always", "never"])]
    talk: Option<String>,
}

/// Live controls for a headless run's `--voice` and `--talk`, checked before anything starts.
fn run_controls(
    config: &studio_proto::config::Config,
    args: &RunArgs,
) -> anyhow::Result<std::sync::Arc<studio_app::controls::LiveControls>> {
    use studio_proto::Role;
    use studio_proto::control::Control;
    let controls = studio_app::controls::LiveControls::new();
    if let Some(voice) = &args.voice {
        let known = voice == "none" || config.voices.contains_key(voice);
        match studio_proto::voices::parse_adhoc(voice) {
            Some(Err(e)) => anyhow::bail!("{e}"),
            None if !known => {
                let ids: Vec<&str> = config.voices.keys().map(String::as_str).collect();
                anyhow::bail!(
                    "unknown voice {voice:?}; known voices: none, {} (or dsp:pitch=<semitones>[,formant=<semitones>])",
                    ids.join(", ")
                );
            }
            _ => {}
        }
        controls.set(
            Role::Audio,
            Control::SetVoice {
                voice_id: voice.clone(),
            },
        );
    }
    if let Some(talk) = &args.talk {
        controls.set(
            Role::Audio,
            Control::Talk {
                active: talk == "always",
            },
        );
    }
    Ok(std::sync::Arc::new(controls))
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
            // A child process that owns the terminal until it is done: nothing else runs.
            Some(Command::Bench(args)) => run_bench(&loaded, args),
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
    let controls = run_controls(&loaded.config, &args)?;
    let options = RunOptions {
        video_in: args.video_in,
        audio_in: args.audio_in,
        seconds: args.seconds,
        video_out: args.video_out,
        audio_out: args.audio_out,
        status_every: None,
        controls,
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
