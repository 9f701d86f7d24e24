//! `studio-server bench video`: the face swap's cost per stage at 1280×720 with one face, on
//! the chosen backend and models, as a table or JSON (the app's `studio bench video` runs this).
//! With `--occlusion` the occlusion mask is on, its model (`xseg_1.onnx`) read from the same
//! folder, and its cost shows as the `occlude` stage.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use studio_face::pipeline::{FaceEngine, FaceModels};
use studio_infer::{BackendChoice, ModelOptions};
use studio_media::engine::{VideoProcessor, VideoSetting};
use studio_media::{Timestamp, VideoFrame};

/// What `bench video` measures, and on what.
#[derive(Debug, Clone)]
pub struct VideoBenchArgs {
    /// `ort`, `tract` or `auto`.
    pub backend: String,
    /// `standin`, `standin-full` or a folder holding the three models.
    pub models: String,
    /// Frames to time (after one warm-up frame).
    pub frames: u32,
    /// Run the detector every this many frames (config `face.detect_every` when `None`).
    pub detect_every: Option<u32>,
    /// Turn the occlusion mask on (its model `xseg_1.onnx` beside the others).
    pub occlusion: bool,
    /// The swapper's file in the models folder (`inswapper_128.onnx` when `None`); a SimSwap
    /// takes `crossface_simswap.onnx` from the same folder.
    pub swapper: Option<String>,
    /// The pixel boost (1, 2 or 4).
    pub pixel_boost: u32,
    pub json: bool,
}

fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The folder holding the three models (and the occlusion model, with `occlusion`) for
/// `--models`.
fn models_dir(spec: &str, occlusion: bool) -> Result<PathBuf> {
    match spec {
        "standin" => Ok(repo_dir().join("crates/face/tests/models")),
        "standin-full" => {
            let cache = studio_models::resolve_cache_dir(None)
                .context("no cache folder for the full-size stand-ins")?;
            let dir = cache.join("standin-full");
            let wanted = ["inswapper_128.onnx"]
                .into_iter()
                .chain(occlusion.then_some("xseg_1.onnx"));
            if !wanted.into_iter().all(|f| dir.join(f).is_file()) {
                eprintln!(
                    "generating full-size stand-in models in {} (about 800 MB, a minute)…",
                    dir.display()
                );
                let script = repo_dir().join("tools/standin/make_standins.py");
                let status = std::process::Command::new("python3")
                    .arg(&script)
                    .args(["--size", "full", "--out"])
                    .arg(&dir)
                    .status()
                    .with_context(|| format!("running python3 {}", script.display()))?;
                if !status.success() {
                    bail!(
                        "{} failed ({status}); it needs numpy and onnx (pip install -r tools/standin/requirements.txt)",
                        script.display()
                    );
                }
            }
            Ok(dir)
        }
        dir => Ok(PathBuf::from(dir)),
    }
}

fn backend(s: &str) -> Result<BackendChoice> {
    Ok(match s {
        "auto" => BackendChoice::Auto,
        "ort" => BackendChoice::Ort,
        "tract" => BackendChoice::Tract,
        other => bail!("--backend is ort, tract or auto, not {other:?}"),
    })
}

pub fn run(config: &studio_proto::config::Config, args: &VideoBenchArgs) -> Result<()> {
    let dir = models_dir(&args.models, args.occlusion)?;
    let options = ModelOptions {
        backend: backend(&args.backend)?,
        ..crate::engine::model_options(studio_proto::Role::Video, config)
    };
    let load = Instant::now();
    let swapper = dir.join(args.swapper.as_deref().unwrap_or("inswapper_128.onnx"));
    let converter = dir.join("crossface_simswap.onnx");
    let models = FaceModels::load_with_converter(
        &dir.join("det_10g.onnx"),
        &dir.join("w600k_r50.onnx"),
        &swapper,
        converter.is_file().then_some(converter.as_path()),
        &options,
    )
    .with_context(|| format!("loading the face models from {}", dir.display()))?;
    let load_ms = load.elapsed().as_secs_f64() * 1000.0;
    let engine = Arc::new(FaceEngine::new(
        models,
        args.detect_every.unwrap_or(config.face.detect_every),
    ));
    if args.occlusion {
        let path = dir.join(format!("{}.onnx", studio_proto::config::OCCLUSION_MODEL_ID));
        let occluder = studio_face::occlusion::Occluder::load(&path, &options)
            .with_context(|| format!("loading the occlusion model {}", path.display()))?;
        engine.set_occluder(Some(occluder));
    }
    let backends = engine.backends();
    let swapper = engine.swapper_spec().describe();
    // One face clear of the frame's edges, as in a call. The processor swaps (and follows)
    // only the largest face the detector finds; the stand-ins also answer elsewhere.
    let img = studio_face::standin::one_face(1280, 720);
    let embed = Instant::now();
    let target = engine
        .add_face(&img)
        .context("finding the source face in the bench picture")?;
    let embed_once_ms = embed.elapsed().as_secs_f64() * 1000.0;
    let (faces_found, face_box) = (target.faces_found, target.bbox);
    let mut p = engine.processor();
    p.apply(&VideoSetting::Face(Some(target.id)))
        .map_err(anyhow::Error::msg)?;
    p.apply(&VideoSetting::Occlusion(args.occlusion))
        .map_err(anyhow::Error::msg)?;
    p.apply(&VideoSetting::PixelBoost(args.pixel_boost))
        .map_err(|e| anyhow::anyhow!("--pixel-boost: {e}"))?;
    let frame = |seq: u64| VideoFrame {
        seq,
        capture: Timestamp(seq * 33_333),
        image: img.to_i420(),
    };
    // Warm-up: first runs allocate and (tract) optimise for the shapes.
    p.process(frame(0));
    let warm = p.times().clone();
    let start = Instant::now();
    for seq in 1..=u64::from(args.frames.max(1)) {
        let out = p.process(frame(seq));
        if let Some(e) = p.last_error() {
            bail!("frame {}: {e}", out.seq);
        }
    }
    let wall = start.elapsed();
    let mut t = p.times().clone();
    // Per-frame figures exclude the warm-up frame.
    t.frames -= warm.frames;
    for (a, b) in [
        (&mut t.decode, warm.decode),
        (&mut t.detect, warm.detect),
        (&mut t.align, warm.align),
        (&mut t.embed, warm.embed),
        (&mut t.occlude, warm.occlude),
        (&mut t.swap, warm.swap),
        (&mut t.blend, warm.blend),
        (&mut t.encode, warm.encode),
        (&mut t.networks, warm.networks),
        (&mut t.detect_network, warm.detect_network),
    ] {
        *a = a.saturating_sub(b);
    }
    let frames = t.frames.max(1) as f64;
    let fps = frames / wall.as_secs_f64();
    let total_ms = t.total().as_secs_f64() * 1000.0 / frames;
    let networks_ms = t.networks.as_secs_f64() * 1000.0 / frames;
    let outside_ms = (total_ms - networks_ms).max(0.0);
    let outside = if total_ms > 0.0 {
        outside_ms / total_ms
    } else {
        0.0
    };
    let stages = t.per_frame_ms();
    let outside_stages = t.per_frame_outside_ms();
    if args.json {
        let mut obj = serde_json::Map::new();
        obj.insert("fps".into(), fps.into());
        for (name, ms) in &stages {
            obj.insert((*name).into(), (*ms).into());
        }
        obj.insert("frames".into(), t.frames.into());
        obj.insert("width".into(), 1280.into());
        obj.insert("height".into(), 720.into());
        obj.insert("networks_ms".into(), networks_ms.into());
        obj.insert("outside_networks_ms".into(), outside_ms.into());
        let per_stage: serde_json::Map<String, serde_json::Value> = outside_stages
            .iter()
            .map(|(name, ms)| ((*name).to_string(), (*ms).into()))
            .collect();
        obj.insert("outside_networks_per_stage_ms".into(), per_stage.into());
        obj.insert("outside_networks_share".into(), outside.into());
        obj.insert("faces_found".into(), faces_found.into());
        obj.insert(
            "face_box".into(),
            face_box
                .iter()
                .map(|&v| f64::from(v))
                .collect::<Vec<_>>()
                .into(),
        );
        obj.insert("source_embed_once_ms".into(), embed_once_ms.into());
        obj.insert("load_ms".into(), load_ms.into());
        obj.insert("backends".into(), backends.into());
        obj.insert("swapper".into(), swapper.into());
        obj.insert("pixel_boost".into(), args.pixel_boost.into());
        obj.insert("models".into(), dir.display().to_string().into());
        println!("{}", serde_json::Value::Object(obj));
    } else {
        println!(
            "face swap, 1280x720, one face, {} frames ({})",
            t.frames, backends
        );
        println!("models: {}", display(&dir));
        println!("swapper: {swapper}, pixel boost ×{}", args.pixel_boost);
        let [x0, y0, x1, y1] = face_box;
        println!(
            "swapped: the largest of {faces_found} faces found, {:.0}x{:.0} px at ({x0:.0}, {y0:.0})",
            x1 - x0,
            y1 - y0
        );
        println!("  stage          ms/frame   outside the networks");
        for ((name, ms), (_, outside)) in stages.iter().zip(&outside_stages) {
            println!("  {name:<7} {ms:13.2} {outside:13.2}");
        }
        println!(
            "  total   {total_ms:9.2} ms/frame, {fps:.2} fps; networks {networks_ms:.2} ms, outside them {outside_ms:.2} ms ({:.1}%)",
            outside * 100.0
        );
        println!(
            "  source embedding (once per target face): {embed_once_ms:.1} ms; load {load_ms:.0} ms"
        );
    }
    Ok(())
}

fn display(p: &Path) -> String {
    p.canonicalize()
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}
