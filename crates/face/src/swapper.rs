//! Which swapper a model is, told from its inputs and outputs alone, and each family's pre-
//! and post-processing as FaceFusion's `face_swapper` does it: the crop's template and size,
//! its normalisation, the identity vector the model takes, whether its output is
//! de-normalised. Also pixel boost: the crop cut at `k ×` the model's size, split into `k²`
//! interleaved tiles (FaceFusion's `implode_pixel_boost`), each swapped, and put back
//! (`explode_pixel_boost`). Nothing here runs a model.

use crate::FaceError;
use crate::align::Template;
use studio_infer::{Dim, ElementType, ModelInfo};
use studio_media::RgbImage;

/// The swapper families this engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwapperFamily {
    /// insightface's inswapper_128 (fp32 or fp16): the emap latent, output in `[0, 1]`.
    Inswapper,
    /// FaceFusion's HyperSwap 1a/1b/1c 256: the unit ArcFace vector, input and output in
    /// `[-1, 1]`, a mask as its second output (FaceFusion does not use it; neither do we).
    Hyperswap,
    /// SimSwap 256 and 512: the ArcFace vector through its converter (`crossface_simswap`),
    /// made unit length; output in `[0, 1]`.
    Simswap,
}

impl SwapperFamily {
    pub fn name(self) -> &'static str {
        match self {
            SwapperFamily::Inswapper => "inswapper",
            SwapperFamily::Hyperswap => "hyperswap",
            SwapperFamily::Simswap => "simswap",
        }
    }
}

/// What a swapper's `source` input holds for an identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// `normalize(normalize(embedding) · emap)`, the emap being the graph's last initializer.
    Emap,
    /// The ArcFace embedding scaled to unit length.
    Normed,
    /// The raw ArcFace embedding through an embedding converter model, then unit length.
    Converted,
}

/// Everything the pipeline needs to know to drive a swapper.
#[derive(Debug, Clone, PartialEq)]
pub struct SwapperSpec {
    pub family: SwapperFamily,
    /// The model's crop side in pixels (128, 256 or 512).
    pub size: u32,
    pub template: Template,
    /// Per RGB channel, applied to `v / 255`: `(v / 255 − mean) / std`.
    pub mean: [f64; 3],
    pub std: [f64; 3],
    pub source: SourceKind,
    /// Whether the output is `v · std + mean` before the clip to `[0, 1]`.
    pub denormalise_output: bool,
    /// The element type of the crop input (`F16` for the half-precision exports).
    pub precision: ElementType,
    pub target_input: String,
    pub source_input: String,
    pub image_output: String,
    /// The model's own face mask, where it has one.
    pub mask_output: Option<String>,
}

/// Why a model is not a swapper this engine runs.
fn refuse(reason: String) -> FaceError {
    FaceError::Shape(reason)
}

fn fixed(shape: &[Dim]) -> Option<Vec<usize>> {
    shape
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) => Some(*n),
            // A symbolic batch is one image here.
            Dim::Symbolic(_) => Some(1),
        })
        .collect()
}

impl SwapperSpec {
    /// Recognise a swapper from what its file declares: a `target` image `[1, 3, s, s]` and a
    /// `source` vector `[1, 512]` in; out, an image of the same shape and, for HyperSwap, a
    /// one-channel mask. The side and the outputs tell the families apart: 128 is inswapper,
    /// 256 with a mask HyperSwap, 256 without and 512 SimSwap.
    pub fn recognise(info: &ModelInfo) -> Result<SwapperSpec, FaceError> {
        let names: Vec<&str> = info.inputs.iter().map(|i| i.name.as_str()).collect();
        let (Some(target), Some(source)) = (info.input("target"), info.input("source")) else {
            return Err(refuse(format!(
                "unknown swapper: inputs {names:?} (a swapper has target and source)"
            )));
        };
        let side = match fixed(&target.shape).as_deref() {
            Some([1, 3, h, w]) if h == w => *h as u32,
            _ => {
                return Err(refuse(format!(
                    "the swapper's target must be [1, 3, s, s], it is {:?}",
                    target.shape
                )));
            }
        };
        match fixed(&source.shape).as_deref() {
            Some([1, 512]) => {}
            _ => {
                return Err(refuse(format!(
                    "the swapper's source must be a [1, 512] identity vector, it is {:?} \
                     (swappers that take a source image are not supported)",
                    source.shape
                )));
            }
        }
        let image = |o: &studio_infer::TensorInfo| {
            fixed(&o.shape).as_deref() == Some(&[1, 3, side as usize, side as usize][..])
        };
        // One value a pixel: `[1, 1, s, s]` or `[1, s, s]`.
        let mask = |o: &studio_infer::TensorInfo| {
            fixed(&o.shape).is_some_and(|d| d.iter().product::<usize>() == (side * side) as usize)
        };
        let Some(image_output) = info.outputs.iter().find(|o| image(o)) else {
            return Err(refuse(format!(
                "the swapper has no [1, 3, {side}, {side}] output (outputs {:?})",
                info.outputs.iter().map(|o| &o.name).collect::<Vec<_>>()
            )));
        };
        let mask_output = info.outputs.iter().find(|o| mask(o));
        let (family, template, mean, std, source_kind, denormalise) =
            match (side, mask_output.is_some(), info.outputs.len()) {
                (128, false, 1) => (
                    SwapperFamily::Inswapper,
                    Template::Arcface128,
                    [0.0; 3],
                    [1.0; 3],
                    SourceKind::Emap,
                    false,
                ),
                (256, true, 2) => (
                    SwapperFamily::Hyperswap,
                    Template::Arcface128,
                    [0.5; 3],
                    [0.5; 3],
                    SourceKind::Normed,
                    true,
                ),
                (256, false, 1) => (
                    SwapperFamily::Simswap,
                    Template::Arcface112V1,
                    [0.485, 0.456, 0.406],
                    [0.229, 0.224, 0.225],
                    SourceKind::Converted,
                    false,
                ),
                (512, false, 1) => (
                    SwapperFamily::Simswap,
                    Template::Arcface112V1,
                    [0.0; 3],
                    [1.0; 3],
                    SourceKind::Converted,
                    false,
                ),
                (side, has_mask, n) => {
                    return Err(refuse(format!(
                        "unknown swapper: a {side}×{side} crop with {n} outputs{} (known: \
                         inswapper 128, HyperSwap 256 with its mask, SimSwap 256 and 512)",
                        if has_mask { ", one a mask" } else { "" }
                    )));
                }
            };
        Ok(SwapperSpec {
            family,
            size: side,
            template,
            mean,
            std,
            source: source_kind,
            denormalise_output: denormalise,
            precision: target.element_type,
            target_input: target.name.clone(),
            source_input: source.name.clone(),
            image_output: image_output.name.clone(),
            mask_output: mask_output.map(|o| o.name.clone()),
        })
    }

    /// A short description for status: `hyperswap 256 fp16`.
    pub fn describe(&self) -> String {
        let precision = match self.precision {
            ElementType::F16 => " fp16",
            _ => "",
        };
        format!("{} {}{precision}", self.family.name(), self.size)
    }

    /// The crop input: interleaved 8-bit RGB to `[1, 3, s, s]` of `(v / 255 − mean) / std`
    /// (FaceFusion's `prepare_crop_frame`, whose BGR crop is reversed to RGB first).
    pub fn prepare_crop(&self, crop: &RgbImage) -> Result<Vec<f32>, FaceError> {
        let mut data = vec![0f32; crop.data().len()];
        self.prepare_crop_into(crop, &mut data)?;
        Ok(data)
    }

    /// [`SwapperSpec::prepare_crop`] written into `data` (`3 × s × s` values: the swapper's
    /// bound input).
    pub fn prepare_crop_into(&self, crop: &RgbImage, data: &mut [f32]) -> Result<(), FaceError> {
        self.check_side(crop)?;
        let plane = (crop.width() * crop.height()) as usize;
        if data.len() != plane * 3 {
            return Err(FaceError::Shape(format!(
                "a {0}x{0} crop input has {1} values, the buffer holds {2}",
                crop.width(),
                plane * 3,
                data.len()
            )));
        }
        let plain = self.mean == [0.0; 3] && self.std == [1.0; 3];
        for (i, px) in crop.data().chunks_exact(3).enumerate() {
            for c in 0..3 {
                data[c * plane + i] = if plain {
                    // inswapper's input as it always was: one division in f32.
                    f32::from(px[c]) / 255.0
                } else {
                    ((f64::from(px[c]) / 255.0 - self.mean[c]) / self.std[c]) as f32
                };
            }
        }
        Ok(())
    }

    /// The model's `[1, 3, s, s]` output to interleaved RGB values in `[0, 255]`
    /// (FaceFusion's `normalize_crop_frame`: de-normalised where the family's output is,
    /// clipped to `[0, 1]`, times 255).
    pub fn finish_crop(&self, out: &[f32]) -> Result<Vec<f32>, FaceError> {
        let plane = (self.size * self.size) as usize;
        if out.len() != plane * 3 {
            return Err(FaceError::Shape(format!(
                "the swapper's output has {} values, expected {}",
                out.len(),
                plane * 3
            )));
        }
        let mut data = vec![0f32; plane * 3];
        for i in 0..plane {
            for c in 0..3 {
                let v = out[c * plane + i];
                let v = if self.denormalise_output {
                    v * self.std[c] as f32 + self.mean[c] as f32
                } else {
                    v
                };
                data[i * 3 + c] = v.clamp(0.0, 1.0) * 255.0;
            }
        }
        Ok(data)
    }

    /// [`SwapperSpec::finish_crop`] as an 8-bit image: values truncated, as numpy's
    /// `astype(uint8)` does where the paste writes the frame back.
    pub fn finish_crop_u8(&self, out: &[f32]) -> Result<RgbImage, FaceError> {
        let data = self
            .finish_crop(out)?
            .into_iter()
            .map(|v| v as u8)
            .collect();
        RgbImage::from_data(self.size, self.size, data).map_err(|e| FaceError::Shape(e.to_string()))
    }

    fn check_side(&self, crop: &RgbImage) -> Result<(), FaceError> {
        if crop.width() != self.size || crop.height() != self.size {
            return Err(FaceError::Shape(format!(
                "a {}x{} crop for a {}-pixel swapper",
                crop.width(),
                crop.height(),
                self.size
            )));
        }
        Ok(())
    }
}

/// How many times the model's size the crop is cut at: the model then runs `k²` times a
/// frame, on interleaved tiles, for `k` times the detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PixelBoost {
    #[default]
    X1,
    X2,
    X4,
}

impl PixelBoost {
    pub fn factor(self) -> u32 {
        match self {
            PixelBoost::X1 => 1,
            PixelBoost::X2 => 2,
            PixelBoost::X4 => 4,
        }
    }

    pub fn from_factor(k: u32) -> Option<PixelBoost> {
        match k {
            1 => Some(PixelBoost::X1),
            2 => Some(PixelBoost::X2),
            4 => Some(PixelBoost::X4),
            _ => None,
        }
    }
}

/// Split a `(s·k) × (s·k)` image of `channels` values a pixel into `k²` tiles of `s × s`:
/// tile `i·k + j` holds the pixels at rows `y·k + i` and columns `x·k + j` (FaceFusion's
/// `implode_pixel_boost`: a reshape to `(s, k, s, k, c)` and a transpose to `(k, k, s, s, c)`).
pub fn implode<T: Copy>(
    data: &[T],
    side: usize,
    k: usize,
    channels: usize,
) -> Result<Vec<Vec<T>>, FaceError> {
    let big = side
        .checked_mul(k)
        .ok_or_else(|| FaceError::Shape("pixel boost size overflows".into()))?;
    if k == 0 || data.len() != big * big * channels {
        return Err(FaceError::Shape(format!(
            "{} values are not a {big}x{big} image of {channels} channels",
            data.len()
        )));
    }
    let mut tiles = Vec::with_capacity(k * k);
    for i in 0..k {
        for j in 0..k {
            let mut tile = Vec::with_capacity(side * side * channels);
            for y in 0..side {
                for x in 0..side {
                    let o = ((y * k + i) * big + x * k + j) * channels;
                    tile.extend_from_slice(&data[o..o + channels]);
                }
            }
            tiles.push(tile);
        }
    }
    Ok(tiles)
}

/// Put `k²` tiles back into one image: the inverse of [`implode`] (FaceFusion's
/// `explode_pixel_boost`).
pub fn explode<T: Copy + Default>(
    tiles: &[Vec<T>],
    side: usize,
    k: usize,
    channels: usize,
) -> Result<Vec<T>, FaceError> {
    if tiles.len() != k * k || tiles.iter().any(|t| t.len() != side * side * channels) {
        return Err(FaceError::Shape(format!(
            "pixel boost needs {} tiles of {side}x{side}",
            k * k
        )));
    }
    let big = side * k;
    let mut out = vec![T::default(); big * big * channels];
    for i in 0..k {
        for j in 0..k {
            let tile = &tiles[i * k + j];
            for y in 0..side {
                for x in 0..side {
                    let o = ((y * k + i) * big + x * k + j) * channels;
                    let t = (y * side + x) * channels;
                    out[o..o + channels].copy_from_slice(&tile[t..t + channels]);
                }
            }
        }
    }
    Ok(out)
}

/// [`implode`] on an RGB image.
pub fn implode_rgb(img: &RgbImage, k: u32) -> Result<Vec<RgbImage>, FaceError> {
    if k == 0 || img.width() != img.height() || !img.width().is_multiple_of(k) {
        return Err(FaceError::Shape(format!(
            "a {}x{} crop cannot be split {k} ways",
            img.width(),
            img.height()
        )));
    }
    let side = img.width() / k;
    implode(img.data(), side as usize, k as usize, 3)?
        .into_iter()
        .map(|t| RgbImage::from_data(side, side, t).map_err(|e| FaceError::Shape(e.to_string())))
        .collect()
}

/// [`explode`] on RGB tiles.
pub fn explode_rgb(tiles: &[RgbImage], k: u32) -> Result<RgbImage, FaceError> {
    let side = tiles.first().map(|t| t.width()).unwrap_or(0);
    let data: Vec<Vec<u8>> = tiles.iter().map(|t| t.data().to_vec()).collect();
    let big = side
        .checked_mul(k)
        .ok_or_else(|| FaceError::Shape("pixel boost size overflows".into()))?;
    let out = explode(&data, side as usize, k as usize, 3)?;
    RgbImage::from_data(big, big, out).map_err(|e| FaceError::Shape(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use studio_infer::TensorInfo;

    fn tensor(name: &str, element_type: ElementType, shape: &[usize]) -> TensorInfo {
        TensorInfo {
            name: name.into(),
            element_type,
            shape: shape.iter().map(|n| Dim::Fixed(*n)).collect(),
        }
    }

    fn info(side: usize, mask: bool, element_type: ElementType) -> ModelInfo {
        let mut outputs = vec![tensor("output", element_type, &[1, 3, side, side])];
        if mask {
            outputs.push(tensor("mask", element_type, &[1, 1, side, side]));
        }
        ModelInfo {
            inputs: vec![
                tensor("target", element_type, &[1, 3, side, side]),
                tensor("source", element_type, &[1, 512]),
            ],
            outputs,
            ..ModelInfo::default()
        }
    }

    #[test]
    fn each_family_is_told_by_its_inputs_and_outputs() {
        let ins = SwapperSpec::recognise(&info(128, false, ElementType::F32)).unwrap();
        assert_eq!(
            (ins.family, ins.source, ins.template),
            (
                SwapperFamily::Inswapper,
                SourceKind::Emap,
                Template::Arcface128
            )
        );
        let half = SwapperSpec::recognise(&info(128, false, ElementType::F16)).unwrap();
        assert_eq!(half.describe(), "inswapper 128 fp16");
        let hyper = SwapperSpec::recognise(&info(256, true, ElementType::F32)).unwrap();
        assert_eq!(hyper.family, SwapperFamily::Hyperswap);
        assert_eq!(hyper.mask_output.as_deref(), Some("mask"));
        assert!(hyper.denormalise_output && hyper.source == SourceKind::Normed);
        let sim = SwapperSpec::recognise(&info(256, false, ElementType::F32)).unwrap();
        assert_eq!(
            (sim.family, sim.template),
            (SwapperFamily::Simswap, Template::Arcface112V1)
        );
        assert_eq!(sim.mean, [0.485, 0.456, 0.406]);
        let sim512 = SwapperSpec::recognise(&info(512, false, ElementType::F32)).unwrap();
        assert_eq!(
            (sim512.size, sim512.mean, sim512.source),
            (512, [0.0; 3], SourceKind::Converted)
        );
    }

    #[test]
    fn other_models_are_refused_with_what_they_are() {
        let mut image_source = info(256, false, ElementType::F32);
        image_source.inputs[1] = tensor("source", ElementType::F32, &[1, 3, 256, 256]);
        let err = SwapperSpec::recognise(&image_source)
            .unwrap_err()
            .to_string();
        assert!(err.contains("source image"), "{err}");
        let err = SwapperSpec::recognise(&info(384, false, ElementType::F32))
            .unwrap_err()
            .to_string();
        assert!(err.contains("384"), "{err}");
        let mut named = info(128, false, ElementType::F32);
        named.inputs[0].name = "input".into();
        assert!(SwapperSpec::recognise(&named).is_err());
    }

    #[test]
    fn implode_then_explode_gives_the_image_back() {
        let data: Vec<u16> = (0..(8 * 8 * 3)).collect();
        for k in [1usize, 2, 4] {
            let tiles = implode(&data, 8 / k, k, 3).unwrap();
            assert_eq!(tiles.len(), k * k);
            assert_eq!(explode(&tiles, 8 / k, k, 3).unwrap(), data);
        }
        // Tile (i, j) holds every k-th pixel starting at row i, column j.
        let tiles = implode(&data, 4, 2, 3).unwrap();
        let px = |y: usize, x: usize| data[(y * 8 + x) * 3];
        assert_eq!(tiles[1][0], px(0, 1));
        assert_eq!(tiles[2][0], px(1, 0));
        assert_eq!(tiles[3][3 * 4 * 3 + 2 * 3], px(7, 5));
    }
}
