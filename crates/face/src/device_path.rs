//! [`DevicePath`]: the frame's pre- and post-processing through the graphs of
//! [`crate::device_graph`], loaded on the models' execution provider for the frame's size
//! (built again when the size changes), so a frame's pixels are read and written by the
//! same device that runs the networks.

use crate::detect::Letterbox;
use crate::device_graph::{self as dg, FACE_BOX, MASK, ORIGIN, SWAPPED, TO_CROP, TO_FRAME};
use crate::keep::Keep;
use crate::models::{ModelError, infer_err};
use crate::{Affine, FaceError};
use std::collections::HashMap;
use studio_infer::{BackendChoice, BackendInfo, Model, ModelOptions, Tensor};
use studio_media::{I420Image, RgbImage};

/// Align or paste graphs kept per frame size: one per window size a face has needed.
const WINDOWS: usize = 6;

/// The graphs for one frame size.
struct Loaded {
    size: (u32, u32),
    letterbox: Model,
    placement: Letterbox,
    /// Align and paste graphs by window size, loaded as faces need them.
    align: HashMap<(u32, u32), Model>,
    paste: HashMap<(u32, u32), Model>,
}

/// The graph for `window` in `graphs`, built by `build` and loaded with `options` when it is
/// not there (the others dropped first when `WINDOWS` are).
fn graph_for<'a>(
    graphs: &'a mut HashMap<(u32, u32), Model>,
    window: (u32, u32),
    options: &ModelOptions,
    name: &str,
    build: impl FnOnce() -> Result<Vec<u8>, FaceError>,
) -> Result<&'a mut Model, ModelError> {
    if !graphs.contains_key(&window) {
        if graphs.len() >= WINDOWS {
            graphs.clear();
        }
        let model = Model::load_bytes(name, build()?, options)
            .map_err(infer_err("loading a device graph"))?;
        graphs.insert(window, model);
    }
    graphs
        .get_mut(&window)
        .ok_or_else(|| FaceError::Shape(format!("the {name} graph went missing")).into())
}

/// The graphs on one execution provider, for a detector input size and a crop size.
pub struct DevicePath {
    options: ModelOptions,
    detector_input: (u32, u32),
    crop: u32,
    loaded: Option<Loaded>,
}

impl DevicePath {
    /// Graphs for a detector taking `detector_input` (`w`, `h`) and a swapper taking `crop`
    /// square crops, loaded with `options` once the first frame says the frame's size.
    pub fn new(options: ModelOptions, detector_input: (u32, u32), crop: u32) -> DevicePath {
        DevicePath {
            options,
            detector_input,
            crop,
            loaded: None,
        }
    }

    /// The side of the square crops the graphs cut and paste.
    pub fn crop(&self) -> u32 {
        self.crop
    }

    /// The options to run the graphs with where the networks run on a GPU (where the frame's
    /// pixels would otherwise cross to the host and back): ONNX Runtime on the detector's
    /// device. `None` on the CPU, where the CPU path is faster.
    pub fn options_for(models: &BackendInfo) -> Option<ModelOptions> {
        (models.backend == "ort" && models.device != "cpu").then(|| ModelOptions {
            backend: BackendChoice::Ort,
            device: models.device.clone(),
            ..ModelOptions::default()
        })
    }

    /// Where the graphs run, once loaded.
    pub fn backend(&self) -> Option<&BackendInfo> {
        self.loaded.as_ref().map(|l| l.letterbox.backend())
    }

    fn fit(&mut self, image: &I420Image) -> Result<&mut Loaded, ModelError> {
        let size = (image.width(), image.height());
        if self.loaded.as_ref().is_some_and(|l| l.size != size) {
            self.loaded = None;
        }
        let loaded = match self.loaded.take() {
            Some(l) => l,
            None => {
                let (w, h) = size;
                let (iw, ih) = self.detector_input;
                let load = |name: &str, bytes: Vec<u8>| {
                    Model::load_bytes(name, bytes, &self.options)
                        .map_err(infer_err("loading a device graph"))
                };
                let (bytes, placement) = dg::letterbox(w, h, iw, ih)?;
                Loaded {
                    size,
                    letterbox: load("letterbox", bytes)?,
                    placement,
                    align: HashMap::new(),
                    paste: HashMap::new(),
                }
            }
        };
        Ok(self.loaded.insert(loaded))
    }

    /// The detector's input for `image`, as [`crate::detect::letterbox_blob_i420`] gives it.
    pub fn letterbox(&mut self, image: &I420Image) -> Result<(Vec<f32>, Letterbox), ModelError> {
        let inputs = dg::i420_inputs_of(image)?;
        let loaded = self.fit(image)?;
        let blob = loaded
            .letterbox
            .run_one(inputs, Some(dg::BLOB))
            .map_err(infer_err("running the letterbox graph"))?;
        let placement = loaded.placement;
        match blob {
            Tensor::F32 { data, .. } => Ok((data, placement)),
            other => Ok((other.to_f32(), placement)),
        }
    }

    /// The aligned crop of `image` under `to_crop` (frame → crop).
    pub fn align(&mut self, image: &I420Image, to_crop: &Affine) -> Result<RgbImage, ModelError> {
        let to_frame = to_crop
            .invert()
            .ok_or_else(|| FaceError::Degenerate("singular crop transform".into()))?;
        let (w, h) = (image.width(), image.height());
        let (origin, window) = dg::align_window(to_crop, self.crop, w, h)?;
        let mut inputs = dg::i420_inputs_of(image)?;
        inputs.push((ORIGIN.into(), origin_input(origin)));
        inputs.push((TO_FRAME.into(), dg::affine_input(&to_frame)));
        let (options, size) = (self.options.clone(), self.crop);
        let loaded = self.fit(image)?;
        let graph = graph_for(&mut loaded.align, window, &options, "align", || {
            dg::align(w, h, size, window)
        })?;
        let crop = graph
            .run_one(inputs, Some(dg::CROP))
            .map_err(infer_err("running the align graph"))?;
        Ok(dg::rgb_from_planar(&crop)?)
    }

    /// `image` with `swapped` pasted under `mask` (weights in crop pixels, from
    /// [`crate::blend::PasteBack::crop_mask`]) within `face_box`, and what `keep` keeps
    /// taken out of the mask at each crop pixel's place in the frame.
    pub fn paste(
        &mut self,
        image: &I420Image,
        swapped: &RgbImage,
        mut mask: Vec<f32>,
        to_crop: &Affine,
        face_box: [f32; 4],
        keep: Option<&Keep>,
    ) -> Result<I420Image, ModelError> {
        let (cw, ch) = (swapped.width(), swapped.height());
        if cw != self.crop || ch != self.crop || mask.len() != (cw * ch) as usize {
            return Err(FaceError::Shape(format!(
                "a {cw}x{ch} crop with {} mask values for {}x{} graphs",
                mask.len(),
                self.crop,
                self.crop
            ))
            .into());
        }
        if let Some(keep) = keep {
            let to_frame = to_crop
                .invert()
                .ok_or_else(|| FaceError::Degenerate("singular crop transform".into()))?;
            for (i, a) in mask.iter_mut().enumerate() {
                let (x, y) = to_frame.apply((i as u32 % cw).into(), (i as u32 / cw).into());
                *a = keep.apply(*a, x.round() as i64, y.round() as i64);
            }
        }
        let (w, h) = (image.width(), image.height());
        let Some((origin, window)) = dg::paste_window(face_box, w, h) else {
            return Ok(image.clone());
        };
        let s = self.crop as usize;
        let mut inputs = dg::i420_inputs_of(image)?;
        let shape_error = |e: studio_infer::InferError| FaceError::Shape(e.to_string());
        inputs.push((ORIGIN.into(), origin_input(origin)));
        inputs.push((SWAPPED.into(), dg::planar_from_rgb(swapped)));
        inputs.push((
            MASK.into(),
            Tensor::f32(&[1, 1, s, s], mask).map_err(shape_error)?,
        ));
        inputs.push((TO_CROP.into(), dg::affine_input(to_crop)));
        inputs.push((
            FACE_BOX.into(),
            Tensor::f32(&[4], face_box.to_vec()).map_err(shape_error)?,
        ));
        let (options, size) = (self.options.clone(), self.crop);
        let loaded = self.fit(image)?;
        let graph = graph_for(&mut loaded.paste, window, &options, "paste", || {
            dg::paste(w, h, size, window)
        })?;
        let outputs = graph
            .run(inputs)
            .map_err(infer_err("running the paste graph"))?;
        Ok(dg::write_window(image, &outputs, origin, window)?)
    }
}

/// A window's origin as the graphs' `origin` input.
fn origin_input((x, y): (u32, u32)) -> Tensor {
    Tensor::F32 {
        shape: vec![2],
        data: vec![x as f32, y as f32],
    }
}
