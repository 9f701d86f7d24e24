//! `studio-server`: serves one role's HTTP API and sessions. The first line on stdout is
//! `{"listening":"HOST:PORT","role":"..."}` so a parent that asked for `--port 0` can connect;
//! logs go to stderr.

use anyhow::Context;
use clap::Parser;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use studio_proto::Role;
use studio_proto::api::Listening;
use studio_server::api;
use studio_server::engine::EngineFactory;
use studio_server::registry::Registry;

/// Every flag can also come from the environment as `STUDIO_<FLAG>`, which is how the
/// container image is configured.
#[derive(Parser, Debug)]
#[command(
    name = "studio-server",
    version,
    about = "Streaming Studio media server (video or audio role)"
)]
struct Args {
    /// Which half of the pipeline to serve: video (faces) or audio (voices).
    #[arg(long, env = "STUDIO_ROLE", value_parser = parse_role)]
    role: Role,
    /// Address to bind; defaults to the role's `servers.<role>.host` (loopback).
    #[arg(long, env = "STUDIO_HOST")]
    host: Option<String>,
    /// Port to bind; 0 lets the system choose. Defaults to `servers.<role>.port`.
    #[arg(long, env = "STUDIO_PORT")]
    port: Option<u16>,
    /// Bearer token clients must present. Prefer the environment: arguments are visible to
    /// other users of the machine.
    #[arg(long, env = "STUDIO_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// User configuration file, applied over the defaults.
    #[arg(long, env = "STUDIO_CONFIG")]
    config: Option<PathBuf>,
    /// Exit when stdin closes. The studio app sets this so that a server never outlives it,
    /// even when the app is killed.
    #[arg(long, env = "STUDIO_WATCH_STDIN")]
    watch_stdin: bool,
    /// Diagnostic: hold every result this many milliseconds before sending it back, as a
    /// slow engine would (how `studio run --inject-delay` tests lip sync).
    #[arg(long, env = "STUDIO_INJECT_DELAY_MS", default_value_t = 0)]
    inject_delay_ms: u64,
    /// Address WebRTC clients reach this machine at, when it is not an interface's own
    /// (NAT, a pod); RunPod's `RUNPOD_PUBLIC_IP` when unset.
    #[arg(long, env = "STUDIO_PUBLIC_IP")]
    public_ip: Option<std::net::IpAddr>,
    /// The TCP port for WebRTC over ICE-TCP (0: any free port); RunPod's
    /// `RUNPOD_TCP_PORT_70000` when unset.
    #[arg(long, env = "STUDIO_ICE_TCP_PORT")]
    ice_tcp_port: Option<u16>,
    /// In a RunPod pod (RUNPOD_POD_ID and RUNPOD_API_KEY set): delete the pod after this many
    /// seconds without a session or a request. Defaults to cloud.runpod.idle_timeout_minutes.
    #[arg(long, env = "STUDIO_IDLE_TIMEOUT_S")]
    idle_timeout_s: Option<u64>,
    /// In a RunPod pod: delete the pod after this many seconds whatever happens. Defaults to
    /// cloud.runpod.max_lifetime_hours.
    #[arg(long, env = "STUDIO_MAX_LIFETIME_S")]
    max_lifetime_s: Option<u64>,
}

/// WebRTC's advertised address and ICE-TCP port: flags, then RunPod's variables.
fn webrtc_config(
    args: &Args,
    bind: std::net::IpAddr,
    config: &studio_proto::config::Config,
) -> anyhow::Result<studio_transport::webrtc::WebRtcServerConfig> {
    let runpod = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let public_ip = match (args.public_ip, runpod("RUNPOD_PUBLIC_IP")) {
        (Some(ip), _) => Some(ip),
        (None, Some(v)) => Some(
            v.trim()
                .parse()
                .with_context(|| format!("RUNPOD_PUBLIC_IP {v:?} is not an IP address"))?,
        ),
        (None, None) => None,
    };
    let ice_tcp_port = match (args.ice_tcp_port, runpod("RUNPOD_TCP_PORT_70000")) {
        (Some(port), _) => port,
        (None, Some(v)) => v
            .trim()
            .parse()
            .with_context(|| format!("RUNPOD_TCP_PORT_70000 {v:?} is not a port"))?,
        (None, None) => 0,
    };
    Ok(studio_transport::webrtc::WebRtcServerConfig {
        bind_ip: bind,
        public_ip,
        ice_tcp_port,
        fps: config.video.fps as f32,
        admission: studio_transport::webrtc::AdmissionLimits {
            pending: config.limits.ice_tcp_pending,
            per_address: config.limits.ice_tcp_per_address,
        },
    })
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

/// `studio-server bench audio [--voice ID]... [--seconds S] [--device D] [--json] [--config F]`,
/// or `studio-server bench video [--backend B] [--models M] [--frames N] [--device D] [--json]`.
#[derive(Parser, Debug)]
#[command(
    name = "studio-server bench",
    about = "Measure the engines on this machine"
)]
struct BenchArgs {
    /// What to measure: `audio` (every voice, or those named with --voice) or `video` (the
    /// face swap per stage at 1280×720 with one face).
    #[arg(value_parser = ["audio", "video"])]
    what: String,
    /// A voice to measure (repeatable); without it, every ready voice.
    #[arg(long)]
    voice: Vec<String>,
    /// Seconds of test audio per voice.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Video: `ort`, `tract` or `auto`.
    #[arg(long, default_value = "auto")]
    backend: String,
    /// Video: `standin` (tiny random-weight models), `standin-full` (random weights at the
    /// real models' size, generated on first use) or a folder holding det_10g.onnx,
    /// w600k_r50.onnx and inswapper_128.onnx.
    #[arg(long, default_value = "standin")]
    models: String,
    /// Video: frames to time (after one warm-up frame).
    #[arg(long, default_value_t = 30)]
    frames: u32,
    /// Video: run the detector every this many frames (config `face.detect_every` if omitted).
    #[arg(long)]
    detect_every: Option<u32>,
    /// Video: detect ahead of the swap, `on` or `off` (config `face.detect_ahead` if
    /// omitted).
    #[arg(long, value_name = "on|off", value_parser = on_off)]
    detect_ahead: Option<bool>,
    /// Video: with the occlusion mask on (xseg_1.onnx beside the other models).
    #[arg(long)]
    occlusion: bool,
    /// Video: with the region mask on (bisenet_resnet_34.onnx beside the other models).
    #[arg(long)]
    region_mask: bool,
    /// Video: with a face enhancer on (`gfpgan_1.4`, `gpen_bfr_256` or `gpen_bfr_512`, its
    /// `<name>.onnx` beside the other models).
    #[arg(long, value_name = "NAME")]
    enhancer: Option<String>,
    /// Video: the enhancer's strength, 0 to 100.
    #[arg(long, default_value_t = 80)]
    enhance_strength: u8,
    /// Video: run the enhancer's network every this many frames (1 to 30), or `auto`: the
    /// smallest N whose frames keep up with --fps.
    #[arg(long, default_value = "auto", value_name = "auto|N")]
    enhance_every: studio_proto::control::EnhanceEvery,
    /// Video: the camera's frame rate the frames are stamped with, the automatic enhancer
    /// rate's budget.
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// Video: faces in the picture, all swapped (1 to 8).
    #[arg(long, default_value_t = 1)]
    faces: u32,
    /// Video: also time the session with its pre- and post-processing as graphs on the
    /// models' backend and device, after the CPU path.
    #[arg(long)]
    device_graphs: bool,
    /// Video: the bound detector and swapper replay CUDA graphs (CUDA or TensorRT only;
    /// where they cannot, they run bound without, and the log says why).
    #[arg(long)]
    cuda_graphs: bool,
    /// Video: the swapper's file in the models folder (inswapper_128.onnx if omitted; a
    /// SimSwap takes crossface_simswap.onnx beside it).
    #[arg(long)]
    swapper: Option<String>,
    /// Video: swap at 1, 2 or 4 times the swapper's size, in tiles.
    #[arg(long, default_value_t = 1)]
    pixel_boost: u32,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// The device the models run on (`cpu`, `cuda:0`, `tensorrt:0`, `rocm:0`, …; `auto`
    /// tries the GPUs first), in place of the config's `servers.<role>.device`.
    #[arg(long)]
    device: Option<String>,
    #[arg(long, env = "STUDIO_CONFIG")]
    config: Option<PathBuf>,
}

fn bench_main() {
    let args = BenchArgs::parse_from(std::env::args().skip(1));
    let mut config = match studio_proto::config_file::load(args.config.as_deref()) {
        Ok(loaded) => loaded.config,
        Err(e) => {
            eprint!("studio-server: {e}");
            std::process::exit(2);
        }
    };
    if let Some(device) = &args.device {
        config.servers.video.device = device.clone();
        config.servers.audio.device = device.clone();
    }
    if args.what == "video" {
        let video = studio_server::bench_video::VideoBenchArgs {
            backend: args.backend,
            models: args.models,
            frames: args.frames,
            detect_every: args.detect_every,
            detect_ahead: args.detect_ahead,
            occlusion: args.occlusion,
            faces: args.faces,
            region_mask: args.region_mask,
            enhancer: args.enhancer,
            enhance_strength: args.enhance_strength,
            enhance_every: args.enhance_every,
            fps: args.fps,
            device_graphs: args.device_graphs,
            cuda_graphs: args.cuda_graphs,
            swapper: args.swapper,
            pixel_boost: args.pixel_boost,
            json: args.json,
        };
        if let Err(e) = studio_server::bench_video::run(&config, &video) {
            eprintln!("studio-server bench video: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    match studio_server::bench::run(&config, &args.voice, args.seconds) {
        Ok(report) if args.json => match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("studio-server: {e}");
                std::process::exit(1);
            }
        },
        Ok(report) => studio_server::bench::print_table(&report),
        Err(e) => {
            eprintln!("studio-server bench: {e:#}");
            std::process::exit(1);
        }
    }
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("bench") {
        return bench_main();
    }
    let args = Args::parse();
    let config = match studio_proto::config_file::load(args.config.as_deref()) {
        Ok(loaded) => loaded.config,
        Err(e) => {
            eprint!("studio-server: {e}");
            std::process::exit(2);
        }
    };
    // Stray whitespace (a newline from a file or a secret store) would otherwise lock every
    // client out.
    let Some(token) = args
        .token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
    else {
        eprintln!("studio-server: a token is required: set STUDIO_TOKEN (or pass --token)");
        std::process::exit(2);
    };
    init_logging();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("studio-server: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(serve(args, config, token)) {
        eprintln!("studio-server: {e:#}");
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

async fn serve(
    args: Args,
    config: studio_proto::config::Config,
    token: String,
) -> anyhow::Result<()> {
    let role_config = config.servers.role(args.role);
    let host = args
        .host
        .clone()
        .unwrap_or_else(|| role_config.host.clone());
    let port = args.port.unwrap_or(role_config.port);
    let listener = tokio::net::TcpListener::bind((host.as_str(), port))
        .await
        .with_context(|| format!("cannot listen on {host}:{port}"))?;
    let address = listener.local_addr().context("reading the bound address")?;
    let webrtc_config = webrtc_config(&args, address.ip(), &config)?;

    let engines = EngineFactory::new(args.role, &config);
    let engine_name = engines.create(&Default::default()).name().to_string();
    let registry = Arc::new(
        Registry::new(
            args.role,
            token,
            engine_name,
            engines,
            config.limits.clone(),
        )
        .with_output_delay(Duration::from_millis(args.inject_delay_ms)),
    );

    let webrtc = studio_transport::webrtc::WebRtcServer::start(webrtc_config)
        .await
        .context("starting WebRTC")?;
    let _ = registry.webrtc.set(webrtc);

    let first_line = serde_json::to_string(&Listening {
        listening: address.to_string(),
        role: args.role,
    })?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{first_line}").context("writing the address to stdout")?;
    stdout.flush().context("writing the address to stdout")?;
    drop(stdout);
    tracing::info!(role = %args.role, %address, "listening");
    // In the background: health answers at once, and status shows the progress.
    studio_server::models::start(&registry, &config, args.role);
    studio_server::face::start(&registry, &config);
    if args.role == studio_proto::Role::Audio {
        studio_server::voice_files::resolve_configured(&registry, &config);
    }
    start_pod_expiry(&args, &config, &registry)?;

    let stop = shutdown_signal(args.watch_stdin);
    let app = api::router(registry.clone());
    let limits = studio_server::listen::ListenLimits {
        max_connections: config.limits.max_connections,
        header_read_timeout: Duration::from_millis(config.limits.header_read_timeout_ms),
        // Open sessions and event streams get a moment to finish, not forever.
        shutdown_grace: Duration::from_secs(2),
    };
    studio_server::listen::serve(listener, app, limits, {
        let registry = registry.clone();
        async move {
            let reason = stop.await;
            tracing::info!("shutting down: {reason}");
            registry.shutdown();
        }
    })
    .await;
    Ok(())
}

/// In a RunPod pod, the server deletes its own pod once unused or too old.
fn start_pod_expiry(
    args: &Args,
    config: &studio_proto::config::Config,
    registry: &Arc<Registry>,
) -> anyhow::Result<()> {
    use studio_server::pod_expiry::{PodIdentity, start};
    let runpod = &config.cloud.runpod;
    let pod = match PodIdentity::from_env(|name| std::env::var(name).ok(), &runpod.api_url) {
        None => return Ok(()),
        Some(pod) => pod.map_err(anyhow::Error::msg)?,
    };
    let idle = args
        .idle_timeout_s
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(
            u64::from(runpod.idle_timeout_minutes) * 60,
        ));
    let lifetime = args
        .max_lifetime_s
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(
            u64::from(runpod.max_lifetime_hours) * 3600,
        ));
    start(registry.clone(), pod, idle, lifetime);
    Ok(())
}

/// Resolves with the reason to stop: Ctrl-C, SIGTERM, or stdin closing when watched.
async fn shutdown_signal(watch_stdin: bool) -> &'static str {
    let stdin_closed = async {
        if !watch_stdin {
            return std::future::pending::<()>().await;
        }
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            // Nothing is ever read from the parent: this only waits for end of file.
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
            let _ = tx.send(());
        });
        let _ = rx.await;
    };
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
        _ = tokio::signal::ctrl_c() => "interrupted",
        _ = terminate => "terminated",
        _ = stdin_closed => "the parent closed stdin",
    }
}

/// `on` or `off`, for switches that default to the config's value.
fn on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("expected on or off, not {s:?}")),
    }
}
