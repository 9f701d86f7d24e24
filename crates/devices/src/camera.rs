//! Cameras as a video source: format and size negotiation (raw formats first, MJPEG when the
//! camera offers nothing raw), conversion to I420, broken frames dropped and counted, and
//! unplug handling: the camera's state says it is gone, the last frame is repeated, counted,
//! while the camera is reopened every second. The logic works on any [`CaptureDevice`]; on
//! Linux [`V4l2Capture`] is the real one, V4L2 memory-mapped streaming with the kernel
//! structures laid out by hand.

use crate::error::DeviceError;
use crate::mjpeg::MjpegDecoder;
use std::time::{Duration, Instant};
use studio_media::error::MediaError;
use studio_media::health::{CameraHealth, CameraState, CameraStats};
use studio_media::source::{FrameRate, VideoFormat, VideoSource};
use studio_media::video::I420Image;

/// Pause between attempts to reopen a camera that went away.
pub const REOPEN_EVERY: Duration = Duration::from_secs(1);
/// Broken frames in a row after which the camera is reported as failing rather than glitchy.
pub const BROKEN_FRAMES_LIMIT: u32 = 90;
/// `ENODEV`: the device node is still open but the hardware behind it is gone.
const ENODEV: i32 = 19;

pub const FOURCC_I420: u32 = u32::from_le_bytes(*b"YU12");
pub const FOURCC_YUYV: u32 = u32::from_le_bytes(*b"YUYV");
pub const FOURCC_NV12: u32 = u32::from_le_bytes(*b"NV12");
pub const FOURCC_MJPEG: u32 = u32::from_le_bytes(*b"MJPG");

/// Pixel formats we read, best first: raw ones cost nothing to convert; MJPEG needs a JPEG
/// decode per frame, so it is the last resort (many USB cameras offer only MJPEG at 720p+).
const PREFERRED: [u32; 4] = [FOURCC_I420, FOURCC_NV12, FOURCC_YUYV, FOURCC_MJPEG];

/// What a driver settled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureFormat {
    pub width: u32,
    pub height: u32,
    pub fourcc: u32,
    /// Bytes per row of the first plane (drivers may pad rows).
    pub stride: u32,
}

/// An open camera: the seam between this module and the operating system.
pub trait CaptureDevice: Send {
    /// The pixel formats it offers (fourcc codes).
    fn formats(&mut self) -> std::io::Result<Vec<u32>>;
    /// Ask for a size and format; the driver answers with what it will deliver.
    fn set_format(
        &mut self,
        width: u32,
        height: u32,
        fourcc: u32,
    ) -> std::io::Result<CaptureFormat>;
    /// Start streaming.
    fn start(&mut self) -> std::io::Result<()>;
    /// Wait for the next frame and copy its bytes into `out`.
    fn next_frame(&mut self, out: &mut Vec<u8>) -> std::io::Result<()>;
}

fn fourcc_name(code: u32) -> String {
    String::from_utf8_lossy(&code.to_le_bytes()).into_owned()
}

/// Pick a format we can convert and set it as close to `width`×`height` as the camera goes.
pub fn negotiate(
    device: &mut dyn CaptureDevice,
    width: u32,
    height: u32,
) -> Result<CaptureFormat, DeviceError> {
    let io = |e: std::io::Error| DeviceError::Io {
        device: "camera".into(),
        source: e,
    };
    let offered = device.formats().map_err(io)?;
    let Some(fourcc) = PREFERRED.into_iter().find(|f| offered.contains(f)) else {
        let names: Vec<String> = offered.iter().map(|f| fourcc_name(*f)).collect();
        return Err(DeviceError::Format(format!(
            "this camera sends only {}, which the studio cannot read; try another camera",
            if names.is_empty() {
                "nothing".to_string()
            } else {
                names.join(", ")
            }
        )));
    };
    let settled = device.set_format(width, height, fourcc).map_err(io)?;
    if !PREFERRED.contains(&settled.fourcc) || settled.width < 2 || settled.height < 2 {
        return Err(DeviceError::Format(format!(
            "the camera switched to {} at {}x{}, which the studio cannot read",
            fourcc_name(settled.fourcc),
            settled.width,
            settled.height
        )));
    }
    Ok(settled)
}

/// One format a camera offers, as Windows and macOS list them: every size and rate whole,
/// where V4L2 lets the driver settle on the nearest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OfferedFormat {
    pub fourcc: u32,
    pub width: u32,
    pub height: u32,
    /// Frames per second, 0 when the camera does not say.
    pub fps: f64,
}

/// The frame rate asked for when a camera offers several at one size and format.
const WANTED_FPS: f64 = 30.0;

/// Which of `offered` to use for `fourcc` near `width`×`height`: the closest size in pixels,
/// then the frame rate closest to 30.
pub fn closest_format(
    offered: &[OfferedFormat],
    fourcc: u32,
    width: u32,
    height: u32,
) -> Option<usize> {
    let want = i64::from(width) * i64::from(height);
    let area = |f: &OfferedFormat| (i64::from(f.width) * i64::from(f.height) - want).abs();
    offered
        .iter()
        .enumerate()
        .filter(|(_, f)| f.fourcc == fourcc)
        .min_by(|(_, a), (_, b)| {
            area(a).cmp(&area(b)).then(
                (a.fps - WANTED_FPS)
                    .abs()
                    .total_cmp(&(b.fps - WANTED_FPS).abs()),
            )
        })
        .map(|(index, _)| index)
}

/// [`pick_camera`], or an error that lists the cameras there are (kind `NotFound`).
pub fn find_camera(names: &[String], spec: &str) -> std::io::Result<usize> {
    pick_camera(names, spec).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "no camera `{spec}` among {} (run `studio devices`)",
                if names.is_empty() {
                    "none found".to_string()
                } else {
                    names.join(", ")
                }
            ),
        )
    })
}

/// Which of the cameras named `names` (in the system's order) a `camera:` spec means: its
/// position in the list, or the first name that contains it, whatever the case.
pub fn pick_camera(names: &[String], spec: &str) -> Option<usize> {
    let spec = spec.trim();
    if let Ok(index) = spec.parse::<usize>() {
        return (index < names.len()).then_some(index);
    }
    let wanted = spec.to_lowercase();
    if wanted.is_empty() {
        return None;
    }
    names
        .iter()
        .position(|name| name.to_lowercase().contains(&wanted))
}

/// One plane of a picture in memory: `rows` rows, each starting `stride` bytes after the last.
#[derive(Debug, Clone, Copy)]
pub struct Plane<'a> {
    pub data: &'a [u8],
    pub stride: usize,
    pub rows: usize,
}

impl Plane<'_> {
    /// Append the first `row_bytes` of each of the first `rows` rows to `out`.
    fn copy_rows(
        &self,
        row_bytes: usize,
        rows: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), MediaError> {
        let last_row_end = rows
            .checked_sub(1)
            .map_or(0, |last| last * self.stride + row_bytes);
        if self.stride < row_bytes || self.rows < rows || self.data.len() < last_row_end {
            return Err(MediaError::BadFormat(format!(
                "a camera plane of {} rows of {} bytes ({} in all) cannot hold {rows} rows of \
                 {row_bytes}",
                self.rows,
                self.stride,
                self.data.len()
            )));
        }
        for row in 0..rows {
            out.extend_from_slice(&self.data[row * self.stride..row * self.stride + row_bytes]);
        }
        Ok(())
    }
}

/// Copy a two-plane 4:2:0 picture (rows of Y, then rows of interleaved Cb Cr, each plane with
/// its own padded rows, as CoreVideo hands them out) into `out` as contiguous NV12 whose rows
/// are `width` bytes: what [`to_i420`] reads with `stride: width`. `out` keeps its allocation.
pub fn pack_nv12(
    luma: Plane,
    chroma: Plane,
    width: usize,
    height: usize,
    out: &mut Vec<u8>,
) -> Result<(), MediaError> {
    out.clear();
    let packed = luma
        .copy_rows(width, height, out)
        .and_then(|()| chroma.copy_rows(width, height.div_ceil(2), out));
    if packed.is_err() {
        out.clear();
    }
    packed
}

/// Convert one captured frame to I420 (odd sizes lose their last row or column). MJPEG frames
/// go through a decoder made for this frame; [`CameraSource`] keeps one across frames.
pub fn to_i420(format: &CaptureFormat, data: &[u8]) -> Result<I420Image, MediaError> {
    if format.fourcc == FOURCC_MJPEG {
        return MjpegDecoder::new().decode(data, format.width, format.height);
    }
    let (w, h) = ((format.width & !1) as usize, (format.height & !1) as usize);
    let stride = format.stride as usize;
    let need = match format.fourcc {
        FOURCC_YUYV => stride * h,
        _ => stride * h * 3 / 2,
    };
    if data.len() < need || stride < w {
        return Err(MediaError::BadFormat(format!(
            "a camera frame of {} bytes where {need} were expected",
            data.len()
        )));
    }
    let mut image = I420Image::black(w as u32, h as u32);
    let (y, u, v) = image.planes_mut();
    let cw = w / 2;
    match format.fourcc {
        FOURCC_YUYV => {
            for row in 0..h {
                let line = &data[row * stride..row * stride + 2 * w];
                for (x, pair) in line.chunks_exact(4).enumerate() {
                    y[row * w + 2 * x] = pair[0];
                    y[row * w + 2 * x + 1] = pair[2];
                }
            }
            // Chroma from the two rows it covers, averaged.
            for row in 0..h / 2 {
                let a = &data[2 * row * stride..];
                let b = &data[(2 * row + 1) * stride..];
                for x in 0..cw {
                    let avg = |i: usize| (u16::from(a[i]) + u16::from(b[i])).div_ceil(2) as u8;
                    u[row * cw + x] = avg(4 * x + 1);
                    v[row * cw + x] = avg(4 * x + 3);
                }
            }
        }
        FOURCC_NV12 | FOURCC_I420 => {
            for row in 0..h {
                y[row * w..row * w + w].copy_from_slice(&data[row * stride..row * stride + w]);
            }
            let chroma = &data[stride * format.height as usize..];
            let cstride = stride / 2;
            for row in 0..h / 2 {
                for x in 0..cw {
                    if format.fourcc == FOURCC_NV12 {
                        u[row * cw + x] = chroma[row * stride + 2 * x];
                        v[row * cw + x] = chroma[row * stride + 2 * x + 1];
                    } else {
                        let v_plane = cstride * format.height as usize / 2;
                        u[row * cw + x] = chroma[row * cstride + x];
                        v[row * cw + x] = chroma[v_plane + row * cstride + x];
                    }
                }
            }
        }
        other => {
            return Err(MediaError::BadFormat(format!(
                "camera format {} cannot be converted",
                fourcc_name(other)
            )));
        }
    }
    Ok(image)
}

/// Opens (and reopens) a camera.
pub type Opener<D> = Box<dyn FnMut() -> std::io::Result<D> + Send>;

fn is_unplug(error: &std::io::Error) -> bool {
    error.raw_os_error() == Some(ENODEV) || error.kind() == std::io::ErrorKind::NotFound
}

/// A camera as a [`VideoSource`].
pub struct CameraSource<D: CaptureDevice> {
    open: Opener<D>,
    device: Option<D>,
    format: CaptureFormat,
    rate: FrameRate,
    buffer: Vec<u8>,
    mjpeg: MjpegDecoder,
    last: Option<I420Image>,
    next_attempt: Instant,
    broken_in_a_row: u32,
    state: CameraState,
    clock: Box<dyn FnMut() -> Instant + Send>,
    on_state: Box<dyn FnMut(&CameraState) + Send>,
    pub stats: CameraStats,
}

impl<D: CaptureDevice> CameraSource<D> {
    /// Open, negotiate `width`×`height` (the camera may pick another size: [`Self::format`]
    /// says which) and start streaming.
    pub fn open(
        mut open: Opener<D>,
        width: u32,
        height: u32,
        rate: FrameRate,
    ) -> Result<CameraSource<D>, DeviceError> {
        let mut device = open().map_err(|source| DeviceError::Unavailable {
            problem: format!("cannot open the camera: {source}"),
            fix: "Check that it is plugged in and that no other program uses it (run `studio \
                  devices` to see the cameras)"
                .into(),
        })?;
        let format = negotiate(&mut device, width, height)?;
        device.start().map_err(|source| DeviceError::Io {
            device: "camera".into(),
            source,
        })?;
        Ok(CameraSource {
            open,
            device: Some(device),
            format,
            rate,
            buffer: Vec::new(),
            mjpeg: MjpegDecoder::new(),
            last: None,
            next_attempt: Instant::now(),
            broken_in_a_row: 0,
            state: CameraState::Streaming,
            clock: Box::new(Instant::now),
            on_state: Box::new(|_| {}),
            stats: CameraStats::default(),
        })
    }

    /// Read time from `clock` instead of the system (tests drive reopening with it).
    pub fn with_clock(mut self, mut clock: impl FnMut() -> Instant + Send + 'static) -> Self {
        self.next_attempt = clock();
        self.clock = Box::new(clock);
        self
    }

    /// Call `on_state` whenever the camera's state changes (unplugged, lost, streaming again).
    pub fn on_state_change(mut self, on_state: impl FnMut(&CameraState) + Send + 'static) -> Self {
        self.on_state = Box::new(on_state);
        self
    }

    /// What the camera is doing now.
    pub fn state(&self) -> &CameraState {
        &self.state
    }

    /// The format the camera delivers in (MJPEG frames are decoded to I420 on the way out).
    pub fn capture_format(&self) -> CaptureFormat {
        self.format
    }

    fn set_state(&mut self, state: CameraState) {
        if state != self.state {
            self.state = state;
            (self.on_state)(&self.state);
        }
    }

    /// A stand-in while the camera is gone: the last frame, else black.
    fn conceal(&mut self) -> I420Image {
        self.stats.frames_concealed += 1;
        self.last
            .clone()
            .unwrap_or_else(|| I420Image::black(self.format.width & !1, self.format.height & !1))
    }

    fn try_reopen(&mut self) {
        let now = (self.clock)();
        if now < self.next_attempt {
            return;
        }
        self.next_attempt = now + REOPEN_EVERY;
        let Ok(mut device) = (self.open)() else {
            return;
        };
        // Same size and format as before, so the stream's format never changes mid-run.
        match device.set_format(self.format.width, self.format.height, self.format.fourcc) {
            Ok(format) if format == self.format && device.start().is_ok() => {
                self.device = Some(device);
                self.set_state(CameraState::Streaming);
            }
            _ => {}
        }
    }

    fn convert(&mut self) -> Result<I420Image, MediaError> {
        if self.format.fourcc == FOURCC_MJPEG {
            self.mjpeg
                .decode(&self.buffer, self.format.width, self.format.height)
        } else {
            to_i420(&self.format, &self.buffer)
        }
    }
}

impl<D: CaptureDevice> VideoSource for CameraSource<D> {
    fn camera_health(&self) -> Option<CameraHealth> {
        Some(CameraHealth {
            state: self.state.clone(),
            stats: self.stats.clone(),
        })
    }

    fn format(&self) -> VideoFormat {
        VideoFormat {
            width: self.format.width & !1,
            height: self.format.height & !1,
            rate: self.rate,
        }
    }

    fn next_image(&mut self) -> Result<Option<I420Image>, MediaError> {
        if self.device.is_none() {
            self.try_reopen();
        }
        let Some(device) = self.device.as_mut() else {
            return Ok(Some(self.conceal()));
        };
        match device.next_frame(&mut self.buffer) {
            Ok(()) => match self.convert() {
                Ok(image) => {
                    self.broken_in_a_row = 0;
                    self.last = Some(image.clone());
                    Ok(Some(image))
                }
                Err(error) => {
                    // One bad frame (a USB glitch truncates JPEGs) is dropped and counted;
                    // a camera that sends nothing else is a problem to report.
                    self.stats.frames_broken += 1;
                    self.broken_in_a_row += 1;
                    if self.broken_in_a_row >= BROKEN_FRAMES_LIMIT {
                        return Err(MediaError::BadFormat(format!(
                            "the camera sent {} broken frames in a row, the last one: {error}; \
                             try another camera or another resolution",
                            self.broken_in_a_row
                        )));
                    }
                    Ok(Some(self.conceal()))
                }
            },
            Err(error) => {
                // Unplugged (ENODEV) or stalled: keep the timeline, try again shortly.
                self.device = None;
                self.stats.disconnects += 1;
                self.next_attempt = (self.clock)() + REOPEN_EVERY;
                self.set_state(if is_unplug(&error) {
                    CameraState::Unplugged
                } else {
                    CameraState::Lost(error.to_string())
                });
                Ok(Some(self.conceal()))
            }
        }
    }
}

/// V4L2 memory-mapped capture (Linux).
#[cfg(target_os = "linux")]
pub mod v4l2_capture {
    use super::{CaptureDevice, CaptureFormat};
    use crate::v4l2::FORMAT_SIZE;
    use std::os::fd::AsRawFd;
    use std::path::Path;

    const fn ioc(dir: u32, nr: u32, size: usize) -> u32 {
        (dir << 30) | ((size as u32) << 16) | ((b'V' as u32) << 8) | nr
    }
    const RW: u32 = 3;
    const W: u32 = 1;
    const FMTDESC_SIZE: usize = 64;
    const REQBUFS_SIZE: usize = 20;
    /// `sizeof(struct v4l2_buffer)` on 64-bit Linux.
    const BUFFER_SIZE: usize = 88;
    pub const VIDIOC_ENUM_FMT: u32 = ioc(RW, 2, FMTDESC_SIZE);
    pub const VIDIOC_S_FMT: u32 = ioc(RW, 5, FORMAT_SIZE);
    pub const VIDIOC_REQBUFS: u32 = ioc(RW, 8, REQBUFS_SIZE);
    pub const VIDIOC_QUERYBUF: u32 = ioc(RW, 9, BUFFER_SIZE);
    pub const VIDIOC_QBUF: u32 = ioc(RW, 15, BUFFER_SIZE);
    pub const VIDIOC_DQBUF: u32 = ioc(RW, 17, BUFFER_SIZE);
    pub const VIDIOC_STREAMON: u32 = ioc(W, 18, 4);
    const BUF_TYPE_VIDEO_CAPTURE: u32 = 1;
    const MEMORY_MMAP: u32 = 1;
    const BUFFERS: u32 = 4;

    /// The kernel reads these at 8-byte alignment.
    #[repr(C, align(8))]
    struct Aligned<const N: usize>([u8; N]);

    fn put(raw: &mut [u8], at: usize, value: u32) {
        raw[at..at + 4].copy_from_slice(&value.to_ne_bytes());
    }
    fn get(raw: &[u8], at: usize) -> u32 {
        u32::from_ne_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]])
    }

    struct Mapping {
        ptr: *mut libc::c_void,
        len: usize,
    }

    /// An open V4L2 capture node with its memory-mapped buffers.
    pub struct V4l2Capture {
        file: std::fs::File,
        buffers: Vec<Mapping>,
    }

    // SAFETY: the mappings belong to this value alone and are only touched through `&mut self`.
    unsafe impl Send for V4l2Capture {}

    impl V4l2Capture {
        pub fn open(path: &Path) -> std::io::Result<V4l2Capture> {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)?;
            Ok(V4l2Capture {
                file,
                buffers: Vec::new(),
            })
        }

        fn ioctl<const N: usize>(&self, request: u32, arg: &mut Aligned<N>) -> std::io::Result<()> {
            // SAFETY: each request is paired with a buffer of the size its number encodes.
            let rc =
                unsafe { libc::ioctl(self.file.as_raw_fd(), request as _, arg.0.as_mut_ptr()) };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        }

        fn buffer(index: u32) -> Aligned<BUFFER_SIZE> {
            let mut raw = Aligned([0u8; BUFFER_SIZE]);
            put(&mut raw.0, 0, index);
            put(&mut raw.0, 4, BUF_TYPE_VIDEO_CAPTURE);
            put(&mut raw.0, 60, MEMORY_MMAP);
            raw
        }
    }

    impl CaptureDevice for V4l2Capture {
        fn formats(&mut self) -> std::io::Result<Vec<u32>> {
            let mut found = Vec::new();
            for index in 0..64 {
                let mut desc = Aligned([0u8; FMTDESC_SIZE]);
                put(&mut desc.0, 0, index);
                put(&mut desc.0, 4, BUF_TYPE_VIDEO_CAPTURE);
                if self.ioctl(VIDIOC_ENUM_FMT, &mut desc).is_err() {
                    break;
                }
                found.push(get(&desc.0, 44));
            }
            Ok(found)
        }

        fn set_format(
            &mut self,
            width: u32,
            height: u32,
            fourcc: u32,
        ) -> std::io::Result<CaptureFormat> {
            let mut raw = Aligned([0u8; FORMAT_SIZE]);
            put(&mut raw.0, 0, BUF_TYPE_VIDEO_CAPTURE);
            put(&mut raw.0, 8, width);
            put(&mut raw.0, 12, height);
            put(&mut raw.0, 16, fourcc);
            put(&mut raw.0, 20, 1); // V4L2_FIELD_NONE
            self.ioctl(VIDIOC_S_FMT, &mut raw)?;
            Ok(CaptureFormat {
                width: get(&raw.0, 8),
                height: get(&raw.0, 12),
                fourcc: get(&raw.0, 16),
                stride: get(&raw.0, 24).max(get(&raw.0, 8)),
            })
        }

        fn start(&mut self) -> std::io::Result<()> {
            let mut request = Aligned([0u8; REQBUFS_SIZE]);
            put(&mut request.0, 0, BUFFERS);
            put(&mut request.0, 4, BUF_TYPE_VIDEO_CAPTURE);
            put(&mut request.0, 8, MEMORY_MMAP);
            self.ioctl(VIDIOC_REQBUFS, &mut request)?;
            let count = get(&request.0, 0);
            for index in 0..count {
                let mut buffer = Self::buffer(index);
                self.ioctl(VIDIOC_QUERYBUF, &mut buffer)?;
                let offset = get(&buffer.0, 64);
                let len = get(&buffer.0, 72) as usize;
                // SAFETY: maps the driver's buffer `index` at the offset it gave, shared and
                // readable; unmapped in Drop.
                let ptr = unsafe {
                    libc::mmap(
                        std::ptr::null_mut(),
                        len,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_SHARED,
                        self.file.as_raw_fd(),
                        offset as libc::off_t,
                    )
                };
                if ptr == libc::MAP_FAILED {
                    return Err(std::io::Error::last_os_error());
                }
                self.buffers.push(Mapping { ptr, len });
                self.ioctl(VIDIOC_QBUF, &mut buffer)?;
            }
            let mut kind = Aligned([0u8; 4]);
            put(&mut kind.0, 0, BUF_TYPE_VIDEO_CAPTURE);
            self.ioctl(VIDIOC_STREAMON, &mut kind)
        }

        fn next_frame(&mut self, out: &mut Vec<u8>) -> std::io::Result<()> {
            let mut buffer = Self::buffer(0);
            self.ioctl(VIDIOC_DQBUF, &mut buffer)?;
            let index = get(&buffer.0, 0) as usize;
            let used = get(&buffer.0, 8) as usize;
            let Some(mapping) = self.buffers.get(index) else {
                return Err(std::io::Error::other(
                    "the driver returned an unknown buffer",
                ));
            };
            // SAFETY: the driver filled `used` bytes of buffer `index`, mapped with `len` bytes;
            // it does not write it again until we queue it back below.
            let bytes = unsafe {
                std::slice::from_raw_parts(mapping.ptr as *const u8, used.min(mapping.len))
            };
            out.clear();
            out.extend_from_slice(bytes);
            self.ioctl(VIDIOC_QBUF, &mut buffer)
        }
    }

    impl Drop for V4l2Capture {
        fn drop(&mut self) {
            for mapping in self.buffers.drain(..) {
                // SAFETY: a mapping made in `start`, unmapped once.
                unsafe { libc::munmap(mapping.ptr, mapping.len) };
            }
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn ioctl_numbers_match_the_kernel_headers() {
            // From <linux/videodev2.h> on x86_64 and aarch64.
            assert_eq!(super::VIDIOC_ENUM_FMT, 0xc040_5602);
            assert_eq!(super::VIDIOC_S_FMT, 0xc0d0_5605);
            assert_eq!(super::VIDIOC_REQBUFS, 0xc014_5608);
            assert_eq!(super::VIDIOC_QUERYBUF, 0xc058_5609);
            assert_eq!(super::VIDIOC_QBUF, 0xc058_560f);
            assert_eq!(super::VIDIOC_DQBUF, 0xc058_5611);
            assert_eq!(super::VIDIOC_STREAMON, 0x4004_5612);
        }
    }
}
