//! `studio-server bench video`: the face swap's cost per stage at 1280×720 with one face (or
//! `--faces N`, all swapped), on the chosen backend and models, as a table or JSON (the app's
//! `studio bench video` runs this). With `--occlusion` the occlusion mask is on, its model
//! (`xseg_1.onnx`) read from the same folder, and its cost shows as the `occlude` stage; with
//! `--region-mask` the face parser (`bisenet_resnet_34.onnx`) runs, shown as `parse`; with
//! `--enhancer NAME` that face enhancer (`NAME.onnx`) restores each swapped face, shown as
//! `enhance` (its network every `--enhance-every` frames, by default as often as a `--fps` camera allows). With `--device-graphs` the same session
//! runs a second time with its pre- and post-processing as graphs on the models' backend and
//! device (`studio_face::device_path`), and both are printed with the graphs' time per stage
//! as a share of the CPU path's.

use crate::face_masks::MaskModel;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use studio_face::pipeline::{FaceEngine, FaceModels, MAX_FACES, StageTimes};
use studio_infer::{BackendChoice, ModelOptions};
use studio_media::engine::{EnhancerPace, VideoProcessor, VideoSetting};
use studio_media::{Timestamp, VideoFrame};
use studio_proto::control::EnhanceEvery;

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
    /// Detect ahead of the swap (config `face.detect_ahead` when `None`).
    pub detect_ahead: Option<bool>,
    /// Turn the occlusion mask on (its model `xseg_1.onnx` beside the others).
    pub occlusion: bool,
    /// Turn the region mask on (its face parser `bisenet_resnet_34.onnx` beside the others).
    pub region_mask: bool,
    /// Turn this face enhancer on (its model `<id>.onnx` beside the others).
    pub enhancer: Option<String>,
    /// The enhancer's strength, 0 to 100.
    pub enhance_strength: u8,
    /// Run the enhancer's network every this many frames, or as often as `fps` allows.
    pub enhance_every: EnhanceEvery,
    /// The camera's frame rate the frames are stamped with: the automatic enhancer rate's
    /// budget.
    pub fps: u32,
    /// Faces in the picture, all of them swapped (1 to [`MAX_FACES`]).
    pub faces: u32,
    /// Also time the session with its pre- and post-processing as graphs.
    pub device_graphs: bool,
    /// The bound detector and swapper replay CUDA graphs where they can.
    pub cuda_graphs: bool,
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

/// The folder holding the three models (and the mask models asked for) for `--models`.
fn models_dir(spec: &str, masks: &[MaskModel]) -> Result<PathBuf> {
    match spec {
        "standin" => Ok(repo_dir().join("crates/face/tests/models")),
        "standin-full" => {
            let cache = studio_models::resolve_cache_dir(None)
                .context("no cache folder for the full-size stand-ins")?;
            let dir = cache.join("standin-full");
            let wanted = std::iter::once("inswapper_128".to_string())
                .chain(masks.iter().map(|m| m.id().to_string()));
            if !wanted
                .into_iter()
                .all(|id| dir.join(format!("{id}.onnx")).is_file())
            {
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
    let wanted = args.faces as usize;
    if !(1..=MAX_FACES).contains(&wanted) {
        bail!("--faces is 1 to {MAX_FACES}, not {}", args.faces);
    }
    let enhancer = match args.enhancer.as_deref() {
        None => None,
        Some(id) => Some(MaskModel::enhancer(id).with_context(|| {
            format!("--enhancer is gfpgan_1.4, gpen_bfr_256 or gpen_bfr_512, not {id:?}")
        })?),
    };
    args.enhance_every
        .check()
        .map_err(|e| anyhow::anyhow!("--enhance-every: {e}"))?;
    if args.enhance_strength > 100 {
        bail!("--enhance-strength is 0 to 100");
    }
    if !(1..=240).contains(&args.fps) {
        bail!("--fps is 1 to 240, not {}", args.fps);
    }
    let masks: Vec<MaskModel> = [
        (MaskModel::Occlusion, args.occlusion),
        (MaskModel::Regions, args.region_mask),
    ]
    .into_iter()
    .filter_map(|(mask, on)| on.then_some(mask))
    .chain(enhancer)
    .collect();
    let dir = models_dir(&args.models, &masks)?;
    let options = ModelOptions {
        backend: backend(&args.backend)?,
        cuda_graphs: args.cuda_graphs,
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
    for mask in &masks {
        let path = dir.join(format!("{}.onnx", mask.id()));
        mask.load(&path, &options)
            .with_context(|| format!("loading the {} model {}", mask.mask(), path.display()))?
            .give_to(&engine);
    }
    let detect_ahead = args.detect_ahead.unwrap_or(config.face.detect_ahead);
    engine.set_detect_ahead(detect_ahead);
    let backends = engine.backends();
    let bound_io = engine.bound_io();
    let swapper = engine.swapper_spec().describe();
    // Faces clear of the frame's edges, as in a call. The processor swaps (and follows) only
    // the largest faces the detector finds, as many as were drawn; the stand-ins also answer
    // elsewhere.
    let img = studio_face::standin::faces(1280, 720, args.faces);
    let embed = Instant::now();
    let target = engine
        .add_face(&img)
        .context("finding the source face in the bench picture")?;
    let embed_once_ms = embed.elapsed().as_secs_f64() * 1000.0;
    let faces_found = target.faces_found;
    // Without `--device-graphs` the session runs as the server would run it; with it, the
    // CPU path first, then the graphs.
    let graphs = args
        .device_graphs
        .then(|| engine.device_graphs().unwrap_or_else(|| options.clone()));
    if args.device_graphs {
        engine.set_device_graphs(None);
    }
    let Timed {
        times: t,
        wall,
        boxes,
        pace,
        ..
    } = time_session(&engine, &target.id, args, &img)?;
    let on_graphs = match graphs {
        Some(graph_options) => {
            engine.set_device_graphs(Some(graph_options));
            let g = time_session(&engine, &target.id, args, &img)?;
            let on = g.graphs_on.unwrap_or_else(|| "not loaded".into());
            Some((g.times, g.wall, on))
        }
        None => None,
    };
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
        obj.insert("enhance_runs".into(), t.enhance_runs.into());
        if let Some(pace) = &pace {
            // The N the session settled on, and whether it picked it for `--fps`.
            obj.insert("enhance_every".into(), pace.every.into());
            obj.insert("enhance_every_auto".into(), pace.automatic.into());
            obj.insert("enhance_limit".into(), pace.limit.clone().into());
        }
        obj.insert("camera_fps".into(), args.fps.into());
        obj.insert("detect_ahead".into(), detect_ahead.into());
        // Of the `detect` stage, what the detector spent on its own thread while frames
        // went on.
        obj.insert(
            "detect_overlapped_ms".into(),
            (t.detect_overlapped.as_secs_f64() * 1000.0 / frames).into(),
        );
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
        let as_json = |b: &[f32; 4]| b.iter().map(|&v| f64::from(v)).collect::<Vec<_>>();
        obj.insert("faces_swapped".into(), boxes.len().into());
        obj.insert("face_box".into(), as_json(&boxes[0]).into());
        obj.insert(
            "face_boxes".into(),
            boxes.iter().map(as_json).collect::<Vec<_>>().into(),
        );
        obj.insert("source_embed_once_ms".into(), embed_once_ms.into());
        obj.insert("load_ms".into(), load_ms.into());
        obj.insert("backends".into(), backends.into());
        obj.insert("bound_io".into(), bound_io.into());
        obj.insert("swapper".into(), swapper.into());
        obj.insert("pixel_boost".into(), args.pixel_boost.into());
        obj.insert("models".into(), dir.display().to_string().into());
        if let Some((g, g_wall, on)) = &on_graphs {
            let mut graphs = serde_json::Map::new();
            graphs.insert("on".into(), on.clone().into());
            graphs.insert("fps".into(), (per_frame(g) / g_wall.as_secs_f64()).into());
            let mut ratios = serde_json::Map::new();
            for (name, ms, ratio) in compared(&t, g) {
                graphs.insert(name.into(), ms.into());
                ratios.insert(name.into(), ratio.into());
            }
            graphs.insert("ratio_to_cpu_path".into(), ratios.into());
            obj.insert("device_graphs".into(), graphs.into());
        }
        println!("{}", serde_json::Value::Object(obj));
    } else {
        println!(
            "face swap, 1280x720, {wanted} face{}, {} frames ({})",
            if wanted == 1 { "" } else { "s" },
            t.frames,
            backends
        );
        println!("models: {}", display(&dir));
        println!("bound inputs and outputs: {bound_io}");
        println!("swapper: {swapper}, pixel boost ×{}", args.pixel_boost);
        let sizes: Vec<String> = boxes
            .iter()
            .map(|[x0, y0, x1, y1]| {
                format!("{:.0}x{:.0} px at ({x0:.0}, {y0:.0})", x1 - x0, y1 - y0)
            })
            .collect();
        println!(
            "swapped: the largest {} of {faces_found} faces found: {}",
            boxes.len(),
            sizes.join(", ")
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
        println!(
            "  detection ahead {}: {:.2} ms/frame of detect on its own thread",
            if detect_ahead { "on" } else { "off" },
            t.detect_overlapped.as_secs_f64() * 1000.0 / frames
        );
        if let Some(id) = &args.enhancer {
            println!(
                "  enhancer {id}: network {} times in {} frames, strength {}",
                t.enhance_runs, t.frames, args.enhance_strength
            );
        }
        if let Some(pace) = &pace {
            let how = if pace.automatic {
                format!("chosen for a {} fps camera", args.fps)
            } else {
                "as asked".to_string()
            };
            println!("  enhancer every {} frames, {how}", pace.every);
            if let Some(limit) = &pace.limit {
                println!("  {limit}");
            }
        }
        if let Some((g, g_wall, on)) = &on_graphs {
            println!(
                "pre- and post-processing as graphs ({on}): {:.2} fps",
                per_frame(g) / g_wall.as_secs_f64()
            );
            println!("  stage          ms/frame   × the CPU path's");
            for (name, ms, ratio) in compared(&t, g) {
                println!("  {name:<7} {ms:13.2} {ratio:13.2}");
            }
        }
    }
    Ok(())
}

/// Frames timed, at least one.
fn per_frame(t: &StageTimes) -> f64 {
    t.frames.max(1) as f64
}

/// The graphs' ms per frame for each stage, the total and the time outside the networks,
/// each with its ratio to the CPU path's (0 where the CPU path spent nothing).
fn compared(cpu: &StageTimes, graphs: &StageTimes) -> Vec<(&'static str, f64, f64)> {
    let ms = |t: &StageTimes, d: std::time::Duration| d.as_secs_f64() * 1000.0 / per_frame(t);
    let outside = |t: &StageTimes| ms(t, t.total().saturating_sub(t.networks));
    let mut rows: Vec<(&'static str, f64, f64)> = graphs
        .per_frame_ms()
        .into_iter()
        .zip(cpu.per_frame_ms())
        .map(|((name, g), (_, c))| (name, g, c))
        .collect();
    rows.push(("total", ms(graphs, graphs.total()), ms(cpu, cpu.total())));
    rows.push(("outside", outside(graphs), outside(cpu)));
    rows.into_iter()
        .map(|(name, g, c)| (name, g, if c > 0.0 { g / c } else { 0.0 }))
        .collect()
}

/// What one timed session gave.
struct Timed {
    times: StageTimes,
    wall: std::time::Duration,
    /// Where its graphs ran, if they did.
    graphs_on: Option<String>,
    /// The boxes of the faces it swapped in its last frame.
    boxes: Vec<[f32; 4]>,
    /// How often the enhancer ran at the end, while one was on.
    pace: Option<EnhancerPace>,
}

/// One session's stage times over `args.frames` frames of `img` after a warm-up frame; an
/// error unless it swapped as many faces as `args.faces`.
fn time_session(
    engine: &Arc<FaceEngine>,
    target: &str,
    args: &VideoBenchArgs,
    img: &studio_media::RgbImage,
) -> Result<Timed> {
    let mut p = engine.processor();
    p.apply(&VideoSetting::Face(Some(target.to_string())))
        .map_err(anyhow::Error::msg)?;
    p.apply(&VideoSetting::Occlusion(args.occlusion))
        .map_err(anyhow::Error::msg)?;
    p.apply(&VideoSetting::RegionMask(args.region_mask))
        .map_err(anyhow::Error::msg)?;
    p.apply(&VideoSetting::PixelBoost(args.pixel_boost))
        .map_err(|e| anyhow::anyhow!("--pixel-boost: {e}"))?;
    p.apply(&VideoSetting::Enhancer(args.enhancer.clone()))
        .map_err(anyhow::Error::msg)?;
    p.apply(&VideoSetting::EnhancerStrength(args.enhance_strength))
        .map_err(anyhow::Error::msg)?;
    p.apply(&VideoSetting::EnhanceEvery(args.enhance_every.frames()))
        .map_err(anyhow::Error::msg)?;
    p.set_max_faces(args.faces as usize);
    let interval_us = 1_000_000 / u64::from(args.fps.max(1));
    let frame = |seq: u64| VideoFrame {
        seq,
        capture: Timestamp(seq * interval_us),
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
    let boxes: Vec<[f32; 4]> = p.faces().iter().map(|f| f.bbox).collect();
    if boxes.len() != args.faces as usize {
        bail!(
            "the detector gave {} of the {} faces drawn; nothing to compare",
            boxes.len(),
            args.faces
        );
    }
    // Per-frame figures exclude the warm-up frame.
    let t = p.times().since(&warm);
    let on = p
        .device_graphs()
        .map(|b| format!("{}/{} on {}", b.backend, b.provider, b.device));
    Ok(Timed {
        times: t,
        wall,
        graphs_on: on,
        boxes,
        pace: p.enhancer_pace(),
    })
}

fn display(p: &Path) -> String {
    p.canonicalize()
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}
