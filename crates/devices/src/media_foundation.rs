//! Windows cameras through Media Foundation: the video capture sources that
//! `MFEnumDeviceSources` lists, read with a synchronous source reader in their native formats
//! (NV12, YUY2, I420 or MJPEG; the conversion to I420 is ours, in [`crate::camera`]).
//!
//! COM is entered as a multithreaded apartment on each thread that opens or reads a camera;
//! Media Foundation's sources and readers are free-threaded there.

use crate::camera::{
    CaptureDevice, CaptureFormat, FOURCC_I420, FOURCC_MJPEG, FOURCC_NV12, FOURCC_YUYV,
    OfferedFormat, closest_format, find_camera,
};
use std::io;
use std::sync::OnceLock;
use windows::Win32::Media::MediaFoundation::{
    IMFActivate, IMFAttributes, IMFMediaSource, IMFMediaType, IMFSample, IMFSourceReader,
    MF_DEVSOURCE_ATTRIBUTE_FRIENDLY_NAME, MF_DEVSOURCE_ATTRIBUTE_SOURCE_TYPE,
    MF_DEVSOURCE_ATTRIBUTE_SOURCE_TYPE_VIDCAP_GUID, MF_E_HW_MFT_FAILED_START_STREAMING,
    MF_E_NO_MORE_TYPES, MF_E_SHUTDOWN, MF_E_VIDEO_RECORDING_DEVICE_INVALIDATED,
    MF_E_VIDEO_RECORDING_DEVICE_PREEMPTED, MF_MT_DEFAULT_STRIDE, MF_MT_FRAME_RATE,
    MF_MT_FRAME_SIZE, MF_MT_SUBTYPE, MF_SOURCE_READER_FIRST_VIDEO_STREAM,
    MF_SOURCE_READERF_ENDOFSTREAM, MF_SOURCE_READERF_ERROR, MF_VERSION, MFCreateAttributes,
    MFCreateSourceReaderFromMediaSource, MFEnumDeviceSources, MFSTARTUP_LITE, MFStartup,
};
use windows::Win32::System::Com::{COINIT_MULTITHREADED, CoInitializeEx, CoTaskMemFree};
use windows::core::PWSTR;

/// Samples without a picture (stream ticks) in a row before the camera counts as stalled.
const EMPTY_READS_LIMIT: u32 = 120;

/// `MFVideoFormat_*` GUIDs carry a FourCC in their first field; ours name YUYV and I420 the
/// V4L2 way.
fn fourcc_of(subtype: &windows::core::GUID) -> u32 {
    match &subtype.data1.to_le_bytes() {
        b"YUY2" => FOURCC_YUYV,
        b"I420" | b"IYUV" => FOURCC_I420,
        b"NV12" => FOURCC_NV12,
        b"MJPG" => FOURCC_MJPEG,
        _ => subtype.data1,
    }
}

/// Errors that mean the camera is gone (unplugged, taken by another program or shut down)
/// become `NotFound`, which the camera source treats as an unplug and reopens from.
fn to_io(error: windows::core::Error) -> io::Error {
    let code = error.code();
    let gone = [
        MF_E_VIDEO_RECORDING_DEVICE_INVALIDATED,
        MF_E_VIDEO_RECORDING_DEVICE_PREEMPTED,
        MF_E_HW_MFT_FAILED_START_STREAMING,
        MF_E_SHUTDOWN,
    ];
    let kind = if gone.contains(&code) {
        io::ErrorKind::NotFound
    } else {
        io::ErrorKind::Other
    };
    io::Error::new(kind, format!("Media Foundation: {error}"))
}

/// Enter COM on this thread and start Media Foundation once for the process.
fn start() -> io::Result<()> {
    // SAFETY: plain initialisation calls; a thread already in COM answers S_FALSE or
    // RPC_E_CHANGED_MODE, and either way Media Foundation works on it.
    unsafe {
        let _ = CoInitializeEx(None, COINIT_MULTITHREADED);
    }
    static STARTED: OnceLock<Result<(), String>> = OnceLock::new();
    STARTED
        // SAFETY: MFStartup has no preconditions; it is called once per process.
        .get_or_init(|| unsafe { MFStartup(MF_VERSION, MFSTARTUP_LITE) }.map_err(|e| e.to_string()))
        .clone()
        .map_err(|e| io::Error::other(format!("Media Foundation did not start: {e}")))
}

/// The array `MFEnumDeviceSources` hands out; releases its entries and frees it on drop.
struct Activates {
    ptr: *mut Option<IMFActivate>,
    count: u32,
}

impl Activates {
    fn video_capture() -> io::Result<Activates> {
        start()?;
        let mut attributes: Option<IMFAttributes> = None;
        // SAFETY: out-parameters point to live locals; the GUIDs are constants.
        unsafe {
            MFCreateAttributes(&mut attributes, 1).map_err(to_io)?;
            let attributes = attributes
                .as_ref()
                .ok_or_else(|| io::Error::other("Media Foundation returned no attribute store"))?;
            attributes
                .SetGUID(
                    &MF_DEVSOURCE_ATTRIBUTE_SOURCE_TYPE,
                    &MF_DEVSOURCE_ATTRIBUTE_SOURCE_TYPE_VIDCAP_GUID,
                )
                .map_err(to_io)?;
            let mut list = Activates {
                ptr: std::ptr::null_mut(),
                count: 0,
            };
            MFEnumDeviceSources(attributes, &mut list.ptr, &mut list.count).map_err(to_io)?;
            Ok(list)
        }
    }

    fn as_slice(&self) -> &[Option<IMFActivate>] {
        if self.ptr.is_null() {
            return &[];
        }
        // SAFETY: Media Foundation wrote `count` initialised entries at `ptr`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.count as usize) }
    }
}

impl Drop for Activates {
    fn drop(&mut self) {
        if self.ptr.is_null() {
            return;
        }
        // SAFETY: each entry is released once, then the array is freed the way it was made.
        unsafe {
            for i in 0..self.count as usize {
                std::ptr::drop_in_place(self.ptr.add(i));
            }
            CoTaskMemFree(Some(self.ptr as *const _));
        }
    }
}

fn friendly_name(activate: &IMFActivate) -> io::Result<String> {
    let mut text = PWSTR::null();
    let mut len = 0u32;
    // SAFETY: Media Foundation allocates the string; it is copied, then freed once.
    unsafe {
        activate
            .GetAllocatedString(&MF_DEVSOURCE_ATTRIBUTE_FRIENDLY_NAME, &mut text, &mut len)
            .map_err(to_io)?;
        let name = text.to_string().unwrap_or_default();
        CoTaskMemFree(Some(text.0 as *const _));
        Ok(name)
    }
}

/// The cameras Windows lists, in order; `camera:<n>` names the n-th.
pub fn list_cameras() -> io::Result<Vec<String>> {
    let list = Activates::video_capture()?;
    list.as_slice()
        .iter()
        .flatten()
        .map(friendly_name)
        .collect()
}

/// One format a camera offers natively, with the media type that selects it.
struct NativeType {
    media_type: IMFMediaType,
    offered: OfferedFormat,
}

/// Two u32 packed in one u64 attribute (frame size: width and height; rate: num and den).
fn unpack(value: u64) -> (u32, u32) {
    ((value >> 32) as u32, value as u32)
}

/// A Media Foundation camera.
pub struct MfCapture {
    source: IMFMediaSource,
    reader: IMFSourceReader,
    native: Vec<NativeType>,
}

// SAFETY: Media Foundation's capture sources and source readers are free-threaded; every
// thread that uses them enters the multithreaded apartment first (`start`).
unsafe impl Send for MfCapture {}

impl MfCapture {
    /// Open the camera that `spec` names (see [`find_camera`]).
    pub fn open(spec: &str) -> io::Result<MfCapture> {
        let list = Activates::video_capture()?;
        let activates: Vec<&IMFActivate> = list.as_slice().iter().flatten().collect();
        let names = activates
            .iter()
            .map(|a| friendly_name(a))
            .collect::<io::Result<Vec<_>>>()?;
        let index = find_camera(&names, spec)?;
        // SAFETY: COM calls on live interfaces; out-values are owned wrappers.
        unsafe {
            let source: IMFMediaSource = activates[index].ActivateObject().map_err(to_io)?;
            let reader = MFCreateSourceReaderFromMediaSource(&source, None::<&IMFAttributes>)
                .map_err(to_io)?;
            let stream = MF_SOURCE_READER_FIRST_VIDEO_STREAM.0 as u32;
            let mut native = Vec::new();
            for i in 0.. {
                let media_type = match reader.GetNativeMediaType(stream, i) {
                    Ok(media_type) => media_type,
                    Err(e) if e.code() == MF_E_NO_MORE_TYPES => break,
                    Err(e) => return Err(to_io(e)),
                };
                let (Ok(subtype), Ok(size)) = (
                    media_type.GetGUID(&MF_MT_SUBTYPE),
                    media_type.GetUINT64(&MF_MT_FRAME_SIZE),
                ) else {
                    continue;
                };
                let (width, height) = unpack(size);
                let fps = media_type
                    .GetUINT64(&MF_MT_FRAME_RATE)
                    .map(unpack)
                    .ok()
                    .filter(|(_, den)| *den > 0)
                    .map_or(0.0, |(num, den)| f64::from(num) / f64::from(den));
                native.push(NativeType {
                    media_type,
                    offered: OfferedFormat {
                        fourcc: fourcc_of(&subtype),
                        width,
                        height,
                        fps,
                    },
                });
            }
            Ok(MfCapture {
                source,
                reader,
                native,
            })
        }
    }
}

/// Bytes per row when the media type does not say: YUY2 packs two bytes a pixel, the planar
/// formats one in their first plane; MJPEG has no rows.
fn packed_stride(fourcc: u32, width: u32) -> u32 {
    if fourcc == FOURCC_YUYV {
        width * 2
    } else {
        width
    }
}

impl CaptureDevice for MfCapture {
    fn formats(&mut self) -> io::Result<Vec<u32>> {
        let mut found: Vec<u32> = Vec::new();
        for native in &self.native {
            if !found.contains(&native.offered.fourcc) {
                found.push(native.offered.fourcc);
            }
        }
        Ok(found)
    }

    fn set_format(&mut self, width: u32, height: u32, fourcc: u32) -> io::Result<CaptureFormat> {
        start()?;
        let offered: Vec<OfferedFormat> = self.native.iter().map(|n| n.offered).collect();
        let Some(index) = closest_format(&offered, fourcc, width, height) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the camera does not offer that format",
            ));
        };
        let media_type = &self.native[index].media_type;
        let chosen = offered[index];
        // SAFETY: COM calls on live interfaces.
        let stride = unsafe {
            self.reader
                .SetCurrentMediaType(
                    MF_SOURCE_READER_FIRST_VIDEO_STREAM.0 as u32,
                    None,
                    media_type,
                )
                .map_err(to_io)?;
            // Stored as a u32 but signed: negative means bottom-up rows, which only RGB
            // formats use and which we never pick.
            media_type
                .GetUINT32(&MF_MT_DEFAULT_STRIDE)
                .map(|s| (s as i32).unsigned_abs())
                .unwrap_or_else(|_| packed_stride(chosen.fourcc, chosen.width))
        };
        Ok(CaptureFormat {
            width: chosen.width,
            height: chosen.height,
            fourcc: chosen.fourcc,
            stride: stride.max(packed_stride(chosen.fourcc, chosen.width)),
        })
    }

    fn start(&mut self) -> io::Result<()> {
        // The reader starts the camera with its first read.
        Ok(())
    }

    fn next_frame(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        start()?;
        for _ in 0..EMPTY_READS_LIMIT {
            let mut flags = 0u32;
            let mut sample: Option<IMFSample> = None;
            // SAFETY: synchronous read into live locals.
            unsafe {
                self.reader
                    .ReadSample(
                        MF_SOURCE_READER_FIRST_VIDEO_STREAM.0 as u32,
                        0,
                        None,
                        Some(&mut flags),
                        None,
                        Some(&mut sample),
                    )
                    .map_err(to_io)?;
            }
            let ended = (MF_SOURCE_READERF_ERROR.0 | MF_SOURCE_READERF_ENDOFSTREAM.0) as u32;
            if flags & ended != 0 {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    "the camera stopped sending",
                ));
            }
            let Some(sample) = sample else {
                continue; // a gap in the stream, not a picture
            };
            // SAFETY: the buffer is locked while its bytes are copied, then unlocked.
            unsafe {
                let buffer = sample.ConvertToContiguousBuffer().map_err(to_io)?;
                let mut data = std::ptr::null_mut();
                let mut len = 0u32;
                buffer
                    .Lock(&mut data, None, Some(&mut len))
                    .map_err(to_io)?;
                out.clear();
                if !data.is_null() {
                    out.extend_from_slice(std::slice::from_raw_parts(data, len as usize));
                }
                buffer.Unlock().map_err(to_io)?;
            }
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the camera sent no picture",
        ))
    }
}

impl Drop for MfCapture {
    fn drop(&mut self) {
        // Without Shutdown the camera stays claimed (its light on) until the process exits.
        // SAFETY: shutting down a live source once.
        let _ = unsafe { self.source.Shutdown() };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtypes_map_to_the_fourccs_the_converter_reads() {
        let guid = |fourcc: &[u8; 4]| {
            windows::core::GUID::from_values(
                u32::from_le_bytes(*fourcc),
                0,
                0x10,
                [0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71],
            )
        };
        assert_eq!(
            guid(b"NV12"),
            windows::Win32::Media::MediaFoundation::MFVideoFormat_NV12
        );
        assert_eq!(fourcc_of(&guid(b"YUY2")), FOURCC_YUYV);
        assert_eq!(fourcc_of(&guid(b"NV12")), FOURCC_NV12);
        assert_eq!(fourcc_of(&guid(b"MJPG")), FOURCC_MJPEG);
        assert_eq!(fourcc_of(&guid(b"IYUV")), FOURCC_I420);
    }
}
