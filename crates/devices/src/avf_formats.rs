//! Which of a Mac camera's native formats and frame rates to use, as plain data, so the choice
//! is tested on every system ([`crate::avfoundation`] feeds it what AVFoundation lists).
//!
//! AVFoundation's video data output converts whatever the camera sends (4:2:0 or 4:2:2 YCbCr,
//! or Motion JPEG) to two-plane 4:2:0 — NV12 — on its way out, so every native format is
//! offered as NV12 at its size. Where a size comes in several native formats, the one that is
//! already 4:2:0 comes first and wins ties, so nothing is converted that need not be.

use crate::camera::{FOURCC_NV12, OfferedFormat, closest_format};

/// A CoreVideo / CoreMedia pixel-format code (`FourCharCode`, first character in the high byte).
pub const fn four_char(code: &[u8; 4]) -> u32 {
    u32::from_be_bytes(*code)
}

/// `kCVPixelFormatType_420YpCbCr8BiPlanarVideoRange`: NV12 with video-range luma (16–235), what
/// the studio asks the output for, the range the rest of the studio assumes.
pub const NV12_VIDEO_RANGE: u32 = four_char(b"420v");
/// `kCVPixelFormatType_420YpCbCr8BiPlanarFullRange`: the same layout with full-range luma.
pub const NV12_FULL_RANGE: u32 = four_char(b"420f");
/// `kCVPixelFormatType_422YpCbCr8_yuvs`: YUY2 byte order.
pub const YUVS: u32 = four_char(b"yuvs");
/// `kCVPixelFormatType_422YpCbCr8`: UYVY byte order.
pub const UYVY: u32 = four_char(b"2vuy");
/// `kCMVideoCodecType_JPEG_OpenDML`: Motion JPEG from USB cameras.
pub const MJPEG_OPEN_DML: u32 = four_char(b"dmb1");

/// How much work the output does to turn `subtype` into NV12: none for two-plane 4:2:0, a
/// repack for packed 4:2:2, a decode for anything else (Motion JPEG and other codecs).
pub fn conversion_cost(subtype: u32) -> u8 {
    match subtype {
        NV12_VIDEO_RANGE | NV12_FULL_RANGE => 0,
        YUVS | UYVY => 1,
        _ => 2,
    }
}

/// The code as text (`420v`), for messages.
pub fn subtype_name(subtype: u32) -> String {
    String::from_utf8_lossy(&subtype.to_be_bytes()).into_owned()
}

/// One `AVCaptureDeviceFormat` as data: its media subtype, size and the highest rate of each of
/// its frame-rate ranges (in the device's order).
#[derive(Debug, Clone, PartialEq)]
pub struct NativeFormat {
    pub subtype: u32,
    pub width: u32,
    pub height: u32,
    pub max_rates: Vec<f64>,
}

/// The choice for a requested size: which native format, which of its rate ranges (`None`
/// when it lists none: the device's default rate then), and what the output delivers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NativeChoice {
    pub format: usize,
    pub rate_range: Option<usize>,
    pub offered: OfferedFormat,
}

/// Every (format, rate range) pair as the NV12 picture the output makes of it, the cheapest
/// conversions first, empty sizes left out.
fn offers(natives: &[NativeFormat]) -> Vec<NativeChoice> {
    let mut all = Vec::new();
    for (format, native) in natives.iter().enumerate() {
        if native.width == 0 || native.height == 0 {
            continue;
        }
        let offered = |fps: f64| OfferedFormat {
            fourcc: FOURCC_NV12,
            width: native.width,
            height: native.height,
            fps,
        };
        if native.max_rates.is_empty() {
            all.push(NativeChoice {
                format,
                rate_range: None,
                offered: offered(0.0),
            });
        }
        for (range, &fps) in native.max_rates.iter().enumerate() {
            all.push(NativeChoice {
                format,
                rate_range: Some(range),
                offered: offered(fps),
            });
        }
    }
    // Stable: among equal costs the device's order stays, and `closest_format` keeps the
    // first of equally good candidates.
    all.sort_by_key(|choice| conversion_cost(natives[choice.format].subtype));
    all
}

/// The formats the output can deliver: NV12 when the camera lists any usable size.
pub fn offered_fourccs(natives: &[NativeFormat]) -> Vec<u32> {
    if offers(natives).is_empty() {
        Vec::new()
    } else {
        vec![FOURCC_NV12]
    }
}

/// The native format and rate range closest to `width`×`height` (then to 30 frames a second),
/// preferring one the output need not convert.
pub fn choose_native(natives: &[NativeFormat], width: u32, height: u32) -> Option<NativeChoice> {
    let all = offers(natives);
    let offered: Vec<OfferedFormat> = all.iter().map(|choice| choice.offered).collect();
    closest_format(&offered, FOURCC_NV12, width, height).map(|index| all[index])
}
