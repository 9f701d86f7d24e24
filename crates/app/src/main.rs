//! `studio`: the desktop app's binary. With no command it opens the window (without a
//! display it runs in the terminal instead, `console.rs`);
//! `studio run --headless ...` runs the whole path from files or synthetic sources to files
//! and writes a report.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;
use studio_media::input::{AudioInput, VideoInput};
use studio_media::output::{AudioOut, VideoOut};
use studio_proto::config::{ENHANCER_MODEL_IDS, OCCLUSION_MODEL_ID, PARSER_MODEL_ID};
use studio_proto::config_file::LoadedConfig;
use studio_run::manager::{ManagerOptions, find_server_binary};
use studio_run::session_transport::Transport;
use studio_run::{CancellationToken, Outcome, RunSpec, Servers};

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
    /// Check this computer: GPU, ONNX Runtime, cameras, microphones, the virtual camera and
    /// microphone, the model hosts — each with a fix when something is wrong.
    Doctor {
        /// Print the checks as a JSON list.
        #[arg(long)]
        json: bool,
    },
    /// List cameras, microphones, outputs and virtual devices, with the spec to pass to
    /// `--video-in`, `--audio-in`, `--video-out` or `--audio-out`.
    Devices {
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Measure on this machine: `studio bench audio [--voice ID] [--device D] [--json]` and
    /// `studio bench video [--backend ort|tract] [--models standin|standin-full|DIR]
    /// [--frames N] [--faces N] [--device D] [--occlusion] [--region-mask] [--swapper FILE]
    /// [--pixel-boost 1|2|4] [--enhancer NAME] [--enhance-every auto|N] [--fps N] [--cuda-graphs]
    /// [--detect-ahead on|off] [--json]` (the engines), or
    /// `studio bench transport [--json]` (WebRTC's codecs against the raw transport).
    Bench(BenchArgs),
}

#[derive(clap::Args, Debug)]
struct BenchArgs {
    /// `audio`: real-time factor and latency (algorithmic and processing) per voice;
    /// `video`: frames per second and milliseconds per stage of the face swap at 1280×720;
    /// `transport`: encode/decode time per 720p frame and CPU per second of media.
    #[arg(value_parser = ["audio", "video", "transport"])]
    what: String,
    /// A voice to measure (repeatable); without it, every ready voice.
    #[arg(long)]
    voice: Vec<String>,
    /// Seconds of test audio per voice.
    #[arg(long)]
    seconds: Option<f64>,
    /// Video: the inference backend, `ort`, `tract` or `auto`.
    #[arg(long)]
    backend: Option<String>,
    /// Video: `standin`, `standin-full` (generated on first use) or a folder holding
    /// det_10g.onnx, w600k_r50.onnx and inswapper_128.onnx.
    #[arg(long)]
    models: Option<String>,
    /// Video: frames to time.
    #[arg(long)]
    frames: Option<u32>,
    /// Audio and video: the device the models run on (`cpu`, `cuda:0`, `tensorrt:0`, …).
    #[arg(long)]
    device: Option<String>,
    /// Video: with the occlusion mask on (xseg_1.onnx beside the other models).
    #[arg(long)]
    occlusion: bool,
    /// Video: with the region mask on (bisenet_resnet_34.onnx beside the other models).
    #[arg(long)]
    region_mask: bool,
    /// Video: with this face enhancer on (gfpgan_1.4, gpen_bfr_256 or gpen_bfr_512, its
    /// `.onnx` beside the other models).
    #[arg(long, value_name = "NAME")]
    enhancer: Option<String>,
    /// Video: run the enhancer's network every this many frames, or `auto` (the default):
    /// as often as the frames keep up with the camera.
    #[arg(long, value_name = "auto|N")]
    enhance_every: Option<studio_proto::control::EnhanceEvery>,
    /// Video: faces in the picture, all swapped (1 to 8).
    #[arg(long)]
    faces: Option<u32>,
    /// Video: the swapper's file in the models folder (inswapper_128.onnx if omitted).
    #[arg(long)]
    swapper: Option<String>,
    /// Video: swap at 1, 2 or 4 times the swapper's size, in tiles.
    #[arg(long)]
    pixel_boost: Option<u32>,
    /// Video: the camera's frame rate the frames are stamped with (30 if omitted), which an
    /// automatic enhancer rate keeps up with.
    #[arg(long)]
    fps: Option<u32>,
    /// Video: the bound detector and swapper replay CUDA graphs (CUDA or TensorRT only;
    /// where they cannot, they run bound without, and the log says why).
    #[arg(long)]
    cuda_graphs: bool,
    /// Video: detect ahead of the swap, `on` or `off` (config `face.detect_ahead` if
    /// omitted).
    #[arg(long, value_name = "on|off", value_parser = ["on", "off"])]
    detect_ahead: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// The engines live in the server, so the server binary measures them.
fn run_bench(loaded: &LoadedConfig, args: BenchArgs) -> anyhow::Result<()> {
    if args.what == "transport" {
        let bench = studio_transport::webrtc::bench::run(args.seconds.unwrap_or(5.0))?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&bench)?);
        } else {
            studio_transport::webrtc::bench::print_table(&bench);
        }
        return Ok(());
    }
    let server = find_server_binary()?;
    let mut command = std::process::Command::new(&server);
    command.arg("bench").arg(&args.what);
    for voice in &args.voice {
        command.arg("--voice").arg(voice);
    }
    if let Some(seconds) = args.seconds {
        command.arg("--seconds").arg(seconds.to_string());
    }
    if let Some(backend) = &args.backend {
        command.arg("--backend").arg(backend);
    }
    if let Some(models) = &args.models {
        command.arg("--models").arg(models);
    }
    if let Some(frames) = args.frames {
        command.arg("--frames").arg(frames.to_string());
    }
    if let Some(device) = &args.device {
        command.arg("--device").arg(device);
    }
    if args.occlusion {
        command.arg("--occlusion");
    }
    if args.region_mask {
        command.arg("--region-mask");
    }
    if let Some(enhancer) = &args.enhancer {
        command.arg("--enhancer").arg(enhancer);
    }
    if let Some(n) = args.enhance_every {
        command.arg("--enhance-every").arg(n.to_string());
    }
    if let Some(faces) = args.faces {
        command.arg("--faces").arg(faces.to_string());
    }
    if let Some(swapper) = &args.swapper {
        command.arg("--swapper").arg(swapper);
    }
    if let Some(boost) = args.pixel_boost {
        command.arg("--pixel-boost").arg(boost.to_string());
    }
    if let Some(fps) = args.fps {
        command.arg("--fps").arg(fps.to_string());
    }
    if args.cuda_graphs {
        command.arg("--cuda-graphs");
    }
    if let Some(ahead) = &args.detect_ahead {
        command.arg("--detect-ahead").arg(ahead);
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
    /// Where the processed video goes: a .y4m file, `v4l2[:/dev/videoN]` (the Linux virtual
    /// camera) or `obs` (OBS Virtual Camera on Windows). Repeat for several.
    #[arg(long, value_parser = parse_video_out)]
    video_out: Vec<VideoOut>,
    /// Where the processed audio goes: a .wav file or `pulse` (the "Streaming Studio
    /// Microphone" on Linux). Repeat for several.
    #[arg(long, value_parser = parse_audio_out)]
    audio_out: Vec<AudioOut>,
    /// Write the run's report (JSON) here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Diagnostic: make a server hold its results, e.g. `video=150` or `audio=80`
    /// (milliseconds; repeat the flag for both). Lip sync should make up for it.
    #[arg(long, value_name = "ROLE=MS", value_parser = parse_inject_delay)]
    inject_delay: Vec<(studio_proto::Role, Duration)>,
    /// Diagnostic: let each path keep its own delay instead of holding the faster one.
    #[arg(long)]
    no_lip_sync: bool,
    /// How sessions travel: `raw` (same host, no codec) or `webrtc` (H.264 and Opus).
    #[arg(long, value_enum, default_value_t = Transport::Raw)]
    transport: Transport,
    /// With `--transport webrtc`: ICE over `udp` or `tcp` (what a RunPod pod allows).
    #[arg(long, default_value = "udp")]
    ice: studio_transport::webrtc::IceMode,
    /// Listen to the global talk key (config `talk.key`) during the run.
    #[arg(long)]
    talk_key: bool,
    /// The voice: an id from `voices` in config (`deeper`, `robot`, ...), `none`, or
    /// `dsp:pitch=<semitones>[,formant=<semitones>]`.
    #[arg(long)]
    voice: Option<String>,
    /// The talk key's state for the whole run: `always` converts everything, `never` sends
    /// exact silence to the virtual microphone.
    #[arg(long, value_parser = ["always", "never"])]
    talk: Option<String>,
    /// A photo (JPEG, PNG or WebP) of the face to wear; the largest face in it is used.
    #[arg(long, value_name = "PHOTO")]
    face: Option<PathBuf>,
    /// With `--face`: download the face models when they are missing (about 750 MB; their
    /// licence allows non-commercial research use only) instead of stopping to say so.
    #[arg(long, requires = "face")]
    fetch_models: bool,
    /// An RVC v2 voice exported as `.onnx` (with its `.index` beside it, if any): sent to the
    /// audio server, which fetches the shared models it needs (ContentVec, and RMVPE with
    /// `--accurate-pitch`); the voice is used once it is ready.
    #[arg(long, value_name = "VOICE.onnx", conflicts_with = "voice")]
    voice_file: Option<PathBuf>,
    /// With `--voice-file`: find the pitch with RMVPE (a 362 MB download) rather than YIN.
    #[arg(long, requires = "voice_file")]
    accurate_pitch: bool,
    /// With `--face`: keep your own mouth over the swapped face, so speech looks natural.
    #[arg(long, requires = "face")]
    keep_mouth: bool,
    /// Move the voice's pitch by this many semitones (−24 to 24), e.g. 12 for an octave up.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    voice_key: f32,
    /// Move the voice's timbre (formants) by this many semitones (−2 to 2), the pitch kept.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    voice_formant: f32,
    /// With `--face`: keep what is in front of your face (hands, glasses, a microphone) as it
    /// is, through the occlusion model xseg_1 (fetched with `--fetch-models`, or beside the
    /// server with `studio models fetch xseg_1`; without it the face is pasted whole).
    #[arg(long, requires = "face")]
    keep_occluders: bool,
    /// With `--face`: keep your own hair, ears and neck, pasting the swapped face only where
    /// the face parser bisenet_resnet_34 sees the face itself (skin, brows, eyes, nose, lips;
    /// fetched like xseg_1; without it the face is pasted whole).
    #[arg(long, requires = "face")]
    keep_hair: bool,
    /// Face mapping: the person in PERSON.jpg wears the face in FACE.jpg (repeatable, up to
    /// 8 people); faces the camera shows that are no one's pass as they are.
    #[arg(long, value_name = "PERSON.jpg=FACE.jpg")]
    map: Vec<String>,
    /// With `--face`: swap every face in the picture (up to 8, largest first), not only the
    /// largest.
    #[arg(long, requires = "face")]
    all_faces: bool,
    /// With `--face`: swap at 1, 2 or 4 times the swapper's size, in 1, 4 or 16 tiles (more
    /// detail for 4 or 16 times the swapper's cost).
    #[arg(long, requires = "face", default_value_t = 1)]
    pixel_boost: u32,
    /// With `--face`: the swapper, a models id (inswapper_128, the default;
    /// inswapper_128_fp16, hyperswap_1a_256, hyperswap_1b_256, hyperswap_1c_256 or
    /// simswap_unofficial_512, fetched with `--fetch-models` or `studio models fetch`).
    #[arg(long, requires = "face")]
    swapper: Option<String>,
    /// With `--face`: restore the swapped face with this face enhancer: gfpgan_1.4,
    /// gpen_bfr_256 (the fastest) or gpen_bfr_512 (fetched like xseg_1; without it the swap
    /// goes out as it is).
    #[arg(long, requires = "face", value_name = "NAME")]
    enhancer: Option<String>,
    /// With `--enhancer`: how much of the enhanced face shows, 0 to 100.
    #[arg(long, requires = "enhancer", default_value_t = 80)]
    enhance_strength: u8,
    /// With `--enhancer`: run its network every this many frames (1 to 30), reusing its
    /// last answer in between, or `auto` (the default): the server runs it as often as the
    /// frames keep up with the camera.
    #[arg(
        long,
        requires = "enhancer",
        default_value = "auto",
        value_name = "auto|N"
    )]
    enhance_every: studio_proto::control::EnhanceEvery,
    /// Gain on the microphone before the audio server, in dB (−24 to 24).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    input_gain_db: f32,
    /// Gain on the processed voice before the outputs, in dB (−24 to 24).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    output_gain_db: f32,
    /// Where the servers run: `local` (two processes here) or `cloud` (two RunPod pods,
    /// created for the run and deleted after it; needs RUNPOD_API_KEY or a saved key).
    #[arg(long, value_enum, default_value_t = Mode::Local)]
    mode: Mode,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Local,
    Cloud,
}

fn parse_inject_delay(s: &str) -> Result<(studio_proto::Role, Duration), String> {
    let bad = || format!("expected ROLE=MS such as `video=150` or `audio=80`, got {s:?}");
    let (role, ms) = s.split_once('=').ok_or_else(bad)?;
    let role = role
        .trim()
        .parse::<studio_proto::Role>()
        .map_err(|_| bad())?;
    let ms = ms.trim().parse::<u64>().map_err(|_| bad())?;
    if ms > 10_000 {
        return Err(format!("{s}: at most 10000 ms"));
    }
    Ok((role, Duration::from_millis(ms)))
}

/// Live controls for a headless run's `--voice`, `--keep-mouth`, `--keep-occluders`,
/// `--keep-hair`, `--all-faces`, `--voice-key`/`--voice-formant` and `--talk`, checked before
/// anything starts.
fn run_controls(
    config: &studio_proto::config::Config,
    args: &RunArgs,
) -> anyhow::Result<std::sync::Arc<studio_run::controls::LiveControls>> {
    use studio_proto::Role;
    use studio_proto::control::Control;
    let controls = studio_run::controls::LiveControls::new();
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
    if args.keep_mouth {
        controls.set(Role::Video, Control::MouthMask { on: true });
    }
    if (args.voice_key, args.voice_formant) != (0.0, 0.0) {
        studio_proto::control::check_voice_shift(args.voice_key, args.voice_formant)
            .map_err(|e| anyhow::anyhow!("--voice-key/--voice-formant: {e}"))?;
        controls.set(
            Role::Audio,
            Control::VoiceShift {
                key: args.voice_key,
                formant: args.voice_formant,
            },
        );
    }
    if args.keep_occluders {
        controls.set(Role::Video, Control::Occlusion { on: true });
    }
    if args.all_faces {
        controls.set(Role::Video, Control::AllFaces { on: true });
    }
    if args.keep_hair {
        controls.set(Role::Video, Control::RegionMask { on: true });
    }
    if let Some(swapper) = &args.swapper {
        studio_proto::config::swapper_converter(swapper)
            .map_err(|e| anyhow::anyhow!("--swapper: {e}"))?;
        controls.set(
            Role::Video,
            Control::Swapper {
                model_id: swapper.clone(),
            },
        );
    }
    if args.pixel_boost != 1 {
        studio_proto::control::check_pixel_boost(args.pixel_boost)
            .map_err(|e| anyhow::anyhow!("--pixel-boost: {e}"))?;
        controls.set(
            Role::Video,
            Control::PixelBoost {
                factor: args.pixel_boost,
            },
        );
    }
    if let Some(model) = &args.enhancer {
        if !ENHANCER_MODEL_IDS.contains(&model.as_str()) {
            anyhow::bail!(
                "--enhancer is one of {}, not {model:?}",
                ENHANCER_MODEL_IDS.join(", ")
            );
        }
        if args.enhance_strength > 100 {
            anyhow::bail!("--enhance-strength is 0 to 100");
        }
        controls.set(
            Role::Video,
            Control::Enhancer {
                model: Some(model.clone()),
            },
        );
        controls.set(
            Role::Video,
            Control::EnhancerStrength {
                strength: args.enhance_strength,
            },
        );
        controls.set(
            Role::Video,
            Control::EnhanceEvery {
                frames: args.enhance_every,
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

/// `--voice-file`, checked to be there before anything starts (the audio server checks what
/// it is).
fn voice_file(
    args: &RunArgs,
) -> anyhow::Result<Option<std::sync::Arc<studio_run::voice_file::VoiceFile>>> {
    let Some(path) = &args.voice_file else {
        return Ok(None);
    };
    if !path.is_file() {
        anyhow::bail!("the voice file {} is not there", path.display());
    }
    Ok(Some(std::sync::Arc::new(
        studio_run::voice_file::VoiceFile {
            path: path.clone(),
            pitch: if args.accurate_pitch {
                studio_proto::api::VoiceFilePitch::Rmvpe
            } else {
                studio_proto::api::VoiceFilePitch::Yin
            },
        },
    )))
}

fn parse_video_in(s: &str) -> Result<VideoInput, String> {
    VideoInput::parse(s).map_err(|e| e.to_string())
}

fn parse_audio_in(s: &str) -> Result<AudioInput, String> {
    AudioInput::parse(s).map_err(|e| e.to_string())
}

fn parse_video_out(s: &str) -> Result<VideoOut, String> {
    VideoOut::parse(s)
}

fn parse_audio_out(s: &str) -> Result<AudioOut, String> {
    AudioOut::parse(s)
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
    let result = match cli.command {
        Some(Command::Run(args)) => runtime.block_on(run_headless(&loaded, args)),
        // A child process that owns the terminal until it is done: nothing else runs.
        Some(Command::Bench(args)) => run_bench(&loaded, args),
        Some(Command::Models(args)) => runtime.block_on(models_cli::run(&loaded.config, args)),
        Some(Command::Doctor { json }) => {
            runtime.block_on(studio_app::doctor::run(&loaded.config, json))
        }
        Some(Command::Devices { json }) => studio_app::doctor::print_devices(json),
        // Without a display the studio runs in the terminal instead of failing.
        None if studio_app::desktop::missing_display().is_some() => runtime.block_on(async {
            studio_app::console::run(
                &loaded.config,
                manager_options(&loaded)?,
                cancel_on_signal(),
            )
            .await
        }),
        None => studio_app::desktop::open_window(&runtime, &loaded, manager_options(&loaded)),
    };
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
        inject_delay: Default::default(),
    })
}

/// The photos of `--map PERSON=FACE`, each read (and so checked) before anything starts.
type PersonPhotos = (
    std::sync::Arc<studio_run::faces::FacePhoto>,
    std::sync::Arc<studio_run::faces::FacePhoto>,
);

fn people(map: &[String]) -> anyhow::Result<Vec<PersonPhotos>> {
    let most = studio_proto::control::MAX_PEOPLE;
    if map.len() > most {
        anyhow::bail!("--map: at most {most} people, not {}", map.len());
    }
    map.iter()
        .map(|pair| {
            let (person, wears) = pair
                .split_once('=')
                .filter(|(a, b)| !a.is_empty() && !b.is_empty())
                .with_context(|| format!("--map {pair}: give PERSON.jpg=FACE.jpg"))?;
            let load = |p: &str| {
                studio_run::faces::FacePhoto::load(std::path::Path::new(p)).map(std::sync::Arc::new)
            };
            Ok((load(person)?, load(wears)?))
        })
        .collect()
}

async fn run_headless(loaded: &LoadedConfig, args: RunArgs) -> anyhow::Result<()> {
    let _ = args.headless;
    // Settings first: an unknown voice or an unreadable photo fails before anything starts.
    let controls = run_controls(&loaded.config, &args)?;
    let face = match &args.face {
        Some(path) => Some(std::sync::Arc::new(studio_run::faces::FacePhoto::load(
            path,
        )?)),
        None => None,
    };
    let people = people(&args.map)?;
    let config = &loaded.config;
    // Local servers share this computer's model cache: missing face models are fetched here,
    // with progress, or the run stops before anything starts. Pods fetch their own.
    if (face.is_some() || !people.is_empty())
        && args.mode == Mode::Local
        && std::env::var_os(studio_proto::config::FACE_MODELS_ENV).is_none_or(|d| d.is_empty())
    {
        models_cli::ensure_face_models(config, args.fetch_models).await?;
        let masks = [
            (args.keep_occluders, OCCLUSION_MODEL_ID, "occlusion mask"),
            (args.keep_hair, PARSER_MODEL_ID, "region mask"),
        ];
        for (_, id, mask) in masks.into_iter().filter(|(on, _, _)| *on) {
            models_cli::ensure_mask_model(config, id, mask, args.fetch_models).await?;
        }
        if let Some(swapper) = &args.swapper {
            models_cli::ensure_swapper_models(config, swapper, args.fetch_models).await?;
        }
        if let Some(id) = &args.enhancer {
            models_cli::ensure_mask_model(config, id, "face enhancer", args.fetch_models).await?;
        }
    }
    if args.talk_key {
        let driver = studio_app::talk::start(&config.talk.key, controls.clone())?;
        eprintln!("talk key {} ({driver}): hold it to talk", config.talk.key);
    }
    let servers = match args.mode {
        Mode::Cloud => Servers::Cloud {
            // Nothing is sent without a key.
            key: studio_app::secrets::api_key().await?,
            on_step: std::sync::Arc::new(|p: &studio_cloud::Progress| eprintln!("cloud {p}")),
        },
        Mode::Local => {
            let mut manager = manager_options(loaded)?;
            manager.inject_delay = args.inject_delay.iter().copied().collect();
            Servers::Local(manager)
        }
    };
    let levels = std::sync::Arc::new(studio_run::levels::AudioLevels::default());
    levels.set_input_gain_db(args.input_gain_db);
    levels.set_output_gain_db(args.output_gain_db);
    let voice_file = voice_file(&args)?;
    let spec = RunSpec {
        levels,
        video_in: args.video_in,
        audio_in: args.audio_in,
        seconds: args.seconds,
        video_out: args.video_out,
        audio_out: args.audio_out,
        controls,
        lip_sync: !args.no_lip_sync,
        face,
        people,
        fetch_face_models: args.fetch_models,
        voice_file,
        transport: args.transport,
        ice: args.ice,
        ..RunSpec::new(servers)
    };
    // Sources and devices open first: a missing driver is reported, with its fix, before
    // servers start.
    let outcome = studio_run::run(config, spec, cancel_on_signal()).await;
    let Outcome { report, cloud } = outcome?;
    let mut json = serde_json::to_value(&report).context("encoding the report")?;
    if let Some(cloud) = &cloud {
        json["cloud"] = serde_json::to_value(cloud).context("encoding the report")?;
    }
    let json = serde_json::to_string_pretty(&json).context("encoding the report")?;
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
    let sync = &report.lip_sync;
    if let (Some(video), Some(audio)) = (sync.video.delay_ms, sync.audio.delay_ms) {
        println!(
            "lip sync {}: video leaves {video:.1} ms after capture, audio {audio:.1} ms (offset {:.1} ms)",
            if sync.enabled { "on" } else { "off" },
            sync.offset_ms
        );
    }
    if let Some(cloud) = &cloud {
        println!("{}", studio_run::cloud::summary(cloud));
    }
    Ok(())
}

/// A token cancelled on Ctrl-C or SIGTERM (call inside the runtime).
fn cancel_on_signal() -> CancellationToken {
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        interrupted().await;
        on_signal.cancel();
    });
    cancel
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
