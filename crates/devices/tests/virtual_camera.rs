//! The virtual cameras through their seams: a fake v4l2 device node that behaves like
//! v4l2loopback (or like a camera, or like a driver that settles on another format), and a
//! plain byte buffer in place of OBS's shared memory, read back the way OBS's camera reads it.

use std::path::Path;
use std::sync::{Arc, Mutex};
use studio_devices::obs::{ObsQueueWriter, QueueLayout, QueueState, i420_to_nv12};
use studio_devices::v4l2::{
    CAPABILITY_SIZE, FORMAT_SIZE, LoopbackCamera, LoopbackFile, PIX_FMT_YUV420, find_cameras,
    find_loopback_devices, missing_device_error, parse_format,
};
use studio_media::I420Image;
use studio_media::sink::VideoWrite;
use studio_media::source::{FrameRate, VideoFormat, VideoSource};
use studio_media::synthetic::TestPattern;

/// What a fake device node saw.
#[derive(Default)]
struct Seen {
    formats: Vec<[u8; FORMAT_SIZE]>,
    frames: Vec<Vec<u8>>,
}

struct FakeNode {
    driver: &'static str,
    caps: u32,
    /// Width the driver forces, like a device another program already configured.
    forced_width: Option<u32>,
    seen: Arc<Mutex<Seen>>,
}

impl FakeNode {
    fn loopback(seen: &Arc<Mutex<Seen>>) -> FakeNode {
        FakeNode {
            driver: "v4l2 loopback",
            caps: 0x0000_0002,
            forced_width: None,
            seen: seen.clone(),
        }
    }
}

impl LoopbackFile for FakeNode {
    fn query_capability(&mut self) -> std::io::Result<[u8; CAPABILITY_SIZE]> {
        let mut raw = [0u8; CAPABILITY_SIZE];
        raw[..self.driver.len()].copy_from_slice(self.driver.as_bytes());
        let card = b"Streaming Studio Camera";
        raw[16..16 + card.len()].copy_from_slice(card);
        raw[84..88].copy_from_slice(&(0x8000_0000u32 | self.caps).to_ne_bytes());
        raw[88..92].copy_from_slice(&self.caps.to_ne_bytes());
        Ok(raw)
    }

    fn set_format(&mut self, format: &mut [u8; FORMAT_SIZE]) -> std::io::Result<()> {
        self.seen.lock().unwrap().formats.push(*format);
        if let Some(width) = self.forced_width {
            format[8..12].copy_from_slice(&width.to_ne_bytes());
        }
        Ok(())
    }

    fn write_frame(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.seen.lock().unwrap().frames.push(bytes.to_vec());
        Ok(())
    }
}

fn pattern(width: u32, height: u32, n: usize) -> Vec<I420Image> {
    let mut source = TestPattern::new(VideoFormat {
        width,
        height,
        rate: FrameRate::per_second(30),
    });
    (0..n)
        .map(|_| source.next_image().unwrap().unwrap())
        .collect()
}

#[test]
fn v4l2loopback_gets_i420_format_then_whole_frames() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let camera = LoopbackCamera::open(
        FakeNode::loopback(&seen),
        Path::new("/dev/video10"),
        320,
        240,
    )
    .unwrap();
    let mut camera: Box<dyn VideoWrite> = Box::new(camera);
    let frames = pattern(320, 240, 3);
    for frame in &frames {
        camera.write(frame).unwrap();
    }
    camera.finish().unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.formats.len(), 1);
    assert_eq!(parse_format(&seen.formats[0]), (320, 240, PIX_FMT_YUV420));
    assert_eq!(seen.frames.len(), 3);
    for (written, frame) in seen.frames.iter().zip(&frames) {
        assert_eq!(
            written.as_slice(),
            frame.data(),
            "Y, U and V planes as they are"
        );
    }
}

#[test]
fn a_frame_of_another_size_is_refused_not_written() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut camera = LoopbackCamera::open(
        FakeNode::loopback(&seen),
        Path::new("/dev/video10"),
        320,
        240,
    )
    .unwrap();
    let error = camera.write(&pattern(64, 48, 1)[0]).unwrap_err();
    assert!(error.to_string().contains("64x48"), "{error}");
    assert!(seen.lock().unwrap().frames.is_empty());
}

#[test]
fn a_device_that_settles_on_another_format_or_is_a_real_camera_is_refused() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stubborn = FakeNode {
        forced_width: Some(640),
        ..FakeNode::loopback(&seen)
    };
    let error = LoopbackCamera::open(stubborn, Path::new("/dev/video10"), 320, 240)
        .err()
        .unwrap();
    assert!(error.to_string().contains("640x240"), "{error}");

    let camera = FakeNode {
        driver: "uvcvideo",
        caps: 0x0000_0001,
        ..FakeNode::loopback(&seen)
    };
    let error = LoopbackCamera::open(camera, Path::new("/dev/video0"), 320, 240)
        .err()
        .unwrap();
    assert!(
        error.to_string().contains("not a v4l2loopback output"),
        "{error}"
    );
    assert!(error.to_string().contains("v4l2loopback-dkms"), "{error}");
}

#[test]
fn loopback_devices_are_found_among_cameras_by_their_driver() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["video0", "video1", "video10", "video2", "media0", "videoX"] {
        std::fs::write(dir.path().join(name), b"").unwrap();
    }
    let seen = Arc::new(Mutex::new(Seen::default()));
    let found = find_loopback_devices(dir.path(), |path| {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match name.as_str() {
            "video10" | "video2" => Ok(FakeNode::loopback(&seen)),
            "video1" => Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied)),
            _ => Ok(FakeNode {
                driver: "uvcvideo",
                caps: 1,
                ..FakeNode::loopback(&seen)
            }),
        }
    });
    let paths: Vec<_> = found
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        paths,
        ["video2", "video10"],
        "numeric order, cameras skipped"
    );
    assert_eq!(found[0].1, "Streaming Studio Camera");

    let cameras = find_cameras(dir.path(), |path| {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        Ok(match name.as_str() {
            "video10" => FakeNode::loopback(&seen),
            _ => FakeNode {
                driver: "uvcvideo",
                caps: 1,
                ..FakeNode::loopback(&seen)
            },
        })
    });
    let cameras: Vec<_> = cameras
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        cameras,
        ["video0", "video1", "video2"],
        "the loopback is not a camera"
    );
}

#[test]
fn a_missing_module_says_how_to_install_it() {
    let text = missing_device_error(false).to_string();
    assert!(text.contains("not loaded"), "{text}");
    assert!(
        text.contains("sudo apt install v4l2loopback-dkms"),
        "{text}"
    );
    assert!(text.contains("modprobe v4l2loopback"), "{text}");
}

/// Reads the queue the way OBS's DirectShow camera does (`video_queue_read`).
fn obs_read(memory: &[u8]) -> (QueueState, u32, u32, u64, u64, Vec<u8>) {
    let u32_at = |at: usize| u32::from_le_bytes(memory[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(memory[at..at + 8].try_into().unwrap());
    let state = match u32_at(8) {
        1 => QueueState::Starting,
        2 => QueueState::Ready,
        3 => QueueState::Stopping,
        _ => QueueState::Invalid,
    };
    let (cx, cy) = (u32_at(28), u32_at(32));
    let interval = u64_at(40);
    let inc = u32_at(4);
    let offset = u32_at(12 + 4 * (inc % 3) as usize) as usize;
    let ts = u64_at(offset);
    let frame = memory[offset + 32..offset + 32 + (cx * cy * 3 / 2) as usize].to_vec();
    (state, cx, cy, interval, ts, frame)
}

#[test]
fn the_obs_queue_is_read_back_as_nv12_frames_round_robin() {
    let layout = QueueLayout::new(64, 48);
    let mut writer = ObsQueueWriter::new(vec![0u8; layout.size], 64, 48, 30.0).unwrap();
    assert_eq!(obs_read(writer.region()).0, QueueState::Starting);
    let frames = pattern(64, 48, 4);
    for (n, frame) in frames.iter().enumerate() {
        writer.write(frame).unwrap();
        let (state, cx, cy, interval, ts, data) = obs_read(writer.region());
        assert_eq!(state, QueueState::Ready);
        assert_eq!((cx, cy), (64, 48));
        assert_eq!(interval, 333_333, "30 fps in 100 ns units");
        assert_eq!(ts, n as u64 * 333_333);
        let mut expected = vec![0u8; 64 * 48 * 3 / 2];
        i420_to_nv12(frame, &mut expected);
        assert_eq!(data, expected, "frame {n}");
    }
    let write_idx = u32::from_le_bytes(writer.region()[0..4].try_into().unwrap());
    assert_eq!(write_idx, 4);
    let mut boxed: Box<dyn VideoWrite> = Box::new(writer);
    boxed.write(&frames[0]).unwrap();
    boxed.finish().unwrap();
}

#[test]
fn nv12_interleaves_u_and_v() {
    let mut image = I420Image::black(4, 2);
    {
        let (y, u, v) = image.planes_mut();
        y.copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        u.copy_from_slice(&[10, 11]);
        v.copy_from_slice(&[20, 21]);
    }
    let mut out = vec![0u8; 12];
    i420_to_nv12(&image, &mut out);
    assert_eq!(out, [1, 2, 3, 4, 5, 6, 7, 8, 10, 20, 11, 21]);
}

#[test]
fn the_obs_writer_refuses_odd_sizes_and_short_memory() {
    assert!(ObsQueueWriter::new(vec![0u8; 1 << 20], 63, 48, 30.0).is_err());
    assert!(ObsQueueWriter::new(vec![0u8; 100], 64, 48, 30.0).is_err());
}
