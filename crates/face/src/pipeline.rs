//! The per-frame face swap: decode (I420 → RGB), detect (every N frames, following faces in
//! between), align, swap, blend inside each face's box, and encode only the changed pixels
//! back into the I420 frame, so everything outside the faces' boxes leaves bit for bit as it
//! came. Target identities are uploaded once into a shared library and chosen live.

use crate::detect_ahead::{DetectAhead, Found, Input, Job};
use crate::device_path::DevicePath;
use crate::enhance::{self, Enhancer, EnhancerKind};
use crate::enhance_pace::EnhancePace;
pub use crate::enhance_pace::MAX_ENHANCE_EVERY;
use crate::keep::Keep;
use crate::mapping;
use crate::models::{Detector, Embedder, ModelError, Swapper};
use crate::mouth::MouthMask;
use crate::occlusion::{CropMasker, Occluder, OcclusionMask};
use crate::parser::FaceParser;
use crate::smooth::Smoother;
use crate::swapper::PixelBoost;
use crate::track::Tracker;
use crate::{Detection, FaceError, align, blend, detect};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use studio_infer::ModelOptions;
use studio_media::engine::{EnhancerPace, VideoProcessor, VideoSetting};
use studio_media::{I420Image, RgbImage, Timestamp, VideoFrame, rgb_block_to_i420};

/// The three networks, loaded once per server and shared by its sessions. The detector has a
/// lock of its own, so a session's detection ahead runs while the swapper swaps.
pub struct FaceModels {
    pub detector: Arc<Mutex<Detector>>,
    pub embedder: Embedder,
    pub swapper: Swapper,
}

impl FaceModels {
    /// Loads `det_10g.onnx`, `w600k_r50.onnx` and `inswapper_128.onnx` from their paths.
    pub fn load(
        detector: &Path,
        embedder: &Path,
        swapper: &Path,
        options: &ModelOptions,
    ) -> Result<FaceModels, ModelError> {
        Ok(FaceModels {
            detector: Arc::new(Mutex::new(Detector::load(detector, options)?)),
            embedder: Embedder::load(embedder, options)?,
            swapper: Swapper::load(swapper, options)?,
        })
    }

    /// The detector, the embedder and any swapper this engine runs, with the embedding
    /// converter the swapper's family needs (SimSwap's `crossface_simswap`).
    pub fn load_with_converter(
        detector: &Path,
        embedder: &Path,
        swapper: &Path,
        converter: Option<&Path>,
        options: &ModelOptions,
    ) -> Result<FaceModels, ModelError> {
        Ok(FaceModels {
            detector: Arc::new(Mutex::new(Detector::load(detector, options)?)),
            embedder: Embedder::load(embedder, options)?,
            swapper: Swapper::load_with_converter(swapper, converter, options)?,
        })
    }

    /// The same three files by their usual names in one folder.
    pub fn load_dir(dir: &Path, options: &ModelOptions) -> Result<FaceModels, ModelError> {
        FaceModels::load(
            &dir.join("det_10g.onnx"),
            &dir.join("w600k_r50.onnx"),
            &dir.join("inswapper_128.onnx"),
            options,
        )
    }
}

/// A target identity uploaded through `POST /v1/faces`.
#[derive(Debug, Clone)]
pub struct TargetFace {
    pub id: String,
    /// Where the face was found in the uploaded image.
    pub bbox: [f32; 4],
    /// How many faces the image held (the largest was used).
    pub faces_found: usize,
    /// The swapper's `source` input for this identity.
    latent: Arc<Vec<f32>>,
    /// The embedder's vector, from which another swapper's `source` input is made, and which
    /// (normed) says who the face is, for face mapping.
    embedding: Arc<Vec<f32>>,
}

/// Why an uploaded image gave no target face.
#[derive(Debug, thiserror::Error)]
pub enum AddFaceError {
    #[error("no face found in the image")]
    NoFace,
    #[error("{0}")]
    Model(#[from] ModelError),
}

/// Models plus the library of target faces: one per server.
pub struct FaceEngine {
    models: Mutex<FaceModels>,
    /// The occlusion model (XSeg), optional: without it the occlusion mask is not applied.
    occluder: Mutex<Option<Occluder>>,
    /// The face parser (BiSeNet), optional: without it the region mask is not applied.
    parser: Mutex<Option<FaceParser>>,
    /// While a half-precision swapper runs, the full-precision one it replaced: taken back
    /// when the half-precision one gives values that are not numbers.
    full_precision: Mutex<Option<Swapper>>,
    /// The face enhancers there are (each optional, at most one of each kind): a session
    /// that chose one uses it while it is here.
    enhancers: Mutex<Vec<Enhancer>>,
    faces: Mutex<HashMap<String, TargetFace>>,
    detect_every: u32,
    /// Whether new sessions detect ahead ([`FaceSwapProcessor::set_detect_ahead`]).
    detect_ahead: std::sync::atomic::AtomicBool,
    next_id: Mutex<u64>,
    /// Where new sessions run their pre- and post-processing graphs (`device_path`); `None`
    /// runs the CPU path.
    device_graphs: Mutex<Option<ModelOptions>>,
    /// Counts swapper changes (changed with the models locked), so sessions know when their
    /// identity vector is another swapper's.
    swapper_generation: std::sync::atomic::AtomicU64,
}

/// Locks that survive a panicked holder: the data is plain values, never half-written.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FaceEngine {
    pub fn new(models: FaceModels, detect_every: u32) -> FaceEngine {
        let device_graphs = DevicePath::options_for(lock(&models.detector).model().backend());
        FaceEngine {
            device_graphs: Mutex::new(device_graphs),
            models: Mutex::new(models),
            occluder: Mutex::new(None),
            parser: Mutex::new(None),
            full_precision: Mutex::new(None),
            enhancers: Mutex::new(Vec::new()),
            faces: Mutex::new(HashMap::new()),
            detect_every,
            detect_ahead: std::sync::atomic::AtomicBool::new(false),
            next_id: Mutex::new(1),
            swapper_generation: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// `backend/provider` of each network, for status.
    pub fn backends(&self) -> String {
        let m = lock(&self.models);
        let b = |i: &studio_infer::BackendInfo| format!("{}/{}", i.backend, i.provider);
        let mut out = format!(
            "detector {}, embedder {}, swapper {} ({})",
            b(lock(&m.detector).model().backend()),
            b(m.embedder.model().backend()),
            b(m.swapper.model().backend()),
            m.swapper.spec().describe()
        );
        if let Some(o) = lock(&self.occluder).as_ref() {
            out.push_str(&format!(", occluder {}", b(o.model().backend())));
        }
        if let Some(p) = lock(&self.parser).as_ref() {
            out.push_str(&format!(", parser {}", b(p.model().backend())));
        }
        for e in lock(&self.enhancers).iter() {
            out.push_str(&format!(
                ", enhancer {} {}",
                e.kind().id(),
                b(e.model().backend())
            ));
        }
        if let Some(o) = lock(&self.device_graphs).as_ref() {
            out.push_str(&format!(
                ", pre- and post-processing graphs on {}",
                o.device
            ));
        }
        out
    }

    /// Where the detector's and the swapper's bound inputs and outputs live, in words (host
    /// memory, pinned host memory, device buffers replaying CUDA graphs, and why not where
    /// they were asked for), for the bench.
    pub fn bound_io(&self) -> String {
        let m = lock(&self.models);
        let detector = lock(&m.detector).placement().to_string();
        format!("detector: {detector}; swapper: {}", m.swapper.placement())
    }

    /// Whether sessions made from now on detect ahead of the swap (off by default; see
    /// [`FaceSwapProcessor::set_detect_ahead`]).
    pub fn set_detect_ahead(&self, on: bool) {
        self.detect_ahead
            .store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether new sessions detect ahead.
    pub fn detect_ahead(&self) -> bool {
        self.detect_ahead.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// What the loaded swapper is (family, size, normalisation).
    pub fn swapper_spec(&self) -> crate::swapper::SwapperSpec {
        lock(&self.models).swapper.spec().clone()
    }

    /// Give the engine its occlusion model (it may come after the engine, or never), or take
    /// it away. Sessions with the occlusion mask on use it from their next frame.
    pub fn set_occluder(&self, occluder: Option<Occluder>) {
        *lock(&self.occluder) = occluder;
    }

    /// Run the pre- and post-processing of sessions made from now on as graphs with
    /// `options` (on by default where the detector runs on a GPU), or on the CPU (`None`).
    pub fn set_device_graphs(&self, options: Option<ModelOptions>) {
        *lock(&self.device_graphs) = options;
    }

    /// Where new sessions run their pre- and post-processing graphs, if they do.
    pub fn device_graphs(&self) -> Option<ModelOptions> {
        lock(&self.device_graphs).clone()
    }

    /// Whether the occlusion model is there.
    pub fn has_occluder(&self) -> bool {
        lock(&self.occluder).is_some()
    }

    /// Give the engine its face parser (it may come after the engine, or never), or take it
    /// away. Sessions with the region mask on use it from their next frame.
    pub fn set_parser(&self, parser: Option<FaceParser>) {
        *lock(&self.parser) = parser;
    }

    /// Whether the face parser is there.
    pub fn has_parser(&self) -> bool {
        lock(&self.parser).is_some()
    }

    /// Give the engine a face enhancer (each may come after the engine, or never), replacing
    /// one of the same kind. Sessions that chose its kind use it from their next frame.
    pub fn add_enhancer(&self, enhancer: Enhancer) {
        let mut all = lock(&self.enhancers);
        all.retain(|e| e.kind() != enhancer.kind());
        all.push(enhancer);
    }

    /// Take the enhancer of `kind` away.
    pub fn remove_enhancer(&self, kind: EnhancerKind) {
        lock(&self.enhancers).retain(|e| e.kind() != kind);
    }

    /// Whether the enhancer of `kind` is there.
    pub fn has_enhancer(&self, kind: EnhancerKind) -> bool {
        lock(&self.enhancers).iter().any(|e| e.kind() == kind)
    }

    /// Find the largest face in `img`, embed it and keep it under a new id.
    pub fn add_face(&self, img: &RgbImage) -> Result<TargetFace, AddFaceError> {
        let mut models = lock(&self.models);
        let faces = lock(&models.detector).detect(img)?;
        let face = *detect::largest(&faces).ok_or(AddFaceError::NoFace)?;
        let embedding = models.embedder.embed_raw(img, &face)?;
        let latent = models.swapper.source_latent(&embedding)?;
        // The face goes in with the models still held, so a swapper change cannot come in
        // between and leave it with the old swapper's vector.
        let id = {
            let mut n = lock(&self.next_id);
            let id = format!("face-{}", *n);
            *n += 1;
            id
        };
        let target = TargetFace {
            id: id.clone(),
            bbox: face.bbox,
            faces_found: faces.len(),
            latent: Arc::new(latent),
            embedding: Arc::new(embedding),
        };
        lock(&self.faces).insert(id, target.clone());
        drop(models);
        Ok(target)
    }

    /// Run another swapper from the next frame on, in every session: each target face gets
    /// this swapper's identity vector first, so a swapper that cannot make one changes
    /// nothing.
    pub fn set_swapper(&self, swapper: Swapper) -> Result<(), ModelError> {
        let mut models = lock(&self.models);
        let previous = self.install_swapper(&mut models, swapper)?;
        let mut full = lock(&self.full_precision);
        if !is_half(&models.swapper) {
            *full = None;
        } else if !is_half(&previous) {
            *full = Some(previous);
        }
        Ok(())
    }

    /// `swapper` in place of the models' one, each target face's vector made for it first;
    /// the swapper it replaced.
    fn install_swapper(
        &self,
        models: &mut FaceModels,
        mut swapper: Swapper,
    ) -> Result<Swapper, ModelError> {
        let mut faces = lock(&self.faces);
        let mut latents = Vec::with_capacity(faces.len());
        for (id, face) in faces.iter() {
            latents.push((id.clone(), swapper.source_latent(&face.embedding)?));
        }
        for (id, latent) in latents {
            if let Some(face) = faces.get_mut(&id) {
                face.latent = Arc::new(latent);
            }
        }
        let previous = std::mem::replace(&mut models.swapper, swapper);
        self.swapper_generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(previous)
    }

    /// Back to the full-precision swapper a half-precision one replaced (its answers were
    /// not numbers); whether there was one.
    fn restore_full_precision(&self, models: &mut FaceModels) -> Result<bool, ModelError> {
        let Some(full) = lock(&self.full_precision).take() else {
            return Ok(false);
        };
        self.install_swapper(models, full)?;
        Ok(true)
    }

    pub fn face(&self, id: &str) -> Option<TargetFace> {
        lock(&self.faces).get(id).cloned()
    }

    /// A processor for one session.
    pub fn processor(self: &Arc<Self>) -> FaceSwapProcessor {
        FaceSwapProcessor {
            engine: Arc::clone(self),
            tracker: Tracker::new(self.detect_every),
            detect_ahead: self.detect_ahead(),
            ahead: None,
            epoch: 0,
            smoother: Smoother::default(),
            smoothing: true,
            mouth_mask: false,
            occlusion: false,
            colour_transfer: true,
            region_mask: false,
            enhancer: None,
            enhance_strength: enhance::DEFAULT_STRENGTH,
            enhance_every: None,
            pace: EnhancePace::new(),
            enhance_frame: 0,
            enhanced: Vec::new(),
            max_faces: 1,
            pixel_boost: PixelBoost::X1,
            faces: Vec::new(),
            paste: blend::PasteBack::new(),
            rgb: RgbImage::new(0, 0),
            latent: None,
            people: Vec::new(),
            wears: Vec::new(),
            face_id: None,
            generation: self
                .swapper_generation
                .load(std::sync::atomic::Ordering::SeqCst),
            times: StageTimes::default(),
            last_error: None,
            device: self.device_graphs().map(|options| {
                let m = lock(&self.models);
                DevicePath::new(options, lock(&m.detector).input_size(), m.swapper.size())
            }),
        }
    }
}

/// Time spent per stage over the frames processed so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageTimes {
    pub frames: u64,
    pub decode: Duration,
    pub detect: Duration,
    pub align: Duration,
    pub embed: Duration,
    pub swap: Duration,
    /// The occlusion mask: its network and post-processing.
    pub occlude: Duration,
    /// The region mask: the face parser's network and post-processing.
    pub parse: Duration,
    pub blend: Duration,
    pub encode: Duration,
    /// Of the above, the time inside the networks themselves.
    pub networks: Duration,
    /// Of `networks`, the detector's.
    pub detect_network: Duration,
    /// Of `detect`, the time the detector worked on its own thread while frames went on
    /// (detection ahead): counted in `detect` but not spent on the frames' thread.
    pub detect_overlapped: Duration,
    /// Of `networks`, the occlusion model's.
    pub occlude_network: Duration,
    /// Of `networks`, the face parser's.
    pub parse_network: Duration,
    /// The face enhancer: its crop, network (or the reuse of its last answer) and paste.
    pub enhance: Duration,
    /// Of `networks`, the face enhancer's (the rest is the swapper's).
    pub enhance_network: Duration,
    /// How many faces the enhancer's network restored (the others reused its answer).
    pub enhance_runs: u64,
}

impl StageTimes {
    /// What was spent after `earlier` (this processor's times at some earlier point).
    pub fn since(&self, earlier: &StageTimes) -> StageTimes {
        let d = |a: Duration, b: Duration| a.saturating_sub(b);
        StageTimes {
            frames: self.frames.saturating_sub(earlier.frames),
            decode: d(self.decode, earlier.decode),
            detect: d(self.detect, earlier.detect),
            align: d(self.align, earlier.align),
            embed: d(self.embed, earlier.embed),
            swap: d(self.swap, earlier.swap),
            occlude: d(self.occlude, earlier.occlude),
            parse: d(self.parse, earlier.parse),
            blend: d(self.blend, earlier.blend),
            encode: d(self.encode, earlier.encode),
            networks: d(self.networks, earlier.networks),
            detect_network: d(self.detect_network, earlier.detect_network),
            detect_overlapped: d(self.detect_overlapped, earlier.detect_overlapped),
            occlude_network: d(self.occlude_network, earlier.occlude_network),
            parse_network: d(self.parse_network, earlier.parse_network),
            enhance: d(self.enhance, earlier.enhance),
            enhance_network: d(self.enhance_network, earlier.enhance_network),
            enhance_runs: self.enhance_runs.saturating_sub(earlier.enhance_runs),
        }
    }

    pub fn total(&self) -> Duration {
        self.decode
            + self.detect
            + self.align
            + self.embed
            + self.occlude
            + self.swap
            + self.parse
            + self.blend
            + self.enhance
            + self.encode
    }

    /// `(name, milliseconds per frame outside the networks)` in pipeline order: the stages
    /// less the time the detector, the occlusion model and the swapper spent inside their
    /// networks.
    pub fn per_frame_outside_ms(&self) -> Vec<(&'static str, f64)> {
        let n = self.frames.max(1) as f64;
        let ms = |d: Duration| d.as_secs_f64() * 1000.0 / n;
        let swap_network = self
            .networks
            .saturating_sub(self.detect_network)
            .saturating_sub(self.occlude_network)
            .saturating_sub(self.parse_network)
            .saturating_sub(self.embed)
            .saturating_sub(self.enhance_network);
        self.per_frame_ms()
            .into_iter()
            .map(|(name, v)| match name {
                "detect" => (name, (v - ms(self.detect_network)).max(0.0)),
                "occlude" => (name, (v - ms(self.occlude_network)).max(0.0)),
                "parse" => (name, (v - ms(self.parse_network)).max(0.0)),
                // Face mapping's embedder, counted whole as network time.
                "embed" => (name, 0.0),
                "enhance" => (name, (v - ms(self.enhance_network)).max(0.0)),
                "swap" => (name, (v - ms(swap_network)).max(0.0)),
                _ => (name, v),
            })
            .collect()
    }

    /// `(name, milliseconds per frame)` in pipeline order.
    pub fn per_frame_ms(&self) -> Vec<(&'static str, f64)> {
        let n = self.frames.max(1) as f64;
        let ms = |d: Duration| d.as_secs_f64() * 1000.0 / n;
        vec![
            ("decode", ms(self.decode)),
            ("detect", ms(self.detect)),
            ("align", ms(self.align)),
            ("embed", ms(self.embed)),
            ("occlude", ms(self.occlude)),
            ("swap", ms(self.swap)),
            ("parse", ms(self.parse)),
            ("blend", ms(self.blend)),
            ("enhance", ms(self.enhance)),
            ("encode", ms(self.encode)),
        ]
    }
}

/// The most faces one frame swaps when every face is asked for: each costs a swap on every
/// frame, so an unbounded crowd (or a detector answering a patterned wall with dozens of
/// faces) would stall the stream.
pub const MAX_FACES: usize = 8;

/// Swaps the largest face in each frame to the chosen identity (as Deep-Live-Cam does unless
/// asked for many faces), or every face up to [`MAX_FACES`]; passes frames through untouched
/// while no identity is chosen.
pub struct FaceSwapProcessor {
    engine: Arc<FaceEngine>,
    tracker: Tracker,
    /// Whether a detection frame with faces known swaps at once with them while the detector
    /// reads it on `ahead`'s thread.
    detect_ahead: bool,
    /// The detection worker, started by the first detection ahead.
    ahead: Option<DetectAhead>,
    /// Counts face resets: an answer from ahead for an older epoch is dropped.
    epoch: u64,
    /// Steadies the tracker's faces from frame to frame, so the swap does not flicker.
    smoother: Smoother,
    smoothing: bool,
    /// Whether the person's own mouth is kept over the swapped face.
    mouth_mask: bool,
    /// Whether what is in front of the face (hands, glasses, a microphone) is kept, when the
    /// engine has the occlusion model.
    occlusion: bool,
    /// Whether the swapped face takes the frame's lighting (on by default).
    colour_transfer: bool,
    /// Whether the swapped face is pasted only on the face parser's face regions, when the
    /// engine has the parser.
    region_mask: bool,
    /// The face enhancer the session chose (off when `None`), applied while the engine has
    /// it.
    enhancer: Option<EnhancerKind>,
    /// How much of the enhanced face shows, 0 to 100.
    enhance_strength: u8,
    /// The enhancer's network runs on every `enhance_every`th frame; the frames between
    /// reuse its last answer. `None`: `pace` picks N from the frame budget.
    enhance_every: Option<u32>,
    /// The enhancer's rate from the frame budget, fed every frame's capture time and cost.
    pace: EnhancePace,
    /// Frames enhanced since the enhancer was chosen, to count off `enhance_every`.
    enhance_frame: u64,
    /// Per face (in the order of `faces`), the last network answer as what it added to its
    /// crop, for the frames that reuse it.
    enhanced: Vec<Option<Residual>>,
    /// How many faces each frame swaps, largest first: 1 (the default) or up to
    /// [`MAX_FACES`].
    max_faces: usize,
    /// The crop at this many times the swapper's size, swapped in tiles (×1 by default).
    pixel_boost: PixelBoost,
    /// The faces the last frame used (the largest detected, as many as `max_faces`; only they
    /// are followed and smoothed): the tracker's, smoothed when smoothing is on.
    faces: Vec<Detection>,
    /// The session's paste-back masks, one per face size and roll.
    paste: blend::PasteBack,
    /// The frame in RGB, only ever filled around the face (reused from frame to frame).
    rgb: RgbImage,
    latent: Option<Arc<Vec<f32>>>,
    /// Face mapping: each person (a reference face's embedding) with the identity they wear.
    /// Empty: every swapped face wears `latent`.
    people: Vec<Person>,
    /// With face mapping, the person (index into `people`) each of `faces` is, in order.
    wears: Vec<usize>,
    /// The chosen face, and the swapper generation its `latent` was made for.
    face_id: Option<String>,
    generation: u64,
    times: StageTimes,
    last_error: Option<String>,
    /// The pre- and post-processing graphs, when they run (off after they fail once).
    device: Option<DevicePath>,
}

impl FaceSwapProcessor {
    pub fn times(&self) -> &StageTimes {
        &self.times
    }

    /// Where the pre- and post-processing graphs run, while they do (`None` on the CPU path,
    /// and before the first frame loads them).
    pub fn device_graphs(&self) -> Option<&studio_infer::BackendInfo> {
        self.device.as_ref().and_then(DevicePath::backend)
    }

    /// The last error a frame met (the frame then passed through unchanged).
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// The faces used for the last frame, the largest the detector found, largest first
    /// (smoothed when smoothing is on); empty when there was none.
    pub fn faces(&self) -> &[Detection] {
        &self.faces
    }

    /// Detect ahead (off by default; the server turns it on): on a detection frame where
    /// faces are already being followed, the frame is swapped at once with them while the
    /// detector reads that same frame on a thread of the session's own; a later frame takes
    /// up its faces (the first one processed after it is done; no frame waits for it). While
    /// no face is known (the first frames, after losing the face or a reset) and with face
    /// mapping (whose detections go through the embedder), detection stays on the frame's
    /// own time. At most one detection is in flight. Off, the worker ends.
    pub fn set_detect_ahead(&mut self, on: bool) {
        self.detect_ahead = on;
        if !on {
            self.ahead = None;
            // An answer that was in flight is for a worker that is gone.
            self.epoch += 1;
        }
    }

    /// Whether the session detects ahead.
    pub fn detect_ahead(&self) -> bool {
        self.detect_ahead
    }

    /// The most detections ahead that were in flight at once (0 before the first).
    pub fn detections_in_flight_peak(&self) -> u64 {
        self.ahead.as_ref().map_or(0, DetectAhead::peak_in_flight)
    }

    /// Whether a detection ahead is in flight.
    pub fn detection_in_flight(&self) -> bool {
        self.ahead.as_ref().is_some_and(DetectAhead::busy)
    }

    /// Wait for the detection ahead in flight, if any, and take up its faces now rather than
    /// on the next frame (as that frame would take them up had it come after the detector
    /// finished). An error goes to [`FaceSwapProcessor::last_error`], as a frame's does.
    pub fn finish_detection(&mut self) {
        if let Err(e) = self.take_up_ahead(true) {
            self.last_error = Some(e.to_string());
            self.reset_faces();
        }
    }

    /// Take up the answer of the detection ahead, waiting for it when `wait`; nothing when
    /// none is in flight or it is not done yet.
    fn take_up_ahead(&mut self, wait: bool) -> Result<(), ModelError> {
        let Some(ahead) = self.ahead.as_mut() else {
            return Ok(());
        };
        let taken = if wait { ahead.wait() } else { ahead.try_take() };
        let found: Found = match taken {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(()),
            Err(e) => {
                // The worker is gone: the next detection ahead starts another.
                self.ahead = None;
                return Err(ModelError::DetectAhead(e));
            }
        };
        self.times.detect += found.spent;
        self.times.detect_overlapped += found.spent;
        self.times.detect_network += found.network;
        self.times.networks += found.network;
        if found.epoch != self.epoch {
            return Ok(());
        }
        let faces = found.faces.map_err(ModelError::DetectAhead)?;
        // The smoother sees the faces with the frame that uses them next, as it sees faces
        // followed between detections: feeding it the detected frame's (older) time would
        // step its filters back in time.
        self.tracker
            .detected(detect::largest_n(&faces, self.max_faces));
        Ok(())
    }

    /// Send `frame` to the detection worker (starting it the first time) unless a detection
    /// is in flight: with the device graphs its letterbox is made here, otherwise the worker
    /// gets a copy of the frame.
    fn detect_ahead_of(
        &mut self,
        frame: &VideoFrame,
        models: &FaceModels,
        on_device: bool,
    ) -> Result<(), ModelError> {
        if self.detection_in_flight() {
            return Ok(());
        }
        let input = match self.device.as_mut().filter(|_| on_device) {
            Some(device) => {
                let (blob, placement) = device.letterbox(&frame.image)?;
                Input::Letterboxed(blob, placement)
            }
            None => Input::Frame(frame.image.clone()),
        };
        let ahead = match self.ahead.as_mut() {
            Some(ahead) => ahead,
            None => self
                .ahead
                .insert(
                    DetectAhead::start(Arc::clone(&models.detector)).map_err(|e| {
                        ModelError::DetectAhead(format!("starting the detection worker: {e}"))
                    })?,
                ),
        };
        let job = Job {
            input,
            epoch: self.epoch,
        };
        if let Err(e) = ahead.send(job) {
            self.ahead = None;
            return Err(ModelError::DetectAhead(e));
        }
        Ok(())
    }

    /// Swap the `n` largest faces of each frame (clamped to 1..=[`MAX_FACES`]); 1, the
    /// default, swaps the largest alone. The next frame detects afresh.
    pub fn set_max_faces(&mut self, n: usize) {
        let n = n.clamp(1, MAX_FACES);
        if n != self.max_faces {
            self.max_faces = n;
            self.reset_faces();
        }
    }

    /// How many faces each frame swaps at most.
    pub fn max_faces(&self) -> usize {
        self.max_faces
    }

    /// Turn temporal smoothing of the faces on (the default) or off, e.g. to compare; either
    /// way the filters start afresh.
    pub fn set_smoothing(&mut self, on: bool) {
        self.smoothing = on;
        self.smoother.reset();
    }

    /// Whether the faces are smoothed.
    pub fn smoothing(&self) -> bool {
        self.smoothing
    }

    /// Keep the person's own mouth over the swapped face (off by default, which pastes as
    /// before): a feathered ellipse around the mouth corners shows the frame as it came.
    pub fn set_mouth_mask(&mut self, on: bool) {
        self.mouth_mask = on;
    }

    /// Whether the mouth is kept.
    pub fn mouth_mask(&self) -> bool {
        self.mouth_mask
    }

    /// Keep what is in front of the face: XSeg's face mask caps the paste, so hands, glasses
    /// or a microphone over the face stay as they came. It takes effect while the engine has
    /// the occlusion model. Off by default: FaceFusion's default masks are the box alone, XSeg
    /// costs about 17 GMAC on every frame (more than the detector, which runs every few), and
    /// on a plain webcam picture nothing is in front of the face.
    pub fn set_occlusion(&mut self, on: bool) {
        self.occlusion = on;
    }

    /// Whether the occlusion mask is on (it is applied only while the model is there).
    pub fn occlusion(&self) -> bool {
        self.occlusion
    }

    /// The occlusion mask of the aligned `crop` (cut by `to_crop`) when the mask is on and
    /// the engine has its model.
    fn occlusion_mask(
        &mut self,
        engine: &FaceEngine,
        crop: &RgbImage,
        to_crop: &crate::Affine,
    ) -> Result<Option<OcclusionMask>, ModelError> {
        if !self.occlusion {
            return Ok(None);
        }
        let mut occluder = lock(&engine.occluder);
        let Some(occluder) = occluder.as_mut() else {
            return Ok(None);
        };
        let times = &mut self.times;
        let (stage, network) = (&mut times.occlude, &mut times.occlude_network);
        timed_mask(occluder, crop, to_crop, stage, network, &mut times.networks).map(Some)
    }

    /// Paste the swapped face only where the face parser sees the face itself (skin, brows,
    /// eyes, glasses, nose, mouth, lips), keeping the person's own hair, ears and neck. It
    /// takes effect while the engine has the parser. Off by default, as in FaceFusion: the
    /// parser (BiSeNet at 512×512) costs more than the swap on every frame.
    pub fn set_region_mask(&mut self, on: bool) {
        self.region_mask = on;
    }

    /// Whether the region mask is on (it is applied only while the parser is there).
    pub fn region_mask(&self) -> bool {
        self.region_mask
    }

    /// The region mask of the swapped `crop` (cut by `to_crop`) when the mask is on and the
    /// engine has its parser.
    fn region_mask_of(
        &mut self,
        engine: &FaceEngine,
        crop: &RgbImage,
        to_crop: &crate::Affine,
    ) -> Result<Option<OcclusionMask>, ModelError> {
        if !self.region_mask {
            return Ok(None);
        }
        let mut parser = lock(&engine.parser);
        let Some(parser) = parser.as_mut() else {
            return Ok(None);
        };
        let times = &mut self.times;
        let (stage, network) = (&mut times.parse, &mut times.parse_network);
        timed_mask(parser, crop, to_crop, stage, network, &mut times.networks).map(Some)
    }

    /// Restore each swapped face with the enhancer `kind` (`None`, the default, turns it
    /// off), as FaceFusion's face enhancer does after its swapper. It takes effect while the
    /// engine has that enhancer.
    pub fn set_enhancer(&mut self, kind: Option<EnhancerKind>) {
        if kind != self.enhancer {
            self.enhancer = kind;
            self.enhance_frame = 0;
            self.enhanced.clear();
            self.pace.restart();
        }
    }

    /// The enhancer the session chose.
    pub fn enhancer(&self) -> Option<EnhancerKind> {
        self.enhancer
    }

    /// How much of the enhanced face shows over the swapped one, 0 to 100 (FaceFusion's
    /// `face_enhancer_blend`, 80 by default); 0 leaves the swap as it was.
    pub fn set_enhance_strength(&mut self, strength: u8) {
        self.enhance_strength = strength.min(100);
    }

    pub fn enhance_strength(&self) -> u8 {
        self.enhance_strength
    }

    /// Run the enhancer's network on every `n`th frame only (clamped to
    /// 1..=[`MAX_ENHANCE_EVERY`]; 1 runs it on every frame), or, with `None` (the default),
    /// on every Nth frame for the smallest N that keeps up with the camera
    /// ([`EnhancePace`]). The frames between add what its last run added to each face's
    /// crop to the crop they cut, so the restored detail follows the face while the network
    /// rests.
    pub fn set_enhance_every(&mut self, n: Option<u32>) {
        let n = n.map(|n| n.clamp(1, MAX_ENHANCE_EVERY));
        if n.is_none() && self.enhance_every.is_some() {
            self.pace.restart();
        }
        self.enhance_every = n;
    }

    /// The session's choice: every `n`th frame, or `None` for the automatic rate.
    pub fn enhance_every(&self) -> Option<u32> {
        self.enhance_every
    }

    /// The enhancer's network runs on every this many frames now.
    pub fn enhance_every_now(&self) -> u32 {
        self.enhance_every.unwrap_or_else(|| self.pace.every())
    }

    /// The enhancer this frame applies: the session's choice while the engine has it and the
    /// strength shows it.
    /// Whether this frame's pre- and post-processing run as the device graphs. They are made
    /// for the swapper's own crop on the ArcFace template, and the enhancer runs on the CPU
    /// path, so with another crop or the enhancer on a session's frames take that path.
    fn on_device(&self, engine: &FaceEngine, models: &FaceModels) -> bool {
        let size = models.swapper.size() * self.pixel_boost.factor();
        self.device.as_ref().is_some_and(|d| d.crop() == size)
            && models.swapper.spec().template == align::Template::Arcface128
            && self.active_enhancer(engine).is_none()
    }

    fn active_enhancer(&self, engine: &FaceEngine) -> Option<EnhancerKind> {
        self.enhancer
            .filter(|&k| self.enhance_strength > 0 && engine.has_enhancer(k))
    }

    /// Restore face `index` (`face`) in the session's RGB frame, after its swap: the
    /// enhancer's crop, its network (or its last answer's residual on the frames between),
    /// pasted and blended with the session's strength inside [`enhance_area`].
    fn enhance_one(
        &mut self,
        engine: &FaceEngine,
        kind: EnhancerKind,
        index: usize,
        face: &Detection,
    ) -> Result<(), ModelError> {
        let t = Instant::now();
        let size = kind.size();
        let m = enhance::crop_transform(&face.kps, kind.template(), size)?;
        let crop = enhance::warp_crop(&self.rgb, &m, size)?;
        // FaceFusion's enhancer keeps what is in front of the face too: XSeg on its own crop,
        // the minimum of that and the box mask.
        let occluding = Instant::now();
        let occluded = self.crop_occlusion(engine, &crop)?;
        let occluding = occluding.elapsed();
        let mut enhancers = lock(&engine.enhancers);
        let Some(enhancer) = enhancers.iter_mut().find(|e| e.kind() == kind) else {
            return Ok(());
        };
        if self.enhanced.len() <= index {
            self.enhanced.resize_with(index + 1, || None);
        }
        let due = self
            .enhance_frame
            .is_multiple_of(u64::from(self.enhance_every_now().max(1)));
        let kept = self.enhanced[index].as_ref().filter(|r| r.kind == kind);
        let restored = match kept {
            Some(residual) if !due => residual.added_to(&crop)?,
            _ => {
                let before = enhancer.run_time;
                let restored = enhancer.enhance(&crop)?;
                let network = enhancer.run_time.saturating_sub(before);
                self.times.enhance_network += network;
                self.times.networks += network;
                self.times.enhance_runs += 1;
                self.enhanced[index] = Some(Residual::between(kind, &crop, &restored));
                restored
            }
        };
        let mask = match occluded {
            Some(face) => std::borrow::Cow::Owned(
                enhancer
                    .mask()
                    .iter()
                    .zip(face)
                    .map(|(b, f)| b.min(f))
                    .collect(),
            ),
            None => std::borrow::Cow::Borrowed(enhancer.mask()),
        };
        enhance::paste_blend(&mut self.rgb, &restored, &mask, &m, self.enhance_strength)?;
        drop(enhancers);
        self.times.enhance += t.elapsed().saturating_sub(occluding);
        Ok(())
    }

    /// XSeg's face mask of the enhancer's `crop` in crop pixels, when the occlusion mask is
    /// on and the engine has its model (timed as the occlusion mask's).
    fn crop_occlusion(
        &mut self,
        engine: &FaceEngine,
        crop: &RgbImage,
    ) -> Result<Option<Vec<f32>>, ModelError> {
        if !self.occlusion {
            return Ok(None);
        }
        let mut occluder = lock(&engine.occluder);
        let Some(occluder) = occluder.as_mut() else {
            return Ok(None);
        };
        let t = Instant::now();
        let before = occluder.run_time;
        let face = occluder.face_mask(crop)?;
        self.times.occlude += t.elapsed();
        let network = occluder.run_time.saturating_sub(before);
        self.times.occlude_network += network;
        self.times.networks += network;
        Ok(Some(face))
    }

    /// Match the swapped face's colours to the frame's lighting (the default), or paste the
    /// swapper's colours as they are.
    pub fn set_colour_transfer(&mut self, on: bool) {
        self.colour_transfer = on;
    }

    /// Whether the swapped face takes the frame's lighting.
    pub fn colour_transfer(&self) -> bool {
        self.colour_transfer
    }

    /// Cut the face at 2 or 4 times the swapper's size and swap it in 4 or 16 tiles, for
    /// more detail at 4 or 16 times the swapper's cost (×1, the default, swaps once).
    pub fn set_pixel_boost(&mut self, boost: PixelBoost) {
        self.pixel_boost = boost;
    }

    pub fn pixel_boost(&self) -> PixelBoost {
        self.pixel_boost
    }

    /// The tracker's faces for the frame captured at `time`, smoothed when smoothing is on.
    fn update_faces(&mut self, time: Timestamp) {
        self.faces = if self.smoothing {
            self.smoother.update(time, self.tracker.faces())
        } else {
            self.tracker.faces().to_vec()
        };
    }

    /// Forget the faces: the next frame detects again and starts its filters afresh.
    fn reset_faces(&mut self) {
        self.epoch += 1;
        self.tracker.reset();
        self.smoother.reset();
        self.faces.clear();
        self.wears.clear();
        self.enhanced.clear();
    }

    /// The uploaded face `id`, or why not.
    fn uploaded(&self, id: &str) -> Result<TargetFace, String> {
        self.engine
            .face(id)
            .ok_or_else(|| format!("no face {id:?}: upload it with POST /v1/faces"))
    }

    /// Choose the identity directly (what `VideoSetting::Face` does after the lookup).
    pub fn set_target(&mut self, face: Option<&TargetFace>) {
        self.latent = face.map(|f| Arc::clone(&f.latent));
        self.face_id = face.map(|f| f.id.clone());
        self.generation = self
            .engine
            .swapper_generation
            .load(std::sync::atomic::Ordering::SeqCst);
    }

    /// Face mapping: each `(person, wears)` pair has the person the first face shows wear the
    /// second face's identity, up to [`mapping::MAX_PEOPLE`] pairs; faces that are no one's
    /// pass as they came. Empty turns mapping off (the chosen face is worn, as before). The
    /// next frame detects afresh.
    pub fn set_people(&mut self, pairs: &[(&TargetFace, &TargetFace)]) -> Result<(), String> {
        if pairs.len() > mapping::MAX_PEOPLE {
            return Err(format!(
                "at most {} people can be mapped, not {}",
                mapping::MAX_PEOPLE,
                pairs.len()
            ));
        }
        self.people = pairs
            .iter()
            .map(|(person, wears)| {
                let embedding = crate::latent::normalize(&person.embedding)
                    .map_err(|e| format!("the face {:?}: {e}", person.id))?;
                Ok(Person {
                    embedding: Arc::new(embedding),
                    wears_id: wears.id.clone(),
                    wears: Arc::clone(&wears.latent),
                })
            })
            .collect::<Result<_, String>>()?;
        self.reset_faces();
        Ok(())
    }

    /// How many people face mapping knows (0: off).
    pub fn people(&self) -> usize {
        self.people.len()
    }

    /// With face mapping, which person (the index of their pair) each face of
    /// [`FaceSwapProcessor::faces`] is; empty without it.
    pub fn people_in_frame(&self) -> &[usize] {
        &self.wears
    }

    /// The identity each swapped face wears, in the order of [`FaceSwapProcessor::faces`].
    fn identities(&self, latent: Option<&Arc<Vec<f32>>>) -> Vec<Arc<Vec<f32>>> {
        if self.people.is_empty() {
            latent
                .map(|l| vec![Arc::clone(l); self.faces.len()])
                .unwrap_or_default()
        } else {
            self.wears
                .iter()
                .filter_map(|&i| self.people.get(i).map(|p| Arc::clone(&p.wears)))
                .collect()
        }
    }

    /// Of the detected `faces`, the people face mapping knows (the largest
    /// [`mapping::MAX_PEOPLE`] looked at), each with the person they are. The faces'
    /// neighbourhoods are converted to RGB for the embedder.
    fn identify(
        &mut self,
        image: &I420Image,
        models: &mut FaceModels,
        faces: &[Detection],
    ) -> Result<(Vec<Detection>, Vec<usize>), ModelError> {
        let (w, h) = (image.width(), image.height());
        if self.rgb.width() != w || self.rgb.height() != h {
            self.rgb = RgbImage::new(w, h);
        }
        let (mut kept, mut wears) = (Vec::new(), Vec::new());
        for face in detect::largest_n(faces, mapping::MAX_PEOPLE) {
            // The embedder's 112-pixel crop lies inside the 128-pixel one on the same template.
            rgb_around(
                image,
                &face,
                128,
                align::Template::Arcface128,
                None,
                &mut self.rgb,
            )?;
            let t = Instant::now();
            let embedding = models.embedder.embed(&self.rgb, &face)?;
            // Counted as the embedder's network time: its alignment is a 112-pixel warp.
            let spent = t.elapsed();
            self.times.embed += spent;
            self.times.networks += spent;
            let people = self.people.iter().map(|p| p.embedding.as_slice());
            if let Some(i) = mapping::person_of(&embedding, people) {
                kept.push(face);
                wears.push(i);
            }
        }
        Ok((kept, wears))
    }

    fn swap_frame(&mut self, frame: &mut VideoFrame) -> Result<(), ModelError> {
        if self.latent.is_none() && self.people.is_empty() {
            return Ok(());
        }
        // Its own handle on the engine, so the lock does not hold `self` borrowed.
        let engine = Arc::clone(&self.engine);
        let mut models = lock(&engine.models);
        // The swapper changed since the face was chosen: its vector for this swapper.
        let generation = engine
            .swapper_generation
            .load(std::sync::atomic::Ordering::SeqCst);
        if generation != self.generation {
            self.generation = generation;
            let face = self.face_id.as_deref().and_then(|id| engine.face(id));
            self.latent = face.map(|f| Arc::clone(&f.latent));
            // The people's faces too.
            for person in &mut self.people {
                if let Some(face) = engine.face(&person.wears_id) {
                    person.wears = Arc::clone(&face.latent);
                }
            }
        }
        let latent = self.latent.clone();
        let swapper = models.swapper.run_time;
        let on_device = self.on_device(&engine, &models);
        let mut outcome = self.swap_locked(&engine, frame, &mut models, latent.as_ref());
        if let Err(e) = &outcome
            && on_device
            && self.device.take().is_some()
        {
            // Nothing is written into the frame before a failure: the CPU path takes it,
            // detecting afresh.
            self.last_error = Some(format!("device graphs off: {e}"));
            self.reset_faces();
            outcome = self.swap_locked(&engine, frame, &mut models, latent.as_ref());
        }
        if let Err(ModelError::NotFinite { path }) = &outcome
            && is_half(&models.swapper)
            && engine.restore_full_precision(&mut models)?
        {
            // The frame goes out as it came, its error saying so; the next one swaps in full
            // precision.
            outcome = Err(ModelError::NotFinite {
                path: format!("{path} (half precision; full precision from the next frame)"),
            });
        }
        self.times.networks += models.swapper.run_time.saturating_sub(swapper);
        outcome
    }

    /// [`FaceSwapProcessor::swap_frame`] with the models in hand. Nothing is written into
    /// `frame` before the last step, which cannot fail half-way, so a frame that fails goes
    /// out as it came.
    fn swap_locked(
        &mut self,
        engine: &FaceEngine,
        frame: &mut VideoFrame,
        models: &mut FaceModels,
        latent: Option<&Arc<Vec<f32>>>,
    ) -> Result<(), ModelError> {
        let size = models.swapper.size() * self.pixel_boost.factor();
        let template = models.swapper.spec().template;
        let enhance = self.active_enhancer(engine);
        let on_device = self.on_device(engine, models);
        // The detector reads the frame as it comes; between detections the faces are known
        // (and smoothed before any pixel is read). Detecting ahead, a detection done since
        // the last frame is taken up first, and a detection frame with faces known is
        // swapped with them while the worker reads it.
        let ahead = self.detect_ahead && self.people.is_empty();
        if ahead {
            self.take_up_ahead(false)?;
        }
        if self.tracker.needs_detection() && ahead && !self.tracker.faces().is_empty() {
            let t = Instant::now();
            self.detect_ahead_of(frame, models, on_device)?;
            self.times.detect += t.elapsed();
            self.tracker.followed();
            self.update_faces(frame.capture);
        } else if self.tracker.needs_detection() {
            let t = Instant::now();
            // This frame's faces are newer than any answer still in flight.
            if self.detection_in_flight() {
                self.epoch += 1;
            }
            let mut detector = lock(&models.detector);
            let before = detector.run_time;
            let faces = match self.device.as_mut().filter(|_| on_device) {
                Some(device) => {
                    let (blob, placement) = device.letterbox(&frame.image)?;
                    detector.detect_blob(blob, &placement)?
                }
                None => detector.detect_i420(&frame.image)?,
            };
            let network = detector.run_time.saturating_sub(before);
            drop(detector);
            self.times.detect_network += network;
            self.times.networks += network;
            // Only the faces that are swapped are followed and smoothed: the others would
            // cost their filters every frame and change nothing.
            if self.people.is_empty() {
                self.tracker
                    .detected(detect::largest_n(&faces, self.max_faces));
            } else {
                let (kept, wears) = self.identify(&frame.image, models, &faces)?;
                self.tracker.detected(kept);
                self.wears = wears;
            }
            self.update_faces(frame.capture);
            self.times.detect += t.elapsed();
        } else {
            self.tracker.followed();
            self.update_faces(frame.capture);
        }
        let identities = self.identities(latent);
        if self.faces.is_empty() || identities.len() != self.faces.len() {
            return Ok(());
        }
        // A face's last enhancer answer is kept only while there are as many faces.
        self.enhanced.truncate(self.faces.len());
        if on_device {
            // Each face reads the frame as the faces before it left it; the frame takes the
            // result once every face is done.
            let faces = std::mem::take(&mut self.faces);
            let mut image: Option<I420Image> = None;
            let swapped = faces
                .iter()
                .zip(&identities)
                .try_for_each(|(face, latent)| {
                    let current = image.as_ref().unwrap_or(&frame.image);
                    if let Some(pasted) =
                        self.swap_one_on_device(engine, models, latent, face, size, current)?
                    {
                        image = Some(pasted);
                    }
                    Ok::<_, ModelError>(())
                });
            self.faces = faces;
            swapped?;
            if let Some(image) = image {
                frame.image = image;
            }
            return Ok(());
        }
        // Only the faces' neighbourhoods are converted to RGB, into the session's frame-sized
        // buffer; nothing reads the rest of it. All of them before any paste, so a face
        // whose neighbourhood overlaps another's reads the other's swap, not the frame.
        let t = Instant::now();
        let (w, h) = (frame.image.width(), frame.image.height());
        if self.rgb.width() != w || self.rgb.height() != h {
            self.rgb = RgbImage::new(w, h);
        }
        // With the enhancer on, each face's neighbourhood also holds the enhancer's crop and
        // everything its paste may change (FaceFusion's paste area, larger than the box).
        let areas = self
            .faces
            .iter()
            .map(|face| match enhance {
                Some(kind) => enhance_area(face, kind, w, h),
                None => Ok(None),
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (face, area) in self.faces.iter().zip(&areas) {
            rgb_around(&frame.image, face, size, template, *area, &mut self.rgb)?;
        }
        self.times.decode += t.elapsed();
        // Each box's pixels as they came, for finding the changed ones; the pastes then work
        // in place.
        let t = Instant::now();
        let originals: Vec<(ChangedRect, Vec<u8>)> = self
            .faces
            .iter()
            .zip(&areas)
            .filter_map(|(face, area)| ChangedRect::around(face.bbox, *area, w, h))
            .map(|rect| (rect, rect.copy_of(&self.rgb)))
            .collect();
        self.times.blend += t.elapsed();
        let faces = std::mem::take(&mut self.faces);
        let swapped =
            faces
                .iter()
                .zip(&identities)
                .enumerate()
                .try_for_each(|(i, (face, latent))| {
                    self.swap_one(engine, models, latent, face, size, template)?;
                    match enhance {
                        Some(kind) => self.enhance_one(engine, kind, i, face),
                        None => Ok(()),
                    }
                });
        self.faces = faces;
        swapped?;
        if enhance.is_some() {
            self.enhance_frame += 1;
        }
        let t = Instant::now();
        for (rect, original) in &originals {
            rect.write(&mut frame.image, original, &self.rgb)?;
        }
        self.times.encode += t.elapsed();
        Ok(())
    }

    /// Swap `face` in the session's RGB frame: align, swap, match colours, paste.
    fn swap_one(
        &mut self,
        engine: &FaceEngine,
        models: &mut FaceModels,
        latent: &[f32],
        face: &Detection,
        size: u32,
        template: align::Template,
    ) -> Result<(), ModelError> {
        let t = Instant::now();
        let (crop, m) = align::align_crop_to(&self.rgb, &face.kps, size, template)?;
        self.times.align += t.elapsed();
        let (swapped, masks) = self.swap_crop(engine, models, latent, &crop, &m, face)?;
        let t = Instant::now();
        self.paste.paste_keeping(
            &mut self.rgb,
            &swapped,
            &m,
            Some(face.bbox),
            masks.keep().as_ref(),
        )?;
        self.times.blend += t.elapsed();
        Ok(())
    }

    /// Swap `face` in `image` through the device graphs: align, swap, match colours, paste.
    /// The frame with the face pasted, or `None` when the face's mask is empty.
    fn swap_one_on_device(
        &mut self,
        engine: &FaceEngine,
        models: &mut FaceModels,
        latent: &[f32],
        face: &Detection,
        size: u32,
        image: &I420Image,
    ) -> Result<Option<I420Image>, ModelError> {
        let Some(device) = self.device.as_mut() else {
            return Ok(None);
        };
        let t = Instant::now();
        let m = align::estimate_norm(&face.kps, size)?;
        let crop = device.align(image, &m)?;
        self.times.align += t.elapsed();
        let (swapped, masks) = self.swap_crop(engine, models, latent, &crop, &m, face)?;
        let t = Instant::now();
        let (w, h) = (image.width(), image.height());
        let mask = self
            .paste
            .crop_mask(&m, (size, size), (w, h), Some(face.bbox))?;
        let pasted = match (mask, self.device.as_mut()) {
            (Some(mask), Some(device)) => {
                Some(device.paste(image, &swapped, mask, &m, face.bbox, masks.keep().as_ref())?)
            }
            _ => None,
        };
        self.times.blend += t.elapsed();
        Ok(pasted)
    }

    /// The aligned `crop` (cut by `m`) swapped, in the frame's colours when colour transfer
    /// is on, with the masks that keep frame pixels.
    fn swap_crop(
        &mut self,
        engine: &FaceEngine,
        models: &mut FaceModels,
        latent: &[f32],
        crop: &RgbImage,
        m: &crate::Affine,
        face: &Detection,
    ) -> Result<(RgbImage, KeptMasks), ModelError> {
        let occlusion = self.occlusion_mask(engine, crop, m)?;
        let t = Instant::now();
        let mut swapped = models
            .swapper
            .swap_boosted(crop, latent, self.pixel_boost)?;
        self.times.swap += t.elapsed();
        // FaceFusion parses the swapper's answer: the regions are where the new face has
        // them.
        let region = self.region_mask_of(engine, &swapped, m)?;
        let t = Instant::now();
        if self.colour_transfer {
            crate::colour::match_colour(&mut swapped, crop);
        }
        let mouth = self
            .mouth_mask
            .then(|| MouthMask::from_landmarks(&face.kps))
            .flatten();
        self.times.blend += t.elapsed();
        Ok((
            swapped,
            KeptMasks {
                mouth,
                occlusion,
                region,
            },
        ))
    }
}

/// `masker`'s mask of `crop` (cut by `to_crop`), its time added to `stage`, and its network's
/// to `network` and to all the networks'.
fn timed_mask(
    masker: &mut impl CropMasker,
    crop: &RgbImage,
    to_crop: &crate::Affine,
    stage: &mut Duration,
    network: &mut Duration,
    networks: &mut Duration,
) -> Result<OcclusionMask, ModelError> {
    let t = Instant::now();
    let before = masker.network_time();
    let mask = masker.mask(crop, to_crop)?;
    *stage += t.elapsed();
    let spent = masker.network_time().saturating_sub(before);
    *network += spent;
    *networks += spent;
    Ok(mask)
}

/// Whether `swapper` runs in half precision.
fn is_half(swapper: &Swapper) -> bool {
    swapper.spec().precision == studio_infer::ElementType::F16
}

/// A person face mapping knows: who they are, and the identity they wear.
struct Person {
    /// The normed ArcFace embedding of their reference face.
    embedding: Arc<Vec<f32>>,
    /// The face they wear (its id), and the swapper's `source` input for it.
    wears_id: String,
    wears: Arc<Vec<f32>>,
}

/// The masks of one face that keep frame pixels, owned.
struct KeptMasks {
    mouth: Option<MouthMask>,
    occlusion: Option<OcclusionMask>,
    region: Option<OcclusionMask>,
}

impl KeptMasks {
    fn keep(&self) -> Option<Keep<'_>> {
        Keep::any(
            self.mouth.as_ref(),
            self.occlusion.as_ref(),
            self.region.as_ref(),
        )
    }
}

/// Convert the frame to RGB into `out` (the frame's size) where processing `face` reads or
/// writes it: the crop's source square and the face's box. The rest of `out` is left as it
/// was. The rectangle is even-aligned, so every 2×2 chroma block it touches is whole; each
/// pixel comes out as the whole frame's conversion gives it.
fn rgb_around(
    image: &I420Image,
    face: &Detection,
    size: u32,
    template: align::Template,
    extra: Option<(u32, u32, u32, u32)>,
    out: &mut RgbImage,
) -> Result<(), FaceError> {
    let (w, h) = (image.width(), image.height());
    if out.width() != w || out.height() != h {
        return Err(FaceError::Shape(format!(
            "a {}x{} buffer for a {w}x{h} frame",
            out.width(),
            out.height()
        )));
    }
    let to_frame = align::estimate_norm_to(&face.kps, size, template)?
        .invert()
        .ok_or_else(|| FaceError::Degenerate("singular crop transform".into()))?;
    let (bx0, by0, bx1, by1) = to_frame.map_rect_bounds(f64::from(size), f64::from(size));
    let clamp = |v: f64, hi: u32| (v.max(0.0) as u32).min(hi);
    // The bilinear warp reads one pixel beyond the square's bounds.
    let mut x0 = clamp(bx0.floor() - 2.0, w);
    let mut y0 = clamp(by0.floor() - 2.0, h);
    let mut x1 = clamp(bx1.ceil() + 3.0, w);
    let mut y1 = clamp(by1.ceil() + 3.0, h);
    if let Some(r) = ChangedRect::new(face.bbox, w, h) {
        (x0, y0, x1, y1) = (x0.min(r.x0), y0.min(r.y0), x1.max(r.x1), y1.max(r.y1));
    }
    if let Some((ax0, ay0, ax1, ay1)) = extra {
        (x0, y0, x1, y1) = (x0.min(ax0), y0.min(ay0), x1.max(ax1), y1.max(ay1));
    }
    let (x0, y0) = (x0 & !1, y0 & !1);
    let (x1, y1) = (((x1 + 1) & !1).min(w), ((y1 + 1) & !1).min(h));
    if x1 <= x0 || y1 <= y0 {
        return Ok(());
    }
    let stride = w as usize * 3;
    let (a, b) = (x0 as usize * 3, x1 as usize * 3);
    for (y, row) in out
        .data_mut()
        .chunks_exact_mut(stride)
        .enumerate()
        .take(y1 as usize)
        .skip(y0 as usize)
    {
        image.row_to_rgb(y as u32, x0, &mut row[a..b]);
    }
    Ok(())
}

/// The even-aligned rectangle `[x0, x1) × [y0, y1)` around a face's box that
/// [`write_changed`] compares and writes, so its chroma blocks are the frame's.
#[derive(Debug, Clone, Copy)]
struct ChangedRect {
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
}

impl ChangedRect {
    fn new(bbox: [f32; 4], w: u32, h: u32) -> Option<ChangedRect> {
        let clamp = |v: f32, hi: u32| (v.max(0.0) as u32).min(hi);
        let x0 = clamp(bbox[0].floor(), w) & !1;
        let y0 = clamp(bbox[1].floor(), h) & !1;
        let x1 = ((clamp(bbox[2].ceil() + 1.0, w) + 1) & !1).min(w);
        let y1 = ((clamp(bbox[3].ceil() + 1.0, h) + 1) & !1).min(h);
        (x1 > x0 && y1 > y0).then_some(ChangedRect { x0, y0, x1, y1 })
    }

    /// The rectangle around a face's box and `area` (what else a face's processing may
    /// change, inside the frame), even-aligned.
    fn around(
        bbox: [f32; 4],
        area: Option<(u32, u32, u32, u32)>,
        w: u32,
        h: u32,
    ) -> Option<ChangedRect> {
        let boxed = ChangedRect::new(bbox, w, h);
        let Some((ax0, ay0, ax1, ay1)) = area.filter(|a| a.2 <= w && a.3 <= h) else {
            return boxed;
        };
        let (mut x0, mut y0, mut x1, mut y1) = (ax0, ay0, ax1, ay1);
        if let Some(r) = boxed {
            (x0, y0, x1, y1) = (x0.min(r.x0), y0.min(r.y0), x1.max(r.x1), y1.max(r.y1));
        }
        let (x0, y0) = (x0 & !1, y0 & !1);
        let (x1, y1) = (((x1 + 1) & !1).min(w), ((y1 + 1) & !1).min(h));
        (x1 > x0 && y1 > y0).then_some(ChangedRect { x0, y0, x1, y1 })
    }

    /// The rectangle's pixels of `img`, row after row.
    fn copy_of(&self, img: &RgbImage) -> Vec<u8> {
        let stride = img.width() as usize * 3;
        let row = (self.x1 - self.x0) as usize * 3;
        let mut out = Vec::with_capacity(row * (self.y1 - self.y0) as usize);
        for y in self.y0..self.y1 {
            let o = y as usize * stride + self.x0 as usize * 3;
            out.extend_from_slice(&img.data()[o..o + row]);
        }
        out
    }

    /// Write the pixels of `after` that differ from `before` (this rectangle's pixels, row
    /// after row) into `image`: luma per changed pixel, chroma per 2×2 block with a change.
    fn write(
        &self,
        image: &mut I420Image,
        before: &[u8],
        after: &RgbImage,
    ) -> Result<(), FaceError> {
        let (w, h) = (image.width(), image.height());
        let (rw, rh) = (self.x1 - self.x0, self.y1 - self.y0);
        if after.width() != w
            || after.height() != h
            || self.x1 > w
            || self.y1 > h
            || before.len() != rw as usize * rh as usize * 3
        {
            return Err(FaceError::Shape(format!(
                "frame {w}x{h} does not match its RGB images"
            )));
        }
        let (x0, y0) = (self.x0 as usize, self.y0 as usize);
        let (w, rw, rh) = (w as usize, rw as usize, rh as usize);
        let (stride, row) = (w * 3, rw * 3);
        let cw = image.chroma_width() as usize;
        let (py, pu, pv) = image.planes_mut();
        let pixel = |r: &[u8], x: usize| [r[x * 3], r[x * 3 + 1], r[x * 3 + 2]];
        // Block by block, as the whole frame's conversion would group them (an odd last row
        // or column repeats its pixels); only blocks with a changed pixel are converted.
        for by in 0..rh.div_ceil(2) {
            let (ya, yb) = (2 * by, (2 * by + 1).min(rh - 1));
            let new_a = &after.data()[(y0 + ya) * stride + x0 * 3..][..row];
            let new_b = &after.data()[(y0 + yb) * stride + x0 * 3..][..row];
            let (old_a, old_b) = (&before[ya * row..][..row], &before[yb * row..][..row]);
            if new_a == old_a && new_b == old_b {
                continue;
            }
            for bx in 0..rw.div_ceil(2) {
                let (xa, xb) = (2 * bx, (2 * bx + 1).min(rw - 1));
                let new = [
                    pixel(new_a, xa),
                    pixel(new_a, xb),
                    pixel(new_b, xa),
                    pixel(new_b, xb),
                ];
                let old = [
                    pixel(old_a, xa),
                    pixel(old_a, xb),
                    pixel(old_b, xa),
                    pixel(old_b, xb),
                ];
                if new == old {
                    continue;
                }
                let (ys, u, v) = rgb_block_to_i420(new);
                let places = [(xa, ya), (xb, ya), (xa, yb), (xb, yb)];
                for (k, (x, y)) in places.into_iter().enumerate() {
                    if new[k] != old[k] {
                        py[(y0 + y) * w + x0 + x] = ys[k];
                    }
                }
                let o = (y0 / 2 + by) * cw + x0 / 2 + bx;
                pu[o] = u;
                pv[o] = v;
            }
        }
        Ok(())
    }
}

/// The frame pixels the enhancer of `kind` reads and may change for `face`: FaceFusion's
/// paste area of its crop, with the two pixels around it its bilinear taps reach.
fn enhance_area(
    face: &Detection,
    kind: EnhancerKind,
    w: u32,
    h: u32,
) -> Result<Option<(u32, u32, u32, u32)>, FaceError> {
    let m = enhance::crop_transform(&face.kps, kind.template(), kind.size())?;
    Ok(
        enhance::paste_area(&m, kind.size(), w, h).map(|(x0, y0, x1, y1)| {
            (
                x0.saturating_sub(2),
                y0.saturating_sub(2),
                x1.saturating_add(2).min(w),
                y1.saturating_add(2).min(h),
            )
        }),
    )
}

/// What the enhancer's network added to one face's crop (`restored − crop`, per value),
/// added to the crop of a frame that reuses it.
struct Residual {
    kind: EnhancerKind,
    delta: Vec<i16>,
}

impl Residual {
    fn between(kind: EnhancerKind, crop: &RgbImage, restored: &RgbImage) -> Residual {
        let delta = restored
            .data()
            .iter()
            .zip(crop.data())
            .map(|(&r, &c)| i16::from(r) - i16::from(c))
            .collect();
        Residual { kind, delta }
    }

    fn added_to(&self, crop: &RgbImage) -> Result<RgbImage, FaceError> {
        if crop.data().len() != self.delta.len() {
            return Err(FaceError::Shape(format!(
                "a residual of {} values for a {}x{} crop",
                self.delta.len(),
                crop.width(),
                crop.height()
            )));
        }
        let data = crop
            .data()
            .iter()
            .zip(&self.delta)
            .map(|(&c, &d)| (i16::from(c) + d).clamp(0, 255) as u8)
            .collect();
        RgbImage::from_data(crop.width(), crop.height(), data)
            .map_err(|e| FaceError::Shape(e.to_string()))
    }
}

/// Write the pixels of `after` that differ from `before` inside `bbox` back into `image`:
/// luma per changed pixel, chroma per 2×2 block with a change. Nothing else is touched.
pub fn write_changed(
    image: &mut I420Image,
    before: &RgbImage,
    after: &RgbImage,
    bbox: [f32; 4],
) -> Result<(), FaceError> {
    let (w, h) = (image.width(), image.height());
    if before.width() != w || before.height() != h || after.width() != w || after.height() != h {
        return Err(FaceError::Shape(format!(
            "frame {w}x{h} does not match its RGB images"
        )));
    }
    match ChangedRect::new(bbox, w, h) {
        Some(rect) => rect.write(image, &rect.copy_of(before), after),
        None => Ok(()),
    }
}

impl VideoProcessor for FaceSwapProcessor {
    fn name(&self) -> &str {
        "inswapper"
    }

    fn process(&mut self, mut frame: VideoFrame) -> VideoFrame {
        let started = Instant::now();
        self.pace.frame_captured(frame.seq, frame.capture.0);
        let before = (
            self.times.enhance,
            self.times.enhance_network,
            self.times.enhance_runs,
        );
        match self.swap_frame(&mut frame) {
            Ok(()) => {
                self.times.frames += 1;
                // Only frames the enhancer worked on tell what it costs to keep it on.
                if self.enhance_every.is_none() && self.times.enhance > before.0 {
                    let ran = self.times.enhance_runs > before.2;
                    let network = self.times.enhance_network.saturating_sub(before.1);
                    self.pace
                        .frame_done(started.elapsed(), ran.then_some(network));
                }
                frame
            }
            Err(e) => {
                // A frame the engine cannot handle goes out as it came (nothing is written
                // into it before the last step succeeds); the next one tries again.
                self.last_error = Some(e.to_string());
                self.reset_faces();
                frame
            }
        }
    }

    fn enhancer_pace(&self) -> Option<EnhancerPace> {
        self.active_enhancer(&self.engine)?;
        let automatic = self.enhance_every.is_none();
        Some(EnhancerPace {
            every: self.enhance_every_now(),
            automatic,
            fps: self.pace.fps(),
            limit: if automatic { self.pace.limit() } else { None },
        })
    }

    fn apply(&mut self, setting: &VideoSetting) -> Result<(), String> {
        let face_id = match setting {
            VideoSetting::Face(face_id) => face_id,
            VideoSetting::MouthMask(on) => {
                self.set_mouth_mask(*on);
                return Ok(());
            }
            VideoSetting::Occlusion(on) => {
                self.set_occlusion(*on);
                return Ok(());
            }
            VideoSetting::ColourTransfer(on) => {
                self.set_colour_transfer(*on);
                return Ok(());
            }
            VideoSetting::RegionMask(on) => {
                self.set_region_mask(*on);
                return Ok(());
            }
            VideoSetting::AllFaces(on) => {
                self.set_max_faces(if *on { MAX_FACES } else { 1 });
                return Ok(());
            }
            VideoSetting::People(pairs) => {
                let faces = pairs
                    .iter()
                    .map(|(person, wears)| Ok((self.uploaded(person)?, self.uploaded(wears)?)))
                    .collect::<Result<Vec<_>, String>>()?;
                let pairs: Vec<(&TargetFace, &TargetFace)> =
                    faces.iter().map(|(a, b)| (a, b)).collect();
                return self.set_people(&pairs);
            }

            // The engine's owner loads the model and hands it to `FaceEngine::set_swapper`.
            VideoSetting::Swapper(_) => return Ok(()),
            VideoSetting::PixelBoost(factor) => {
                let boost = PixelBoost::from_factor(*factor)
                    .ok_or_else(|| format!("pixel boost must be 1, 2 or 4, got {factor}"))?;
                self.set_pixel_boost(boost);
                return Ok(());
            }
            VideoSetting::Enhancer(id) => {
                let kind = match id.as_deref() {
                    None => None,
                    Some(id) => Some(EnhancerKind::from_id(id).ok_or_else(|| {
                        format!("no face enhancer {id:?}: gfpgan_1.4, gpen_bfr_256 or gpen_bfr_512")
                    })?),
                };
                self.set_enhancer(kind);
                return Ok(());
            }
            VideoSetting::EnhancerStrength(strength) => {
                self.set_enhance_strength(*strength);
                return Ok(());
            }
            VideoSetting::EnhanceEvery(n) => {
                self.set_enhance_every(*n);
                return Ok(());
            }
        };
        match face_id {
            None => self.set_target(None),
            Some(id) => {
                let face = self.uploaded(id)?;
                self.set_target(Some(&face));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the write-back must give: the whole frame converted, its luma taken where a
    /// pixel inside the rectangle changed and its chroma where a block did.
    fn reference_write(image: &mut I420Image, before: &RgbImage, after: &RgbImage, r: ChangedRect) {
        let full = after.to_i420();
        let (w, cw) = (image.width() as usize, image.chroma_width() as usize);
        let (fy, fu, fv) = full.planes();
        let (py, pu, pv) = image.planes_mut();
        for y in r.y0..r.y1 {
            for x in r.x0..r.x1 {
                if before.pixel(x, y) != after.pixel(x, y) {
                    let i = y as usize * w + x as usize;
                    py[i] = fy[i];
                    let c = (y / 2) as usize * cw + (x / 2) as usize;
                    pu[c] = fu[c];
                    pv[c] = fv[c];
                }
            }
        }
    }

    /// The neighbourhood holds everything the alignment and the paste read: whatever the rest
    /// of the buffer holds, the crop, and the box's pixels, are those of the whole frame.
    #[test]
    fn the_neighbourhood_gives_what_the_whole_frame_gives() {
        let frame = crate::standin::textured(640, 360, 17).to_i420();
        let full = frame.to_rgb();
        // Landmarks of a face turned by various angles and sizes, anywhere, edges included.
        for (cx, cy, size, degrees) in [
            (320.0f32, 180.0f32, 120.0f32, 0.0f32),
            (100.5, 300.25, 200.0, 25.0),
            (600.0, 20.0, 90.0, -40.0),
            (5.0, 350.0, 150.0, 80.0),
        ] {
            let (c, s) = (degrees.to_radians().cos(), degrees.to_radians().sin());
            let place = |x: f32, y: f32| {
                let (x, y) = ((x - 56.0) * size / 112.0, (y - 56.0) * size / 112.0);
                [cx + c * x - s * y, cy + s * x + c * y]
            };
            let kps = align::ARCFACE_112.map(|[x, y]| place(x as f32, y as f32));
            let face = Detection {
                bbox: [
                    cx - size / 2.0,
                    cy - size / 2.0,
                    cx + size / 2.0,
                    cy + size / 2.0,
                ],
                score: 0.9,
                kps,
            };
            let mut around = RgbImage::new(640, 360);
            around.data_mut().fill(0xab);
            rgb_around(
                &frame,
                &face,
                128,
                align::Template::Arcface128,
                None,
                &mut around,
            )
            .unwrap();
            let (ours, _) = align::align_crop(&around, &face.kps, 128).unwrap();
            let (theirs, _) = align::align_crop(&full, &face.kps, 128).unwrap();
            assert!(ours == theirs, "crop at ({cx}, {cy}) {degrees}°");
            let rect = ChangedRect::new(face.bbox, 640, 360).unwrap();
            assert_eq!(rect.copy_of(&around), rect.copy_of(&full));
        }
    }

    #[test]
    fn write_back_changes_what_the_whole_frames_conversion_gives() {
        for (w, h, bbox) in [
            (64, 48, [10.3, 7.8, 40.2, 33.5]),
            (37, 21, [20.0, 5.0, 36.9, 20.5]),
            (37, 21, [-4.0, -3.0, 12.0, 9.0]),
            (40, 30, [0.0, 0.0, 39.0, 29.0]),
        ] {
            let before = crate::standin::textured(w, h, 3);
            let mut after = before.clone();
            // Change a scattering of pixels, and one whole row.
            let mut s = 0x1234_5678u32;
            for (i, v) in after.data_mut().iter_mut().enumerate() {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                if s.is_multiple_of(5) || i / (w as usize * 3) == 8 {
                    *v = v.wrapping_add((s >> 24) as u8 | 1);
                }
            }
            let image = before.to_i420();
            let (mut ours, mut theirs) = (image.clone(), image.clone());
            write_changed(&mut ours, &before, &after, bbox).unwrap();
            let rect = ChangedRect::new(bbox, w, h).unwrap();
            reference_write(&mut theirs, &before, &after, rect);
            assert!(ours == theirs, "{w}x{h} {bbox:?}");
            assert!(ours != image);
        }
    }
}
