//! The Windows virtual camera: OBS Virtual Camera's shared-memory queue. OBS Studio (26 and
//! later) installs a DirectShow camera, "OBS Virtual Camera", that shows whatever a writer
//! puts into the file mapping `OBSVirtualCamVideo`: a header and three NV12 frame slots that
//! the writer fills round-robin. We write that queue ourselves, so the user needs OBS
//! installed but not running.
//!
//! The layout logic works on any byte region ([`SharedRegion`]) so it is tested everywhere;
//! only [`windows_mapping`] touches the Win32 API.

use crate::error::DeviceError;
use std::sync::atomic::{Ordering, fence};
use studio_media::error::MediaError;
use studio_media::sink::VideoWrite;
use studio_media::video::I420Image;

/// The file mapping's name.
pub const MAPPING_NAME: &str = "OBSVirtualCamVideo";

pub const INSTALL_HINT: &str = "Install OBS Studio (version 26 or later) from obsproject.com \
    and start its Virtual Camera once, so Windows lists \"OBS Virtual Camera\"; then stop it in \
    OBS — the studio feeds that camera itself";

/// `struct queue_header`: write_idx, read_idx, state, offsets[3], type, cx, cy, (padding),
/// interval (u64), reserved[8].
const HEADER_SIZE: usize = 80;
const FRAME_HEADER_SIZE: usize = 32;
const OFF_WRITE_IDX: usize = 0;
const OFF_READ_IDX: usize = 4;
const OFF_STATE: usize = 8;
const OFF_OFFSETS: usize = 12;
const OFF_CX: usize = 28;
const OFF_CY: usize = 32;
const OFF_INTERVAL: usize = 40;

/// `enum queue_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum QueueState {
    Invalid = 0,
    Starting = 1,
    Ready = 2,
    Stopping = 3,
}

const fn align32(n: usize) -> usize {
    (n + 31) & !31
}

/// Where each part of the queue lives for a frame size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLayout {
    pub width: u32,
    pub height: u32,
    /// Byte offset of each slot (its 32-byte frame header, then the NV12 frame).
    pub slots: [usize; 3],
    /// Bytes of the whole mapping.
    pub size: usize,
}

impl QueueLayout {
    pub fn new(width: u32, height: u32) -> QueueLayout {
        let frame = width as usize * height as usize * 3 / 2;
        let mut size = align32(HEADER_SIZE);
        let mut slots = [0; 3];
        for slot in &mut slots {
            *slot = size;
            size = align32(size + frame + FRAME_HEADER_SIZE);
        }
        QueueLayout {
            width,
            height,
            slots,
            size,
        }
    }

    pub fn frame_bytes(&self) -> usize {
        self.width as usize * self.height as usize * 3 / 2
    }
}

/// A writable shared byte region: the seam between the queue logic and the OS.
pub trait SharedRegion: Send {
    fn bytes(&mut self) -> &mut [u8];
}

impl SharedRegion for Vec<u8> {
    fn bytes(&mut self) -> &mut [u8] {
        self
    }
}

fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn put_u64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

fn get_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Writes frames into the queue as OBS's own writer does.
pub struct ObsQueueWriter<R: SharedRegion> {
    region: R,
    layout: QueueLayout,
    /// Frame time in 100 ns units, the DirectShow unit.
    interval: u64,
    frames: u64,
}

impl<R: SharedRegion> ObsQueueWriter<R> {
    /// Lay out the header in `region` (at least `layout.size` bytes) and mark it starting.
    pub fn new(mut region: R, width: u32, height: u32, fps: f64) -> Result<Self, DeviceError> {
        if !width.is_multiple_of(2) || !height.is_multiple_of(2) || width == 0 || height == 0 {
            return Err(DeviceError::Format(format!(
                "OBS Virtual Camera needs an even frame size, not {width}x{height}"
            )));
        }
        let layout = QueueLayout::new(width, height);
        let bytes = region.bytes();
        if bytes.len() < layout.size {
            return Err(DeviceError::Format(format!(
                "the shared memory has {} bytes, the queue needs {}",
                bytes.len(),
                layout.size
            )));
        }
        bytes[..HEADER_SIZE].fill(0);
        put_u32(bytes, OFF_STATE, QueueState::Starting as u32);
        for (i, slot) in layout.slots.iter().enumerate() {
            put_u32(bytes, OFF_OFFSETS + 4 * i, *slot as u32);
        }
        put_u32(bytes, OFF_CX, width);
        put_u32(bytes, OFF_CY, height);
        let interval = (10_000_000.0 / fps.max(1.0)).round() as u64;
        put_u64(bytes, OFF_INTERVAL, interval);
        Ok(ObsQueueWriter {
            region,
            layout,
            interval,
            frames: 0,
        })
    }

    pub fn layout(&self) -> QueueLayout {
        self.layout
    }

    pub fn region(&mut self) -> &mut R {
        &mut self.region
    }

    /// Put one frame in the next slot and publish it.
    pub fn write(&mut self, image: &I420Image) -> Result<(), DeviceError> {
        let layout = self.layout;
        if (image.width(), image.height()) != (layout.width, layout.height) {
            return Err(DeviceError::Format(format!(
                "a {}x{} frame for the {}x{} OBS Virtual Camera",
                image.width(),
                image.height(),
                layout.width,
                layout.height
            )));
        }
        let timestamp = self.frames * self.interval;
        self.frames += 1;
        let bytes = self.region.bytes();
        let inc = get_u32(bytes, OFF_WRITE_IDX).wrapping_add(1);
        put_u32(bytes, OFF_WRITE_IDX, inc);
        let slot = layout.slots[(inc % 3) as usize];
        put_u64(bytes, slot, timestamp);
        let frame = &mut bytes[slot + FRAME_HEADER_SIZE..][..layout.frame_bytes()];
        i420_to_nv12(image, frame);
        // The reader looks at read_idx and state only: publish them after the frame.
        fence(Ordering::SeqCst);
        put_u32(bytes, OFF_READ_IDX, inc);
        put_u32(bytes, OFF_STATE, QueueState::Ready as u32);
        Ok(())
    }

    /// Tell the camera the stream ended (it shows its placeholder).
    pub fn stop(&mut self) {
        put_u32(self.region.bytes(), OFF_STATE, QueueState::Stopping as u32);
    }
}

/// NV12: the luma plane, then U and V interleaved at half resolution.
pub fn i420_to_nv12(image: &I420Image, out: &mut [u8]) {
    let (y, u, v) = image.planes();
    out[..y.len()].copy_from_slice(y);
    for (pair, (u, v)) in out[y.len()..].chunks_exact_mut(2).zip(u.iter().zip(v)) {
        pair[0] = *u;
        pair[1] = *v;
    }
}

impl<R: SharedRegion> VideoWrite for ObsQueueWriter<R> {
    fn write(&mut self, image: &I420Image) -> Result<(), MediaError> {
        ObsQueueWriter::write(self, image).map_err(MediaError::from)
    }

    fn finish(mut self: Box<Self>) -> Result<(), MediaError> {
        self.stop();
        Ok(())
    }
}

/// The named file mapping on Windows.
#[cfg(windows)]
pub mod windows_mapping {
    use super::{DeviceError, INSTALL_HINT, MAPPING_NAME, QueueLayout, SharedRegion};
    use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, INVALID_HANDLE_VALUE};
    use windows_sys::Win32::System::Memory::{
        CreateFileMappingW, FILE_MAP_ALL_ACCESS, FILE_MAP_READ, MEMORY_MAPPED_VIEW_ADDRESS,
        MapViewOfFile, OpenFileMappingW, PAGE_READWRITE, UnmapViewOfFile,
    };

    /// The mapping `OBSVirtualCamVideo`, created by us.
    pub struct Mapping {
        handle: HANDLE,
        view: MEMORY_MAPPED_VIEW_ADDRESS,
        size: usize,
    }

    // SAFETY: the handle and view belong to this value alone; Windows handles may be used
    // from any thread.
    unsafe impl Send for Mapping {}

    fn wide(s: &str) -> Vec<u16> {
        s.encode_utf16().chain(std::iter::once(0)).collect()
    }

    impl Mapping {
        pub fn create(layout: &QueueLayout) -> Result<Mapping, DeviceError> {
            let name = wide(MAPPING_NAME);
            // SAFETY: `name` is a NUL-terminated UTF-16 string alive for the call.
            let existing = unsafe { OpenFileMappingW(FILE_MAP_READ, 0, name.as_ptr()) };
            if !existing.is_null() {
                // SAFETY: a handle we just opened.
                unsafe { CloseHandle(existing) };
                return Err(DeviceError::Unavailable {
                    problem: "OBS Virtual Camera is already fed by another program (OBS itself?)"
                        .into(),
                    fix: "Stop the virtual camera in OBS, then start the studio again".into(),
                });
            }
            // SAFETY: pagefile-backed mapping of `layout.size` bytes with a valid name.
            let handle = unsafe {
                CreateFileMappingW(
                    INVALID_HANDLE_VALUE,
                    std::ptr::null(),
                    PAGE_READWRITE,
                    0,
                    layout.size as u32,
                    name.as_ptr(),
                )
            };
            if handle.is_null() {
                return Err(DeviceError::Unavailable {
                    problem: format!(
                        "cannot create the OBS Virtual Camera memory: {}",
                        std::io::Error::last_os_error()
                    ),
                    fix: INSTALL_HINT.into(),
                });
            }
            // SAFETY: a mapping handle we own; the view covers the whole mapping.
            let view = unsafe { MapViewOfFile(handle, FILE_MAP_ALL_ACCESS, 0, 0, 0) };
            if view.Value.is_null() {
                // SAFETY: a handle we own.
                unsafe { CloseHandle(handle) };
                return Err(DeviceError::Io {
                    device: MAPPING_NAME.into(),
                    source: std::io::Error::last_os_error(),
                });
            }
            Ok(Mapping {
                handle,
                view,
                size: layout.size,
            })
        }
    }

    impl SharedRegion for Mapping {
        fn bytes(&mut self) -> &mut [u8] {
            // SAFETY: the view maps `size` writable bytes for as long as `self` lives. The
            // reader in another process only reads, and the writer publishes with a fence.
            unsafe { std::slice::from_raw_parts_mut(self.view.Value as *mut u8, self.size) }
        }
    }

    impl Drop for Mapping {
        fn drop(&mut self) {
            // SAFETY: the view and handle were created by `create` and are released once.
            unsafe {
                UnmapViewOfFile(self.view);
                CloseHandle(self.handle);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_matches_obs_for_720p() {
        // sizeof(queue_header) = 80, aligned to 96; each slot 32 + 1382400 bytes, aligned.
        let layout = QueueLayout::new(1280, 720);
        assert_eq!(layout.slots, [96, 96 + 1_382_432, 96 + 2 * 1_382_432]);
        assert_eq!(layout.size, 96 + 3 * 1_382_432);
    }
}
