//! Camera frame conversion speed: one 1280×720 frame to I420 from MJPEG (this decoder: JPEG
//! to YCbCr, then 4:2:0), against two baselines measured in the same run: the raw YUYV path,
//! and decoding the same JPEG to RGB and converting that with the studio's RGB→I420.
//!
//! `cargo run --release -p studio-devices --example camera_bench [frames]`

use std::time::Instant;
use studio_devices::camera::{CaptureFormat, FOURCC_YUYV, to_i420};
use studio_devices::mjpeg::MjpegDecoder;
use studio_media::RgbImage;
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;

const WIDTH: u16 = 1280;
const HEIGHT: u16 = 720;

/// Gradients with texture, so the JPEG carries about what a webcam's does.
fn picture() -> Vec<u8> {
    let mut rgb = Vec::with_capacity(WIDTH as usize * HEIGHT as usize * 3);
    let mut seed = 0x2545_f491_u32;
    for y in 0..HEIGHT as u32 {
        for x in 0..WIDTH as u32 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let noise = (seed & 15) as u8;
            rgb.extend([
                (x * 255 / WIDTH as u32) as u8 ^ noise,
                (y * 255 / HEIGHT as u32) as u8,
                ((x + y) & 255) as u8 | noise,
            ]);
        }
    }
    rgb
}

fn per_frame_ms(frames: u32, mut run: impl FnMut()) -> f64 {
    run();
    let start = Instant::now();
    for _ in 0..frames {
        run();
    }
    start.elapsed().as_secs_f64() * 1000.0 / f64::from(frames)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let frames: u32 = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(200);
    let rgb = picture();
    let mut jpeg = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut jpeg, 85);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_2);
    encoder.encode(&rgb, WIDTH, HEIGHT, jpeg_encoder::ColorType::Rgb)?;
    let image = RgbImage::from_data(u32::from(WIDTH), u32::from(HEIGHT), rgb)?;

    // A YUYV frame of the same picture for the raw baseline.
    let i420 = image.to_i420();
    let (y, u, v) = i420.planes();
    let (w, h) = (usize::from(WIDTH), usize::from(HEIGHT));
    let mut yuyv = Vec::with_capacity(w * h * 2);
    for row in 0..h {
        for x in 0..w / 2 {
            let c = (row / 2) * (w / 2) + x;
            yuyv.extend([y[row * w + 2 * x], u[c], y[row * w + 2 * x + 1], v[c]]);
        }
    }
    let yuyv_format = CaptureFormat {
        width: u32::from(WIDTH),
        height: u32::from(HEIGHT),
        fourcc: FOURCC_YUYV,
        stride: u32::from(WIDTH) * 2,
    };

    let mut decoder = MjpegDecoder::new();
    let mjpeg = per_frame_ms(frames, || {
        decoder
            .decode(&jpeg, u32::from(WIDTH), u32::from(HEIGHT))
            .expect("the bench's own JPEG decodes");
    });
    let via_rgb = per_frame_ms(frames, || {
        let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
        let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(&jpeg), options);
        let rgb = decoder.decode().expect("the bench's own JPEG decodes");
        RgbImage::from_data(u32::from(WIDTH), u32::from(HEIGHT), rgb)
            .expect("decoded size")
            .to_i420();
    });
    let raw = per_frame_ms(frames, || {
        to_i420(&yuyv_format, &yuyv).expect("a whole YUYV frame");
    });
    println!(
        "{WIDTH}x{HEIGHT}, JPEG of {} KiB, {frames} frames each",
        jpeg.len() / 1024
    );
    println!("MJPEG -> I420 (YCbCr direct): {mjpeg:7.3} ms/frame");
    println!(
        "MJPEG -> RGB -> I420:         {via_rgb:7.3} ms/frame  (direct path {:.2}x faster)",
        via_rgb / mjpeg
    );
    println!(
        "YUYV  -> I420 (raw baseline): {raw:7.3} ms/frame  (MJPEG costs {:.1}x the raw path)",
        mjpeg / raw
    );
    println!(
        "MJPEG budget at 30 fps: {:.0}% of one core",
        mjpeg / (1000.0 / 30.0) * 100.0
    );
    Ok(())
}
