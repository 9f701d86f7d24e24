//! Cameras through their seam: a fake capture device that offers formats, settles on its own
//! size, delivers YUYV/NV12 frames, and can be unplugged and plugged back in.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use studio_media::I420Image;
use studio_media::devices::camera::{
    CameraSource, CaptureDevice, CaptureFormat, FOURCC_I420, FOURCC_MJPEG, FOURCC_NV12,
    FOURCC_YUYV, negotiate, to_i420,
};
use studio_media::source::{FrameRate, VideoInput, VideoSource};

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
    let error = negotiate(&mut mjpeg_only, 1280, 720)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("MJPG") && error.contains("cannot read"),
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

#[test]
fn an_unplugged_camera_repeats_its_last_frame_and_comes_back_when_plugged_in() {
    let plugged = Arc::new(AtomicBool::new(true));
    let opens = Arc::new(AtomicU32::new(0));
    let opener = {
        let (plugged, opens) = (plugged.clone(), opens.clone());
        move || {
            opens.fetch_add(1, Ordering::Relaxed);
            if plugged.load(Ordering::Relaxed) {
                Ok(fake(vec![FOURCC_YUYV], &plugged))
            } else {
                Err(std::io::Error::from(std::io::ErrorKind::NotFound))
            }
        }
    };
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
fn camera_specs_parse() {
    assert_eq!(
        VideoInput::parse("camera:0").unwrap(),
        VideoInput::Camera("/dev/video0".into())
    );
    assert_eq!(
        VideoInput::parse("camera:/dev/video2").unwrap(),
        VideoInput::Camera("/dev/video2".into())
    );
    assert!(VideoInput::parse("camera:").is_err());
}

#[test]
fn a_camera_that_is_not_there_says_what_to_check() {
    let error = studio_media::source::open_video(
        &VideoInput::Camera("/dev/video-missing-7f3a".into()),
        studio_media::source::VideoFormat {
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
