//! The Linux virtual camera: a v4l2loopback device. We find the loopback devices among
//! `/dev/video*` by asking each for its driver, set the output format (`VIDIOC_S_FMT` on a
//! video-output buffer, I420) and `write()` whole frames; call apps read the same device as a
//! camera. The kernel structures are laid out by hand (they are small and fixed by the kernel
//! ABI) so no bindings generator is needed; the ioctl itself sits behind [`LoopbackFile`].

use crate::error::DeviceError;
use std::path::{Path, PathBuf};
use studio_media::error::MediaError;
use studio_media::sink::VideoWrite;
use studio_media::video::I420Image;

/// The driver name v4l2loopback reports in `VIDIOC_QUERYCAP`.
pub const LOOPBACK_DRIVER: &str = "v4l2 loopback";

/// How to get the module, for people who have never heard of it.
pub const INSTALL_HINT: &str = "Install the virtual camera driver: on Debian or Ubuntu run \
    `sudo apt install v4l2loopback-dkms` and then \
    `sudo modprobe v4l2loopback devices=1 video_nr=10 card_label=\"Streaming Studio Camera\" \
    exclusive_caps=1` (add the same options to /etc/modprobe.d/ to keep it after a restart)";

const fn ioc(dir: u32, nr: u32, size: usize) -> u32 {
    (dir << 30) | ((size as u32) << 16) | ((b'V' as u32) << 8) | nr
}
const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;

/// `sizeof(struct v4l2_capability)`.
pub const CAPABILITY_SIZE: usize = 104;
/// `sizeof(struct v4l2_format)` on 64-bit Linux: a u32 type, padding to the 8-aligned union,
/// and the union's 200 bytes.
pub const FORMAT_SIZE: usize = 208;
/// `VIDIOC_QUERYCAP`: `_IOR('V', 0, struct v4l2_capability)`.
pub const VIDIOC_QUERYCAP: u32 = ioc(IOC_READ, 0, CAPABILITY_SIZE);
/// `VIDIOC_S_FMT`: `_IOWR('V', 5, struct v4l2_format)`.
pub const VIDIOC_S_FMT: u32 = ioc(IOC_READ | IOC_WRITE, 5, FORMAT_SIZE);

const BUF_TYPE_VIDEO_OUTPUT: u32 = 2;
const FIELD_NONE: u32 = 1;
/// BT.601, which is what the studio's colour conversion uses.
const COLORSPACE_SMPTE170M: u32 = 1;
/// `V4L2_PIX_FMT_YUV420`, planar I420.
pub const PIX_FMT_YUV420: u32 = u32::from_le_bytes(*b"YU12");
const CAP_VIDEO_CAPTURE: u32 = 0x0000_0001;
const CAP_VIDEO_OUTPUT: u32 = 0x0000_0002;
const CAP_DEVICE_CAPS: u32 = 0x8000_0000;

/// What `VIDIOC_QUERYCAP` says about a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capability {
    pub driver: String,
    pub card: String,
    /// The capabilities of this device node (`device_caps` when the driver gives them).
    pub caps: u32,
}

impl Capability {
    pub fn parse(raw: &[u8; CAPABILITY_SIZE]) -> Capability {
        let text = |bytes: &[u8]| {
            let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            String::from_utf8_lossy(&bytes[..end]).into_owned()
        };
        let word = |at: usize| u32::from_ne_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]);
        let (all, device) = (word(84), word(88));
        Capability {
            driver: text(&raw[0..16]),
            card: text(&raw[16..48]),
            caps: if all & CAP_DEVICE_CAPS != 0 {
                device
            } else {
                all
            },
        }
    }

    pub fn is_loopback_output(&self) -> bool {
        self.driver == LOOPBACK_DRIVER && self.caps & CAP_VIDEO_OUTPUT != 0
    }
}

/// `struct v4l2_format` for I420 output at `width`×`height`.
pub fn output_format(width: u32, height: u32) -> [u8; FORMAT_SIZE] {
    let mut raw = [0u8; FORMAT_SIZE];
    let chroma = width.div_ceil(2) * height.div_ceil(2);
    let fields = [
        width,
        height,
        PIX_FMT_YUV420,
        FIELD_NONE,
        width,                       // bytesperline of the luma plane
        width * height + 2 * chroma, // sizeimage
        COLORSPACE_SMPTE170M,
    ];
    raw[0..4].copy_from_slice(&BUF_TYPE_VIDEO_OUTPUT.to_ne_bytes());
    for (i, value) in fields.iter().enumerate() {
        let at = 8 + 4 * i;
        raw[at..at + 4].copy_from_slice(&value.to_ne_bytes());
    }
    raw
}

/// Read back the size and pixel format a driver settled on.
pub fn parse_format(raw: &[u8; FORMAT_SIZE]) -> (u32, u32, u32) {
    let word = |at: usize| u32::from_ne_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]);
    (word(8), word(12), word(16))
}

/// An open video device node: the seam between this module and the kernel.
pub trait LoopbackFile: Send {
    fn query_capability(&mut self) -> std::io::Result<[u8; CAPABILITY_SIZE]>;
    /// `VIDIOC_S_FMT`; the driver may adjust `format` in place.
    fn set_format(&mut self, format: &mut [u8; FORMAT_SIZE]) -> std::io::Result<()>;
    fn write_frame(&mut self, bytes: &[u8]) -> std::io::Result<()>;
}

/// Loopback devices in `dev_dir` (normally `/dev`), as `(path, card name)`, opened with
/// `open`. Devices that fail to open or answer are skipped: they are not ours to judge.
pub fn find_loopback_devices<F: LoopbackFile>(
    dev_dir: &Path,
    open: impl FnMut(&Path) -> std::io::Result<F>,
) -> Vec<(PathBuf, String)> {
    find_devices(dev_dir, open, Capability::is_loopback_output)
}

/// Cameras in `dev_dir`: capture nodes that are not loopback devices.
pub fn find_cameras<F: LoopbackFile>(
    dev_dir: &Path,
    open: impl FnMut(&Path) -> std::io::Result<F>,
) -> Vec<(PathBuf, String)> {
    find_devices(dev_dir, open, |c| {
        c.driver != LOOPBACK_DRIVER && c.caps & CAP_VIDEO_CAPTURE != 0
    })
}

fn find_devices<F: LoopbackFile>(
    dev_dir: &Path,
    mut open: impl FnMut(&Path) -> std::io::Result<F>,
    wanted: impl Fn(&Capability) -> bool,
) -> Vec<(PathBuf, String)> {
    let Ok(entries) = std::fs::read_dir(dev_dir) else {
        return Vec::new();
    };
    let mut nodes: Vec<(u32, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n = name.strip_prefix("video")?.parse::<u32>().ok()?;
            Some((n, e.path()))
        })
        .collect();
    nodes.sort();
    nodes
        .into_iter()
        .filter_map(|(_, path)| {
            let mut file = open(&path).ok()?;
            let capability = Capability::parse(&file.query_capability().ok()?);
            wanted(&capability).then_some((path, capability.card))
        })
        .collect()
}

/// Why no loopback device is there, with the fix: the module is missing or has no devices.
pub fn missing_device_error(module_loaded: bool) -> DeviceError {
    DeviceError::Unavailable {
        problem: if module_loaded {
            "The v4l2loopback module is loaded but offers no output device (another program \
             may hold it)"
                .into()
        } else {
            "No virtual camera: the v4l2loopback module is not loaded".into()
        },
        fix: INSTALL_HINT.into(),
    }
}

/// The virtual camera as a sink: frames of one size, written whole.
pub struct LoopbackCamera<F: LoopbackFile> {
    file: F,
    path: PathBuf,
    width: u32,
    height: u32,
}

impl<F: LoopbackFile> LoopbackCamera<F> {
    /// Set the device to I420 at `width`×`height`. A driver that settles on anything else is
    /// an error (we would write garbage otherwise).
    pub fn open(
        mut file: F,
        path: &Path,
        width: u32,
        height: u32,
    ) -> Result<LoopbackCamera<F>, DeviceError> {
        let io = |source| DeviceError::Io {
            device: path.display().to_string(),
            source,
        };
        let capability = Capability::parse(&file.query_capability().map_err(io)?);
        if !capability.is_loopback_output() {
            return Err(DeviceError::Format(format!(
                "{} is not a v4l2loopback output (driver {:?}). {INSTALL_HINT}",
                path.display(),
                capability.driver
            )));
        }
        let mut format = output_format(width, height);
        file.set_format(&mut format).map_err(io)?;
        let settled = parse_format(&format);
        if settled != (width, height, PIX_FMT_YUV420) {
            return Err(DeviceError::Format(format!(
                "{} accepted {}x{} in format {:#x} instead of {width}x{height} I420; another \
                 program may be using it — close it and try again",
                path.display(),
                settled.0,
                settled.1,
                settled.2
            )));
        }
        Ok(LoopbackCamera {
            file,
            path: path.to_path_buf(),
            width,
            height,
        })
    }
}

impl<F: LoopbackFile> VideoWrite for LoopbackCamera<F> {
    fn write(&mut self, image: &I420Image) -> Result<(), MediaError> {
        if (image.width(), image.height()) != (self.width, self.height) {
            return Err(MediaError::BadFormat(format!(
                "a {}x{} frame for the {}x{} virtual camera",
                image.width(),
                image.height(),
                self.width,
                self.height
            )));
        }
        self.file.write_frame(image.data()).map_err(|source| {
            DeviceError::Io {
                device: self.path.display().to_string(),
                source,
            }
            .into()
        })
    }

    fn finish(self: Box<Self>) -> Result<(), MediaError> {
        Ok(())
    }
}

/// The real device node, through `ioctl(2)` and `write(2)`.
#[cfg(target_os = "linux")]
pub struct DeviceNode(std::fs::File);

#[cfg(target_os = "linux")]
impl DeviceNode {
    pub fn open(path: &Path) -> std::io::Result<DeviceNode> {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map(DeviceNode)
    }

    fn ioctl(&mut self, request: u32, arg: *mut u8) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        // SAFETY: `request` is one of the two requests above, each paired by its caller with
        // a buffer of exactly the size encoded in the request, alive for the call.
        let rc = unsafe { libc::ioctl(self.0.as_raw_fd(), request as _, arg) };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(target_os = "linux")]
impl LoopbackFile for DeviceNode {
    fn query_capability(&mut self) -> std::io::Result<[u8; CAPABILITY_SIZE]> {
        let mut raw = [0u8; CAPABILITY_SIZE];
        self.ioctl(VIDIOC_QUERYCAP, raw.as_mut_ptr())?;
        Ok(raw)
    }

    fn set_format(&mut self, format: &mut [u8; FORMAT_SIZE]) -> std::io::Result<()> {
        // The kernel reads the union at 8-byte alignment; a byte array on the stack may not
        // be, so go through an aligned copy.
        #[repr(C, align(8))]
        struct Aligned([u8; FORMAT_SIZE]);
        let mut aligned = Aligned(*format);
        self.ioctl(VIDIOC_S_FMT, aligned.0.as_mut_ptr())?;
        *format = aligned.0;
        Ok(())
    }

    fn write_frame(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        std::io::Write::write_all(&mut self.0, bytes)
    }
}

/// Whether the v4l2loopback module is loaded (Linux).
pub fn module_loaded() -> bool {
    Path::new("/sys/module/v4l2loopback").exists()
}

/// Open the virtual camera: `path`, or the first loopback device in `/dev`.
#[cfg(target_os = "linux")]
pub fn open_virtual_camera(
    path: Option<&Path>,
    width: u32,
    height: u32,
) -> Result<LoopbackCamera<DeviceNode>, DeviceError> {
    let path = match path {
        Some(path) => path.to_path_buf(),
        None => find_loopback_devices(Path::new("/dev"), DeviceNode::open)
            .into_iter()
            .next()
            .map(|(path, _)| path)
            .ok_or_else(|| missing_device_error(module_loaded()))?,
    };
    let node = DeviceNode::open(&path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            missing_device_error(module_loaded())
        } else {
            DeviceError::Io {
                device: path.display().to_string(),
                source,
            }
        }
    })?;
    LoopbackCamera::open(node, &path, width, height)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_match_the_kernel_headers() {
        // From <linux/videodev2.h> on x86_64 and aarch64.
        assert_eq!(VIDIOC_QUERYCAP, 0x8068_5600);
        assert_eq!(VIDIOC_S_FMT, 0xc0d0_5605);
        assert_eq!(PIX_FMT_YUV420, 0x3231_5559);
    }

    #[test]
    fn the_output_format_is_i420_at_the_frame_size() {
        let raw = output_format(1280, 720);
        assert_eq!(
            &raw[0..4],
            &2u32.to_ne_bytes(),
            "V4L2_BUF_TYPE_VIDEO_OUTPUT"
        );
        assert_eq!(parse_format(&raw), (1280, 720, PIX_FMT_YUV420));
        let word = |at: usize| u32::from_ne_bytes(raw[at..at + 4].try_into().unwrap());
        assert_eq!(word(20), FIELD_NONE);
        assert_eq!(word(24), 1280, "bytesperline");
        assert_eq!(word(28), 1280 * 720 * 3 / 2, "sizeimage");
    }
}
