//! Cameras through their seam: a fake capture device that offers formats, settles on its own
//! size, delivers YUYV/NV12 frames or real JPEGs (made here by an encoder), and can be
//! unplugged and plugged back in; reopening runs on a synthetic clock.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use studio_devices::avf_formats::{
    self, NativeChoice, NativeFormat, choose_native, conversion_cost, four_char, offered_fourccs,
};
use studio_devices::camera::{
    BROKEN_FRAMES_LIMIT, CameraSource, CaptureDevice, CaptureFormat, FOURCC_I420, FOURCC_MJPEG,
    FOURCC_NV12, FOURCC_YUYV, OfferedFormat, Plane, REOPEN_EVERY, closest_format, find_camera,
    negotiate, pack_nv12, pick_camera, to_i420,
};
use studio_devices::mjpeg::MjpegDecoder;
use studio_media::health::CameraState;
use studio_media::input::VideoInput;
use studio_media::source::{FrameRate, VideoFormat, VideoSource};
use studio_media::{I420Image, RgbImage};

/// A camera that can only do 64×48 and numbers its frames in the luma.
struct FakeCamera {
    offered: Vec<u32>,
    format: Option<CaptureFormat>,
    frame: u8,
    plugged: Arc<AtomicBool>,
}

impl CaptureDevice for FakeCamera {
    fn formats(&mut self) -> std::io::Result<Vec<u32>> {
        Ok(self.offered.clone())
    }

    fn set_format(&mut self, _: u32, _: u32, fourcc: u32) -> std::io::Result<CaptureFormat> {
        let format = CaptureFormat {
            width: 64,
            height: 48,
            fourcc,
            stride: if fourcc == FOURCC_YUYV { 128 } else { 64 },
        };
        self.format = Some(format);
        Ok(format)
    }

    fn start(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    fn next_frame(&mut self, out: &mut Vec<u8>) -> std::io::Result<()> {
        if !self.plugged.load(Ordering::Relaxed) {
            return Err(std::io::Error::from_raw_os_error(19)); // ENODEV
        }
        self.frame += 1;
        out.clear();
        // YUYV: Y0 U Y1 V, luma = frame number, chroma fixed.
        for _ in 0..64 * 48 / 2 {
            out.extend([self.frame, 100, self.frame, 200]);
        }
        Ok(())
    }
}

fn fake(offered: Vec<u32>, plugged: &Arc<AtomicBool>) -> FakeCamera {
    FakeCamera {
        offered,
        format: None,
        frame: 0,
        plugged: plugged.clone(),
    }
}

#[test]
fn the_camera_size_wins_and_the_best_format_is_chosen() {
    let plugged = Arc::new(AtomicBool::new(true));
    let mut camera = fake(vec![FOURCC_MJPEG, FOURCC_YUYV, FOURCC_NV12], &plugged);
    let format = negotiate(&mut camera, 1280, 720).unwrap();
    assert_eq!(format.fourcc, FOURCC_NV12, "NV12 before YUYV");
    assert_eq!((format.width, format.height), (64, 48));

    let mut mjpeg_only = fake(vec![FOURCC_MJPEG], &plugged);
    let format = negotiate(&mut mjpeg_only, 1280, 720).unwrap();
    assert_eq!(
        format.fourcc, FOURCC_MJPEG,
        "MJPEG when nothing raw is offered"
    );

    let h264_only = u32::from_le_bytes(*b"H264");
    let error = negotiate(&mut fake(vec![h264_only], &plugged), 1280, 720)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("H264") && error.contains("cannot read"),
        "{error}"
    );
}

#[test]
fn yuyv_becomes_i420_with_chroma_averaged_over_two_rows() {
    let format = CaptureFormat {
        width: 4,
        height: 2,
        fourcc: FOURCC_YUYV,
        stride: 8,
    };
    let data = [
        10, 100, 11, 200, 12, 102, 13, 202, // row 0
        20, 110, 21, 210, 22, 112, 23, 212, // row 1
    ];
    let image = to_i420(&format, &data).unwrap();
    let (y, u, v) = image.planes();
    assert_eq!(y, [10, 11, 12, 13, 20, 21, 22, 23]);
    assert_eq!(u, [105, 107]);
    assert_eq!(v, [205, 207]);
}

#[test]
fn padded_nv12_and_i420_rows_are_read_at_their_stride() {
    let mut expected = I420Image::black(4, 2);
    {
        let (y, u, v) = expected.planes_mut();
        y.copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        u.copy_from_slice(&[50, 51]);
        v.copy_from_slice(&[60, 61]);
    }
    let nv12 = CaptureFormat {
        width: 4,
        height: 2,
        fourcc: FOURCC_NV12,
        stride: 6,
    };
    let data = [1, 2, 3, 4, 0, 0, 5, 6, 7, 8, 0, 0, 50, 60, 51, 61, 0, 0];
    assert_eq!(to_i420(&nv12, &data).unwrap(), expected);
    let i420 = CaptureFormat {
        fourcc: FOURCC_I420,
        stride: 4,
        ..nv12
    };
    let data = [1, 2, 3, 4, 5, 6, 7, 8, 50, 51, 60, 61];
    assert_eq!(to_i420(&i420, &data).unwrap(), expected);
    assert!(
        to_i420(&i420, &data[..5]).is_err(),
        "a short frame is refused"
    );
}

/// A 4:2:0 picture as CoreVideo lays out a two-plane buffer: each plane's rows padded to
/// `stride` bytes with junk, the planes apart in memory.
fn corevideo_planes(image: &I420Image, stride: usize) -> (Vec<u8>, Vec<u8>) {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let (y, u, v) = image.planes();
    let mut luma = vec![0xee; stride * h];
    for row in 0..h {
        luma[row * stride..row * stride + w].copy_from_slice(&y[row * w..row * w + w]);
    }
    let mut chroma = vec![0xee; stride * h / 2];
    for row in 0..h / 2 {
        for x in 0..w / 2 {
            chroma[row * stride + 2 * x] = u[row * w / 2 + x];
            chroma[row * stride + 2 * x + 1] = v[row * w / 2 + x];
        }
    }
    (luma, chroma)
}

#[test]
fn a_padded_two_plane_picture_packs_into_the_nv12_the_converter_reads() {
    let mut image = I420Image::black(6, 4);
    {
        let (y, u, v) = image.planes_mut();
        for (i, p) in y.iter_mut().enumerate() {
            *p = 16 + i as u8;
        }
        u.copy_from_slice(&[100, 101, 102, 103, 104, 105]);
        v.copy_from_slice(&[140, 141, 142, 143, 144, 145]);
    }
    let (luma, chroma) = corevideo_planes(&image, 16);
    // A buffer from an earlier picture: replaced, not appended to.
    let mut out = vec![9; 100];
    pack_nv12(
        Plane {
            data: &luma,
            stride: 16,
            rows: 4,
        },
        Plane {
            data: &chroma,
            stride: 16,
            rows: 2,
        },
        6,
        4,
        &mut out,
    )
    .unwrap();
    assert_eq!(out.len(), 6 * 4 * 3 / 2, "no padding is left in");
    assert_eq!(&out[..6], &[16, 17, 18, 19, 20, 21]);
    assert_eq!(&out[24..30], &[100, 140, 101, 141, 102, 142]);
    let format = CaptureFormat {
        width: 6,
        height: 4,
        fourcc: FOURCC_NV12,
        stride: 6,
    };
    assert_eq!(to_i420(&format, &out).unwrap(), image);
}

#[test]
fn planes_too_small_for_the_picture_are_refused_and_leave_nothing_behind() {
    let luma = [0u8; 4 * 4];
    let chroma = [0u8; 4 * 2];
    let plane = |data: &'static [u8], stride, rows| Plane { data, stride, rows };
    let mut out = vec![1, 2, 3];
    // Rows narrower than the picture.
    assert!(pack_nv12(plane(&[0; 16], 3, 4), plane(&[0; 8], 4, 2), 4, 4, &mut out).is_err());
    assert!(out.is_empty());
    // Too few chroma rows for an odd height (three luma rows need two chroma rows).
    assert!(pack_nv12(plane(&[0; 16], 4, 4), plane(&[0; 4], 4, 1), 4, 3, &mut out).is_err());
    // A plane whose bytes end before its last row.
    assert!(pack_nv12(plane(&[0; 15], 4, 4), plane(&[0; 8], 4, 2), 4, 4, &mut out).is_err());
    assert!(out.is_empty());
    // The last row need not be padded.
    pack_nv12(
        Plane {
            data: &luma[..14],
            stride: 4,
            rows: 4,
        },
        Plane {
            data: &chroma[..6],
            stride: 4,
            rows: 2,
        },
        2,
        4,
        &mut out,
    )
    .unwrap();
    assert_eq!(out.len(), 2 * 4 + 2 * 2);
}

#[test]
fn corevideo_codes_match_the_sdk() {
    // kCVPixelFormatType_* values from CoreVideo's CVPixelBuffer.h.
    assert_eq!(avf_formats::NV12_VIDEO_RANGE, 0x3432_3076);
    assert_eq!(avf_formats::NV12_FULL_RANGE, 0x3432_3066);
    assert_eq!(avf_formats::YUVS, 0x7975_7673);
    assert_eq!(avf_formats::UYVY, 0x3276_7579);
    assert_eq!(avf_formats::subtype_name(four_char(b"dmb1")), "dmb1");
    assert_eq!(conversion_cost(avf_formats::NV12_FULL_RANGE), 0);
    assert_eq!(conversion_cost(avf_formats::UYVY), 1);
    assert_eq!(conversion_cost(avf_formats::MJPEG_OPEN_DML), 2);
}

fn native(code: &[u8; 4], width: u32, height: u32, max_rates: &[f64]) -> NativeFormat {
    NativeFormat {
        subtype: four_char(code),
        width,
        height,
        max_rates: max_rates.to_vec(),
    }
}

#[test]
fn a_mac_camera_format_is_chosen_by_size_then_rate_then_least_conversion() {
    // As a USB camera lists them: UYVY and Motion JPEG at each size, 4:2:0 at one.
    let natives = [
        native(b"2vuy", 1920, 1080, &[5.0]),
        native(b"dmb1", 1920, 1080, &[30.0, 15.0]),
        native(b"2vuy", 1280, 720, &[10.0]),
        native(b"dmb1", 1280, 720, &[60.0, 30.0]),
        native(b"420v", 1280, 720, &[30.0]),
        native(b"420v", 0, 0, &[30.0]),
        native(b"yuvs", 640, 480, &[]),
    ];
    assert_eq!(offered_fourccs(&natives), vec![FOURCC_NV12]);
    let pick = |w, h| {
        let choice: NativeChoice = choose_native(&natives, w, h).unwrap();
        (choice.format, choice.rate_range, choice.offered)
    };
    let nv12 = |width, height, fps| OfferedFormat {
        fourcc: FOURCC_NV12,
        width,
        height,
        fps,
    };
    assert_eq!(
        pick(1280, 720),
        (4, Some(0), nv12(1280, 720, 30.0)),
        "30 fps with no conversion beats Motion JPEG's 30 fps range"
    );
    assert_eq!(
        pick(1920, 1080),
        (1, Some(0), nv12(1920, 1080, 30.0)),
        "Motion JPEG at 30 fps beats UYVY at 5"
    );
    assert_eq!(
        pick(320, 240),
        (6, None, nv12(640, 480, 0.0)),
        "a format without rate ranges runs at the camera's default rate"
    );
    assert_eq!(
        choose_native(&natives, 1920, 1080).unwrap().offered.fourcc,
        FOURCC_NV12
    );
}

#[test]
fn a_mac_camera_without_usable_formats_offers_none() {
    assert!(offered_fourccs(&[]).is_empty());
    let empty = [native(b"420v", 0, 720, &[30.0])];
    assert!(offered_fourccs(&empty).is_empty());
    assert_eq!(choose_native(&empty, 1280, 720), None);
}

/// Opens a YUYV fake camera while `plugged` holds, else fails as an unplugged device does;
/// counts the attempts in `opens`.
fn unpluggable(
    plugged: &Arc<AtomicBool>,
    opens: &Arc<AtomicU32>,
) -> impl FnMut() -> std::io::Result<FakeCamera> + Send + 'static {
    let (plugged, opens) = (plugged.clone(), opens.clone());
    move || {
        opens.fetch_add(1, Ordering::Relaxed);
        if plugged.load(Ordering::Relaxed) {
            Ok(fake(vec![FOURCC_YUYV], &plugged))
        } else {
            Err(std::io::Error::from(std::io::ErrorKind::NotFound))
        }
    }
}

#[test]
fn an_unplugged_camera_repeats_its_last_frame_and_comes_back_when_plugged_in() {
    let plugged = Arc::new(AtomicBool::new(true));
    let opens = Arc::new(AtomicU32::new(0));
    let opener = unpluggable(&plugged, &opens);
    let mut source =
        CameraSource::open(Box::new(opener), 640, 480, FrameRate::per_second(30)).unwrap();
    let format = source.format();
    assert_eq!((format.width, format.height), (64, 48));
    let luma = |image: &I420Image| image.planes().0[0];
    assert_eq!(luma(&source.next_image().unwrap().unwrap()), 1);
    assert_eq!(luma(&source.next_image().unwrap().unwrap()), 2);

    plugged.store(false, Ordering::Relaxed);
    for _ in 0..3 {
        let image = source.next_image().unwrap().unwrap();
        assert_eq!(
            luma(&image),
            2,
            "the last good frame, not black, not an error"
        );
    }
    assert_eq!(source.stats.disconnects, 1);
    assert_eq!(source.stats.frames_concealed, 3);

    plugged.store(true, Ordering::Relaxed);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let recovered = loop {
        let image = source.next_image().unwrap().unwrap();
        if luma(&image) == 1 {
            break true;
        }
        if std::time::Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(recovered, "frames from the reopened camera");
    assert!(opens.load(Ordering::Relaxed) >= 2);
}

#[test]
fn a_camera_spec_picks_by_position_or_by_part_of_the_name() {
    let names = vec!["Integrated Webcam".to_string(), "Logitech C920".to_string()];
    assert_eq!(pick_camera(&names, "1"), Some(1));
    assert_eq!(pick_camera(&names, " c920 "), Some(1));
    assert_eq!(pick_camera(&names, "WEBCAM"), Some(0));
    assert_eq!(pick_camera(&names, "2"), None, "past the end of the list");
    assert_eq!(pick_camera(&names, "Brio"), None);
    assert_eq!(pick_camera(&names, " "), None);
    let error = find_camera(&names, "Brio").unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
    assert!(
        error
            .to_string()
            .contains("Integrated Webcam, Logitech C920"),
        "says which cameras there are: {error}"
    );
    assert_eq!(find_camera(&names, "c920").unwrap(), 1);
}

#[test]
fn a_listed_format_is_chosen_by_size_then_by_the_rate_nearest_thirty() {
    let format = |fourcc, width, height, fps| OfferedFormat {
        fourcc,
        width,
        height,
        fps,
    };
    let offered = [
        format(FOURCC_YUYV, 640, 480, 30.0),
        format(FOURCC_MJPEG, 1280, 720, 60.0),
        format(FOURCC_MJPEG, 1280, 720, 30.0),
        format(FOURCC_MJPEG, 1920, 1080, 30.0),
        format(FOURCC_MJPEG, 640, 480, 15.0),
    ];
    assert_eq!(closest_format(&offered, FOURCC_MJPEG, 1280, 720), Some(2));
    assert_eq!(closest_format(&offered, FOURCC_MJPEG, 1920, 1200), Some(3));
    assert_eq!(closest_format(&offered, FOURCC_MJPEG, 320, 240), Some(4));
    assert_eq!(
        closest_format(&offered, FOURCC_YUYV, 1280, 720),
        Some(0),
        "the only YUYV size, however far"
    );
    assert_eq!(closest_format(&offered, FOURCC_NV12, 1280, 720), None);
}

#[test]
fn a_camera_that_is_not_there_says_what_to_check() {
    let error = studio_devices::inputs::open_video(
        &VideoInput::Camera("/dev/video-missing-7f3a".into()),
        VideoFormat {
            width: 64,
            height: 48,
            rate: FrameRate::per_second(30),
        },
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        error.contains("cannot open the camera") || error.contains("not built"),
        "{error}"
    );
}

/// Four flat colours, one per quadrant, each quadrant a whole number of JPEG blocks.
const QUADRANTS: [[u8; 3]; 4] = [[200, 30, 40], [20, 180, 60], [40, 50, 210], [128, 128, 128]];
const W: u16 = 64;
const H: u16 = 48;

fn quadrant_rgb() -> RgbImage {
    let mut data = Vec::with_capacity(W as usize * H as usize * 3);
    for y in 0..H {
        for x in 0..W {
            let q = usize::from(x >= W / 2) + 2 * usize::from(y >= H / 2);
            data.extend(QUADRANTS[q]);
        }
    }
    RgbImage::from_data(u32::from(W), u32::from(H), data).unwrap()
}

/// A JPEG as cameras send it: 4:2:2, the standard Huffman tables.
fn encode_jpeg(rgb: &RgbImage, sampling: jpeg_encoder::SamplingFactor) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 95);
    encoder.set_sampling_factor(sampling);
    encoder
        .encode(
            rgb.data(),
            rgb.width() as u16,
            rgb.height() as u16,
            jpeg_encoder::ColorType::Rgb,
        )
        .unwrap();
    out
}

/// The same JPEG without its DHT segments, as most MJPEG cameras send frames.
fn strip_huffman_tables(jpeg: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    let mut at = 2;
    loop {
        let marker = jpeg[at + 1];
        if marker == 0xDA {
            out.extend_from_slice(&jpeg[at..]);
            return out;
        }
        let len = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        if marker != 0xC4 {
            out.extend_from_slice(&jpeg[at..at + 2 + len]);
        }
        at += 2 + len;
    }
}

/// Y, U, V at the centre of each quadrant.
fn quadrant_samples(image: &I420Image) -> Vec<[u8; 3]> {
    let (y, u, v) = image.planes();
    let (w, cw) = (image.width() as usize, image.chroma_width() as usize);
    [(16, 12), (48, 12), (16, 36), (48, 36)]
        .iter()
        .map(|&(x, row)| {
            let c = (row / 2) * cw + x / 2;
            [y[row * w + x], u[c], v[c]]
        })
        .collect()
}

fn assert_close(got: &[[u8; 3]], want: &[[u8; 3]], tolerance: u8) {
    for (g, w) in got.iter().zip(want) {
        for i in 0..3 {
            assert!(
                g[i].abs_diff(w[i]) <= tolerance,
                "got {got:?}, want {want:?} (±{tolerance})"
            );
        }
    }
}

/// Frames a test hands to its camera.
type FrameQueue = Arc<Mutex<VecDeque<Vec<u8>>>>;

/// A camera that offers only MJPEG and plays a queue of frames (the last one forever).
struct JpegCamera {
    frames: FrameQueue,
    last: Vec<u8>,
}

impl CaptureDevice for JpegCamera {
    fn formats(&mut self) -> std::io::Result<Vec<u32>> {
        Ok(vec![FOURCC_MJPEG])
    }

    fn set_format(&mut self, _: u32, _: u32, fourcc: u32) -> std::io::Result<CaptureFormat> {
        Ok(CaptureFormat {
            width: u32::from(W),
            height: u32::from(H),
            fourcc,
            stride: 0,
        })
    }

    fn start(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    fn next_frame(&mut self, out: &mut Vec<u8>) -> std::io::Result<()> {
        if let Some(frame) = self.frames.lock().unwrap().pop_front() {
            self.last = frame;
        }
        out.clear();
        out.extend_from_slice(&self.last);
        Ok(())
    }
}

fn jpeg_camera(frames: Vec<Vec<u8>>) -> (CameraSource<JpegCamera>, FrameQueue) {
    let queue = Arc::new(Mutex::new(VecDeque::from(frames)));
    let shared = queue.clone();
    let opener = move || {
        Ok(JpegCamera {
            frames: shared.clone(),
            last: Vec::new(),
        })
    };
    let source =
        CameraSource::open(Box::new(opener), 1280, 720, FrameRate::per_second(30)).unwrap();
    (source, queue)
}

#[test]
fn an_mjpeg_camera_gives_the_colours_it_saw() {
    let rgb = quadrant_rgb();
    // What the studio's own BT.601 conversion makes of the same picture.
    let want = quadrant_samples(&rgb.to_i420());
    for sampling in [
        jpeg_encoder::SamplingFactor::R_4_2_2,
        jpeg_encoder::SamplingFactor::R_4_2_0,
        jpeg_encoder::SamplingFactor::R_4_4_4,
    ] {
        let jpeg = encode_jpeg(&rgb, sampling);
        let (mut camera, _) = jpeg_camera(vec![jpeg]);
        assert_eq!(camera.capture_format().fourcc, FOURCC_MJPEG);
        let format = camera.format();
        assert_eq!((format.width, format.height), (64, 48));
        let image = camera.next_image().unwrap().unwrap();
        assert_eq!((image.width(), image.height()), (64, 48));
        assert_close(&quadrant_samples(&image), &want, 3);
        assert_eq!(camera.stats.frames_broken, 0);
    }
}

#[test]
fn frames_without_huffman_tables_decode_with_the_standard_ones() {
    let jpeg = encode_jpeg(&quadrant_rgb(), jpeg_encoder::SamplingFactor::R_4_2_2);
    let bare = strip_huffman_tables(&jpeg);
    assert!(bare.len() < jpeg.len(), "the encoder wrote DHT segments");
    assert!(!bare.windows(2).any(|w| w == [0xFF, 0xC4]));
    let mut decoder = MjpegDecoder::new();
    let with_tables = decoder.decode(&jpeg, 64, 48).unwrap();
    let without = decoder.decode(&bare, 64, 48).unwrap();
    assert_eq!(with_tables, without, "identical pixels");
}

#[test]
fn broken_jpegs_are_dropped_counted_and_the_stream_goes_on() {
    let rgb = quadrant_rgb();
    let good = encode_jpeg(&rgb, jpeg_encoder::SamplingFactor::R_4_2_2);
    let truncated = good[..good.len() / 2].to_vec();
    let garbage = vec![0x55; 300];
    let mut wrong_size_rgb = Vec::new();
    for _ in 0..32 * 16 {
        wrong_size_rgb.extend([10, 20, 30]);
    }
    let wrong_size = encode_jpeg(
        &RgbImage::from_data(32, 16, wrong_size_rgb).unwrap(),
        jpeg_encoder::SamplingFactor::R_4_2_2,
    );
    let (mut camera, queue) = jpeg_camera(vec![
        good.clone(),
        truncated.clone(),
        garbage.clone(),
        wrong_size.clone(),
    ]);
    let first = camera.next_image().unwrap().unwrap();
    for _ in 0..3 {
        let repeated = camera.next_image().unwrap().unwrap();
        assert_eq!(repeated, first, "a broken frame shows the last good one");
    }
    assert_eq!(camera.stats.frames_broken, 3);
    assert_eq!(camera.stats.frames_concealed, 3);
    assert_eq!(camera.state(), &CameraState::Streaming);

    let mut decoder = MjpegDecoder::new();
    for (frame, why) in [
        (&truncated, "truncated"),
        (&garbage, "garbage"),
        (&wrong_size, "32x16"),
    ] {
        let error = decoder.decode(frame, 64, 48).unwrap_err().to_string();
        assert!(error.contains("broken camera frame"), "{why}: {error}");
        if why == "32x16" {
            assert!(
                error.contains("32x16") && error.contains("64x48"),
                "{error}"
            );
        }
    }

    // Good frames again: the stream carries on.
    queue.lock().unwrap().push_back(good.clone());
    assert_eq!(camera.next_image().unwrap().unwrap(), first);
    assert_eq!(camera.stats.frames_broken, 3);

    // A camera that sends nothing but broken frames is reported, not concealed forever.
    queue.lock().unwrap().push_back(garbage);
    let mut outcome = Ok(());
    for _ in 0..BROKEN_FRAMES_LIMIT {
        if let Err(e) = camera.next_image() {
            outcome = Err(e.to_string());
            break;
        }
    }
    let error = outcome.unwrap_err();
    assert!(error.contains("broken frames in a row"), "{error}");
}

/// A clock the test moves by hand.
#[derive(Clone)]
struct FakeClock(Arc<Mutex<Instant>>);

impl FakeClock {
    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
    fn reader(&self) -> impl FnMut() -> Instant + Send + 'static {
        let now = self.0.clone();
        move || *now.lock().unwrap()
    }
}

#[test]
fn unplugging_is_a_clear_state_and_reopening_follows_the_clock() {
    let plugged = Arc::new(AtomicBool::new(true));
    let opens = Arc::new(AtomicU32::new(0));
    let opener = unpluggable(&plugged, &opens);
    let clock = FakeClock(Arc::new(Mutex::new(Instant::now())));
    let changes = Arc::new(Mutex::new(Vec::new()));
    let seen = changes.clone();
    let mut source = CameraSource::open(Box::new(opener), 64, 48, FrameRate::per_second(30))
        .unwrap()
        .with_clock(clock.reader())
        .on_state_change(move |state| seen.lock().unwrap().push(state.clone()));
    assert_eq!(source.state(), &CameraState::Streaming);
    source.next_image().unwrap();

    plugged.store(false, Ordering::Relaxed);
    source.next_image().unwrap();
    assert_eq!(source.state(), &CameraState::Unplugged);
    assert!(source.state().to_string().contains("unplugged"));
    let opens_when_lost = opens.load(Ordering::Relaxed);

    // Within the pause nothing is tried; after it, one attempt per pause.
    for _ in 0..10 {
        source.next_image().unwrap();
    }
    assert_eq!(opens.load(Ordering::Relaxed), opens_when_lost);
    clock.advance(REOPEN_EVERY);
    source.next_image().unwrap();
    source.next_image().unwrap();
    assert_eq!(
        opens.load(Ordering::Relaxed),
        opens_when_lost + 1,
        "still gone"
    );
    assert_eq!(source.state(), &CameraState::Unplugged);

    plugged.store(true, Ordering::Relaxed);
    source.next_image().unwrap();
    assert_eq!(
        source.state(),
        &CameraState::Unplugged,
        "not before the pause"
    );
    clock.advance(REOPEN_EVERY);
    let image = source.next_image().unwrap().unwrap();
    assert_eq!(
        image.planes().0[0],
        1,
        "the first frame of the reopened camera"
    );
    assert_eq!(source.state(), &CameraState::Streaming);
    assert_eq!(
        *changes.lock().unwrap(),
        [CameraState::Unplugged, CameraState::Streaming]
    );
    assert_eq!(source.stats.disconnects, 1);
    assert_eq!(source.stats.frames_concealed, 14);
    let health = source.camera_health().unwrap();
    assert_eq!(health.state, CameraState::Streaming);
    assert_eq!(
        health.stats, source.stats,
        "runs report what the camera counted"
    );
}

#[test]
fn a_camera_that_fails_otherwise_is_lost_with_the_reason() {
    struct Stalls;
    impl CaptureDevice for Stalls {
        fn formats(&mut self) -> std::io::Result<Vec<u32>> {
            Ok(vec![FOURCC_I420])
        }
        fn set_format(&mut self, w: u32, h: u32, fourcc: u32) -> std::io::Result<CaptureFormat> {
            Ok(CaptureFormat {
                width: w,
                height: h,
                fourcc,
                stride: w,
            })
        }
        fn start(&mut self) -> std::io::Result<()> {
            Ok(())
        }
        fn next_frame(&mut self, _: &mut Vec<u8>) -> std::io::Result<()> {
            Err(std::io::Error::from(std::io::ErrorKind::TimedOut))
        }
    }
    let mut source =
        CameraSource::open(Box::new(|| Ok(Stalls)), 32, 16, FrameRate::per_second(30)).unwrap();
    let image = source.next_image().unwrap().unwrap();
    assert_eq!(image, I420Image::black(32, 16), "black until a first frame");
    match source.state() {
        CameraState::Lost(why) => assert!(why.contains("timed out"), "{why}"),
        other => panic!("{other:?}"),
    }
}
