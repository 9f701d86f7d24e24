//! The three networks on `studio-infer`: the SCRFD detector, the ArcFace embedder and the
//! swapper (its family recognised from its inputs and outputs, `swapper.rs`). Each wraps the
//! model with the reference's pre- and post-processing.

use crate::align::align_crop;
use crate::detect::{
    DecodeParams, Letterbox, RawOutputs, detect_from_outputs, letterbox_blob, letterbox_i420_into,
};
use crate::latent::{normalize, source_latent};
use crate::swapper::{
    PixelBoost, SourceKind, SwapperFamily, SwapperSpec, explode_rgb, implode_rgb,
};
use crate::{Detection, FaceError};
use std::path::Path;
use std::time::{Duration, Instant};
use studio_infer::{BoundIo, Dim, Model, ModelOptions, Tensor};
use studio_media::{I420Image, RgbImage};

/// What can go wrong running the face networks.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{what}: {source}")]
    Infer {
        what: String,
        #[source]
        source: studio_infer::InferError,
    },
    #[error("{0}")]
    Face(#[from] FaceError),
    /// A model whose inputs or outputs are not what its role needs.
    #[error("{path}: {reason}")]
    Unsupported { path: String, reason: String },
    /// A network answered with values that are not numbers (a half-precision model
    /// overflowing, typically).
    #[error("{path} gave values that are not finite numbers")]
    NotFinite { path: String },
    /// The detection worker failed, or its detector did (detection ahead).
    #[error("{0}")]
    DetectAhead(String),
}

pub(crate) fn infer_err(what: &str) -> impl FnOnce(studio_infer::InferError) -> ModelError + '_ {
    move |source| ModelError::Infer {
        what: what.to_string(),
        source,
    }
}

fn load(path: &Path, options: &ModelOptions) -> Result<Model, ModelError> {
    Model::load(path, options).map_err(infer_err("loading a face model"))
}

pub(crate) fn unsupported(model: &Model, reason: String) -> ModelError {
    ModelError::Unsupported {
        path: model.path().display().to_string(),
        reason,
    }
}

/// Interleaved 8-bit RGB to a `[1, 3, h, w]` tensor of `(v − mean) / std`.
fn rgb_blob(img: &RgbImage, mean: f32, std: f32) -> Result<Tensor, ModelError> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let plane = w * h;
    let mut data = vec![0f32; plane * 3];
    for (i, px) in img.data().chunks_exact(3).enumerate() {
        for c in 0..3 {
            data[c * plane + i] = (f32::from(px[c]) - mean) / std;
        }
    }
    Tensor::f32(&[1, 3, h, w], data).map_err(infer_err("building an input"))
}

/// SCRFD (det_10g and its family with keypoints): 9 outputs, 3 strides, 2 anchors. Its
/// input and outputs are bound once: the letterbox is written straight into the input.
pub struct Detector {
    model: Model,
    io: BoundIo,
    /// The letterbox the bound input holds (its black border written), so a frame of the
    /// same size writes only the picture; `None` after anything else wrote it.
    written: Option<Letterbox>,
    /// The nine outputs' names in insightface's order (scores, boxes, keypoints per stride).
    outputs: [String; 9],
    /// Time spent inside the network (not pre/post-processing), summed.
    pub run_time: Duration,
    input: String,
    size: (u32, u32),
    pub params: DecodeParams,
}

impl Detector {
    pub fn load(path: &Path, options: &ModelOptions) -> Result<Detector, ModelError> {
        let model = load(path, options)?;
        let info = model.info();
        let (Some(input), 9) = (info.inputs.first(), info.outputs.len()) else {
            return Err(unsupported(
                &model,
                format!(
                    "a SCRFD detector has 1 input and 9 outputs, this has {} and {}",
                    info.inputs.len(),
                    info.outputs.len()
                ),
            ));
        };
        // A fixed input size is used as is; a dynamic one runs at 640×640 like insightface.
        let fixed = |d: Option<&Dim>| match d {
            Some(Dim::Fixed(n)) if *n >= 32 => Some(*n as u32),
            _ => None,
        };
        let size = (
            fixed(input.shape.get(3)).unwrap_or(640),
            fixed(input.shape.get(2)).unwrap_or(640),
        );
        let input = input.name.clone();
        // Nine, as checked above.
        let outputs = std::array::from_fn(|i| info.outputs[i].name.clone());
        let mut model = model;
        let shape = [1, 3, size.1 as usize, size.0 as usize];
        let io = model
            .bind(&[(input.as_str(), &shape)])
            .map_err(infer_err("binding the detector's input and outputs"))?;
        Ok(Detector {
            model,
            io,
            written: None,
            outputs,
            run_time: Duration::ZERO,
            input,
            size,
            params: DecodeParams::default(),
        })
    }

    /// Where the detector's bound input and outputs live, in words.
    pub fn placement(&self) -> &str {
        self.io.placement()
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Faces in `img`, best first, in frame pixels.
    pub fn detect(&mut self, img: &RgbImage) -> Result<Vec<Detection>, ModelError> {
        let (w, h) = self.size;
        let (blob, lb) = letterbox_blob(img, w, h)?;
        self.detect_blob(blob, &lb)
    }

    /// [`Detector::detect`] on a frame as it comes (I420), without converting all of it to
    /// RGB: the same input for the network, value for value, so the same faces.
    pub fn detect_i420(&mut self, image: &I420Image) -> Result<Vec<Detection>, ModelError> {
        let (w, h) = self.size;
        // Nobody else writes the input between frames (the `written` mark is dropped first
        // in case the letterbox fails half way).
        let written = self.written.take();
        let input = self
            .io
            .input_f32(&self.input)
            .map_err(infer_err("writing the detector input"))?;
        let lb = letterbox_i420_into(image, w, h, input, written)?;
        self.written = Some(lb);
        self.run_bound(&lb)
    }

    /// The detector's input size, `(w, h)`.
    pub fn input_size(&self) -> (u32, u32) {
        self.size
    }

    /// Faces from a letterboxed input made elsewhere (the device path's graph).
    pub fn detect_blob(
        &mut self,
        blob: Vec<f32>,
        lb: &Letterbox,
    ) -> Result<Vec<Detection>, ModelError> {
        self.written = None;
        self.io
            .write_f32(&self.input, &blob)
            .map_err(infer_err("building the detector input"))?;
        self.run_bound(lb)
    }

    /// Runs on the bound input and decodes the nine outputs, read where they lie.
    fn run_bound(&mut self, lb: &Letterbox) -> Result<Vec<Detection>, ModelError> {
        let (w, h) = self.size;
        let t = Instant::now();
        self.model
            .run_bound(&mut self.io)
            .map_err(infer_err("running the detector"))?;
        self.run_time += t.elapsed();
        let mut v: [&[f32]; 9] = [&[]; 9];
        for (out, name) in v.iter_mut().zip(&self.outputs) {
            *out = self
                .io
                .output_f32(name)
                .map_err(infer_err("reading the detector outputs"))?;
        }
        let raw = RawOutputs {
            scores: [v[0], v[1], v[2]],
            boxes: [v[3], v[4], v[5]],
            kps: [v[6], v[7], v[8]],
        };
        Ok(detect_from_outputs(&raw, w, h, lb, &self.params)?)
    }
}

/// ArcFace (w600k_r50): a 112 aligned crop to a unit-length 512-d identity vector.
pub struct Embedder {
    model: Model,
    input: String,
}

impl Embedder {
    pub fn load(path: &Path, options: &ModelOptions) -> Result<Embedder, ModelError> {
        let model = load(path, options)?;
        let Some(input) = model.info().inputs.first().map(|i| i.name.clone()) else {
            return Err(unsupported(&model, "the model has no input".into()));
        };
        Ok(Embedder { model, input })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The identity of `face` in `img`: aligned to the 112 template, `(v − 127.5) / 127.5`.
    pub fn embed(&mut self, img: &RgbImage, face: &Detection) -> Result<Vec<f32>, ModelError> {
        let (crop, _) = align_crop(img, &face.kps, 112)?;
        self.embed_crop(&crop)
    }

    pub fn embed_crop(&mut self, crop: &RgbImage) -> Result<Vec<f32>, ModelError> {
        Ok(normalize(&self.embed_crop_raw(crop)?)?)
    }

    /// The identity as the network gives it, not scaled to unit length (what an embedding
    /// converter takes).
    pub fn embed_raw(&mut self, img: &RgbImage, face: &Detection) -> Result<Vec<f32>, ModelError> {
        let (crop, _) = align_crop(img, &face.kps, 112)?;
        self.embed_crop_raw(&crop)
    }

    fn embed_crop_raw(&mut self, crop: &RgbImage) -> Result<Vec<f32>, ModelError> {
        let blob = rgb_blob(crop, 127.5, 127.5)?;
        let out = self
            .model
            .run_one(vec![(self.input.clone(), blob)], None)
            .map_err(infer_err("running the embedder"))?;
        Ok(out.to_f32())
    }
}

/// A face swapper: the aligned crop of the target face in, the same crop wearing the source
/// identity out. Which family it is (and so its template, crop size, normalisation and
/// identity vector) is told from its inputs and outputs ([`SwapperSpec::recognise`]).
pub struct Swapper {
    model: Model,
    /// The crop and identity inputs and the outputs, bound once (every swapper's shapes are
    /// fixed by its size).
    io: BoundIo,
    /// Time spent inside the network (the converter's included), summed.
    pub run_time: Duration,
    spec: SwapperSpec,
    /// inswapper's 512×512 emap (empty for the other families).
    emap: Vec<f32>,
    /// The embedding converter, for families whose identity vector needs one.
    converter: Option<Model>,
}

impl Swapper {
    /// A swapper whose family needs no embedding converter (inswapper, HyperSwap).
    pub fn load(path: &Path, options: &ModelOptions) -> Result<Swapper, ModelError> {
        Swapper::load_with_converter(path, None, options)
    }

    /// A swapper and, for the families that take a converted identity (SimSwap), its
    /// embedding converter (`crossface_simswap`: `input` `[1, 512]` → `[1, 512]`).
    pub fn load_with_converter(
        path: &Path,
        converter: Option<&Path>,
        options: &ModelOptions,
    ) -> Result<Swapper, ModelError> {
        let model = load(path, options)?;
        let spec =
            SwapperSpec::recognise(model.info()).map_err(|e| unsupported(&model, e.to_string()))?;
        let emap = match spec.source {
            SourceKind::Emap => read_emap(&model)?,
            _ => Vec::new(),
        };
        let converter = match (spec.source, converter) {
            (SourceKind::Converted, Some(path)) => {
                let converter = load(path, options)?;
                let info = converter.info();
                let vector =
                    |shape: &[Dim]| matches!(shape, [_, Dim::Fixed(512)] | [Dim::Fixed(512)]);
                match (info.inputs.as_slice(), info.outputs.as_slice()) {
                    ([i], [o, ..]) if vector(&i.shape) && vector(&o.shape) => Some(converter),
                    _ => {
                        return Err(unsupported(
                            &converter,
                            "an embedding converter takes and gives one 512-d vector".into(),
                        ));
                    }
                }
            }
            (SourceKind::Converted, None) => {
                return Err(unsupported(
                    &model,
                    format!(
                        "{} needs its embedding converter (crossface_simswap)",
                        spec.describe()
                    ),
                ));
            }
            _ => None,
        };
        let side = spec.size as usize;
        let mut model = model;
        let io = model
            .bind(&[
                (spec.target_input.as_str(), &[1, 3, side, side]),
                (spec.source_input.as_str(), &[1, 512]),
            ])
            .map_err(infer_err("binding the swapper's inputs and outputs"))?;
        Ok(Swapper {
            model,
            io,
            run_time: Duration::ZERO,
            spec,
            emap,
            converter,
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn spec(&self) -> &SwapperSpec {
        &self.spec
    }

    pub fn family(&self) -> SwapperFamily {
        self.spec.family
    }

    /// The crop size the swapper works at (128 for inswapper_128).
    pub fn size(&self) -> u32 {
        self.spec.size
    }

    /// The `source` input for an identity, from the embedder's raw ArcFace vector: computed
    /// once per target face, not per frame.
    pub fn source_latent(&mut self, embedding: &[f32]) -> Result<Vec<f32>, ModelError> {
        let unit = normalize(embedding)?;
        match self.spec.source {
            SourceKind::Emap => Ok(source_latent(&unit, &self.emap)?),
            SourceKind::Normed => Ok(unit),
            SourceKind::Converted => {
                let Some(converter) = self.converter.as_mut() else {
                    return Err(unsupported(&self.model, "no embedding converter".into()));
                };
                let Some(input) = converter.info().inputs.first().map(|i| i.name.clone()) else {
                    return Err(unsupported(converter, "the converter has no input".into()));
                };
                let raw = Tensor::f32(&[1, embedding.len()], embedding.to_vec())
                    .map_err(infer_err("building the converter input"))?;
                let t = Instant::now();
                let out = converter
                    .run_one(vec![(input, raw)], None)
                    .map_err(infer_err("running the embedding converter"))?;
                self.run_time += t.elapsed();
                Ok(normalize(&out.to_f32())?)
            }
        }
    }

    /// Where the swapper's bound inputs and outputs live, in words.
    pub fn placement(&self) -> &str {
        self.io.placement()
    }

    /// Swap the aligned `crop` (RGB, `size × size`) to the identity `latent`: the crop
    /// written straight into the bound input, the output read where it lies.
    pub fn swap(&mut self, crop: &RgbImage, latent: &[f32]) -> Result<RgbImage, ModelError> {
        let target = self
            .io
            .input_f32(&self.spec.target_input)
            .map_err(infer_err("building the swapper target"))?;
        self.spec.prepare_crop_into(crop, target)?;
        self.io
            .write_f32(&self.spec.source_input, latent)
            .map_err(infer_err("building the swapper source"))?;
        let t = Instant::now();
        self.model
            .run_bound(&mut self.io)
            .map_err(infer_err("running the swapper"))?;
        self.run_time += t.elapsed();
        let out = self
            .io
            .output_f32(&self.spec.image_output)
            .map_err(infer_err("reading the swapper output"))?;
        if out.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::NotFinite {
                path: self.model.path().display().to_string(),
            });
        }
        self.spec
            .finish_crop_u8(out)
            .map_err(|e| unsupported(&self.model, e.to_string()))
    }

    /// Swap a crop cut at `boost` times the model's size: split into interleaved tiles of
    /// the model's size, each swapped, put back together.
    pub fn swap_boosted(
        &mut self,
        crop: &RgbImage,
        latent: &[f32],
        boost: PixelBoost,
    ) -> Result<RgbImage, ModelError> {
        let k = boost.factor();
        if k == 1 {
            return self.swap(crop, latent);
        }
        let tiles = implode_rgb(crop, k)?;
        let mut swapped = Vec::with_capacity(tiles.len());
        for tile in &tiles {
            swapped.push(self.swap(tile, latent)?);
        }
        Ok(explode_rgb(&swapped, k)?)
    }
}

/// insightface reads inswapper's emap as the graph's last initializer.
fn read_emap(model: &Model) -> Result<Vec<f32>, ModelError> {
    let last = model.info().initializer_names.last().cloned();
    let emap = match last {
        Some(name) => model
            .initializer(&name)
            .map_err(infer_err("reading the swapper's emap"))?
            .map(|t| t.to_f32())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    if emap.len() != 512 * 512 {
        return Err(unsupported(
            model,
            format!(
                "inswapper's last initializer must be the 512×512 emap, it has {} values",
                emap.len()
            ),
        ));
    }
    Ok(emap)
}
