//! macOS cameras through AVFoundation: the built-in and external cameras a discovery session
//! lists, read by a capture session whose video data output hands pictures to a delegate on a
//! serial dispatch queue; the delegate keeps the newest one for [`CaptureDevice::next_frame`].
//!
//! The output is always asked for NV12 (`420v`) at the size of the native format chosen: it
//! converts whatever the camera sends (UYVY, which our converter does not read, YUY2, Motion
//! JPEG) on the way out, so there is one path and no JPEG decode of ours per frame; a camera
//! that sends 4:2:0 already is chosen first so nothing is converted at all
//! ([`crate::avf_formats`] makes that choice).

use crate::avf_formats::{
    self, NV12_FULL_RANGE, NV12_VIDEO_RANGE, NativeFormat, choose_native, offered_fourccs,
};
use crate::camera::{CaptureDevice, CaptureFormat, FOURCC_NV12, Plane, find_camera, pack_nv12};
use block2::RcBlock;
use dispatch2::{DispatchQueue, DispatchQueueAttr, DispatchRetained};
use objc2::rc::{Retained, autoreleasepool};
use objc2::runtime::{AnyObject, Bool, NSObject, NSObjectProtocol, ProtocolObject};
use objc2::{AllocAnyThread, DefinedClass, define_class, msg_send};
use objc2_av_foundation::{
    AVAuthorizationStatus, AVCaptureConnection, AVCaptureDevice, AVCaptureDeviceDiscoverySession,
    AVCaptureDeviceFormat, AVCaptureDeviceInput, AVCaptureDevicePosition,
    AVCaptureDeviceTypeBuiltInWideAngleCamera, AVCaptureOutput, AVCaptureSession,
    AVCaptureVideoDataOutput, AVCaptureVideoDataOutputSampleBufferDelegate, AVFrameRateRange,
    AVMediaType, AVMediaTypeVideo,
};
use objc2_core_foundation::CFString;
use objc2_core_media::{CMSampleBuffer, CMVideoFormatDescriptionGetDimensions};
use objc2_core_video::{
    CVPixelBuffer, CVPixelBufferGetBaseAddressOfPlane, CVPixelBufferGetBytesPerRowOfPlane,
    CVPixelBufferGetHeight, CVPixelBufferGetHeightOfPlane, CVPixelBufferGetPixelFormatType,
    CVPixelBufferGetPlaneCount, CVPixelBufferGetWidth, CVPixelBufferLockBaseAddress,
    CVPixelBufferLockFlags, CVPixelBufferUnlockBaseAddress, kCVPixelBufferHeightKey,
    kCVPixelBufferPixelFormatTypeKey, kCVPixelBufferWidthKey,
    kCVPixelFormatType_420YpCbCr8BiPlanarFullRange,
    kCVPixelFormatType_420YpCbCr8BiPlanarVideoRange, kCVPixelFormatType_422YpCbCr8,
    kCVPixelFormatType_422YpCbCr8_yuvs, kCVReturnSuccess,
};
use objc2_foundation::{NSArray, NSDictionary, NSError, NSNumber, NSString};
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, mpsc};
use std::time::{Duration, Instant};

/// How long the first picture may take: some cameras adjust exposure before sending any.
const FIRST_FRAME_WAIT: Duration = Duration::from_secs(5);
/// How long a streaming camera may go without a picture before it counts as stalled.
const FRAME_WAIT: Duration = Duration::from_secs(2);
/// How often a wait for a picture looks whether the camera went away meanwhile.
const STATE_CHECK_EVERY: Duration = Duration::from_millis(100);
/// How long to wait for the person to answer the system's camera permission prompt.
const PERMISSION_WAIT: Duration = Duration::from_secs(30);

// The neutral module's codes are the SDK's (checked when building for macOS).
const _: () = assert!(NV12_VIDEO_RANGE == kCVPixelFormatType_420YpCbCr8BiPlanarVideoRange);
const _: () = assert!(NV12_FULL_RANGE == kCVPixelFormatType_420YpCbCr8BiPlanarFullRange);
const _: () = assert!(avf_formats::YUVS == kCVPixelFormatType_422YpCbCr8_yuvs);
const _: () = assert!(avf_formats::UYVY == kCVPixelFormatType_422YpCbCr8);

/// The newest picture the delegate copied, as contiguous NV12.
#[derive(Default)]
struct Slot {
    frame: Vec<u8>,
    width: usize,
    height: usize,
    /// Counts pictures, so a reader knows a new one came.
    sequence: u64,
    /// Why the newest picture could not be copied, when it could not.
    broken: Option<String>,
}

/// What the delegate (on its dispatch queue) and the reader share; newest picture wins.
#[derive(Default)]
struct Shared {
    slot: Mutex<Slot>,
    arrived: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Slot> {
        // A panic while holding the lock cannot leave a half-written picture that matters:
        // the next one overwrites it.
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Copy the picture in `pixels` into `out` as contiguous NV12; its width and height.
fn copy_picture(pixels: &CVPixelBuffer, out: &mut Vec<u8>) -> Result<(usize, usize), String> {
    let format = CVPixelBufferGetPixelFormatType(pixels);
    if format != NV12_VIDEO_RANGE && format != NV12_FULL_RANGE {
        return Err(format!(
            "the camera sent {} pictures where 420v was asked for",
            avf_formats::subtype_name(format)
        ));
    }
    if CVPixelBufferGetPlaneCount(pixels) < 2 {
        return Err("the camera sent a picture without its colour plane".into());
    }
    let lock = CVPixelBufferLockFlags::ReadOnly;
    // SAFETY: a live pixel buffer, locked for reading and unlocked below.
    if unsafe { CVPixelBufferLockBaseAddress(pixels, lock) } != kCVReturnSuccess {
        return Err("the camera's picture could not be read".into());
    }
    let plane = |index: usize| {
        let base = CVPixelBufferGetBaseAddressOfPlane(pixels, index) as *const u8;
        let stride = CVPixelBufferGetBytesPerRowOfPlane(pixels, index);
        let rows = CVPixelBufferGetHeightOfPlane(pixels, index);
        // SAFETY: while the buffer is locked, plane `index` holds `rows` rows of `stride`
        // bytes at `base`; the slice does not outlive the lock.
        (!base.is_null()).then(|| Plane {
            data: unsafe { std::slice::from_raw_parts(base, stride * rows) },
            stride,
            rows,
        })
    };
    let (width, height) = (
        CVPixelBufferGetWidth(pixels),
        CVPixelBufferGetHeight(pixels),
    );
    let copied = match (plane(0), plane(1)) {
        (Some(luma), Some(chroma)) => {
            pack_nv12(luma, chroma, width, height, out).map_err(|e| e.to_string())
        }
        _ => Err("the camera's picture has no pixels".into()),
    };
    // SAFETY: unlocks the lock taken above, with the same flags.
    unsafe { CVPixelBufferUnlockBaseAddress(pixels, lock) };
    copied.map(|()| (width, height))
}

/// Called on the capture queue for every picture: copy it into the slot and wake the reader.
fn take_picture(shared: &Shared, sample: &CMSampleBuffer) {
    // SAFETY: a live sample buffer handed to the delegate; the image buffer is retained.
    let Some(image) = (unsafe { sample.image_buffer() }) else {
        return; // a sample without a picture (a marker)
    };
    let mut slot = shared.lock();
    let slot = &mut *slot;
    match copy_picture(&image, &mut slot.frame) {
        Ok((width, height)) => {
            slot.width = width;
            slot.height = height;
            slot.broken = None;
        }
        Err(why) => slot.broken = Some(why),
    }
    slot.sequence = slot.sequence.wrapping_add(1);
    shared.arrived.notify_all();
}

define_class!(
    // SAFETY: NSObject has no subclassing requirements, and this class has no Drop.
    #[unsafe(super(NSObject))]
    #[name = "StudioMediaCameraFrameDelegate"]
    #[ivars = Arc<Shared>]
    struct FrameDelegate;

    // SAFETY: NSObjectProtocol has no safety requirements.
    unsafe impl NSObjectProtocol for FrameDelegate {}

    // SAFETY: the method below has the protocol's signature.
    unsafe impl AVCaptureVideoDataOutputSampleBufferDelegate for FrameDelegate {
        #[unsafe(method(captureOutput:didOutputSampleBuffer:fromConnection:))]
        fn did_output(
            &self,
            _output: &AVCaptureOutput,
            sample: &CMSampleBuffer,
            _connection: &AVCaptureConnection,
        ) {
            take_picture(self.ivars(), sample);
        }
    }
);

impl FrameDelegate {
    fn new(shared: Arc<Shared>) -> Retained<FrameDelegate> {
        let this = Self::alloc().set_ivars(shared);
        // SAFETY: NSObject's `init` on a freshly allocated object.
        unsafe { msg_send![super(this), init] }
    }
}

fn video_media() -> io::Result<&'static AVMediaType> {
    // SAFETY: reading a constant AVFoundation exports.
    unsafe { AVMediaTypeVideo }.ok_or_else(|| io::Error::other("AVFoundation names no video media"))
}

fn ns_error(what: &str, error: &NSError) -> io::Error {
    io::Error::other(format!("{what}: {}", error.localizedDescription()))
}

/// The cameras in the system's order: built-in ones, then external ones (USB, virtual).
fn video_devices() -> io::Result<Vec<Retained<AVCaptureDevice>>> {
    let media = video_media()?;
    // `ExternalUnknown` is the name `External` had before macOS 14 and still means it; the new
    // name would not load on older systems.
    #[allow(deprecated)]
    // SAFETY: constants AVFoundation exports; a discovery session is made and read here.
    let devices = unsafe {
        let types = NSArray::from_slice(&[
            AVCaptureDeviceTypeBuiltInWideAngleCamera,
            objc2_av_foundation::AVCaptureDeviceTypeExternalUnknown,
        ]);
        AVCaptureDeviceDiscoverySession::discoverySessionWithDeviceTypes_mediaType_position(
            &types,
            Some(media),
            AVCaptureDevicePosition::Unspecified,
        )
        .devices()
    };
    Ok(devices.to_vec())
}

fn device_name(device: &AVCaptureDevice) -> String {
    // SAFETY: a property read on a live device.
    unsafe { device.localizedName() }.to_string()
}

/// The cameras macOS lists, in order; `camera:<n>` names the n-th.
pub fn list_cameras() -> io::Result<Vec<String>> {
    // The pool frees what AVFoundation hands out here, on threads that have none of their own.
    autoreleasepool(|_| Ok(video_devices()?.iter().map(|d| device_name(d)).collect()))
}

fn permission_denied() -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        "macOS does not let the studio use the camera: allow it in System Settings → Privacy & \
         Security → Camera (for the app you start the studio from, such as Terminal), then \
         start the studio again",
    )
}

/// Make sure the person allowed camera use, asking them (the system's prompt) if they never
/// answered.
fn ensure_permission(media: &AVMediaType) -> io::Result<()> {
    // SAFETY: a class method taking the video media type, which it accepts.
    let status = unsafe { AVCaptureDevice::authorizationStatusForMediaType(media) };
    match status {
        AVAuthorizationStatus::Authorized => Ok(()),
        AVAuthorizationStatus::NotDetermined => {
            let (answer, answered) = mpsc::channel();
            let handler = RcBlock::new(move |granted: Bool| {
                let _ = answer.send(granted.as_bool());
            });
            // SAFETY: the block is retained by AVFoundation until it has run, on any queue;
            // it only sends on a channel.
            unsafe {
                AVCaptureDevice::requestAccessForMediaType_completionHandler(media, &handler)
            };
            match answered.recv_timeout(PERMISSION_WAIT) {
                Ok(true) => Ok(()),
                Ok(false) => Err(permission_denied()),
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "macOS asked whether the studio may use the camera and got no answer; \
                     answer the prompt, or allow it in System Settings → Privacy & Security → \
                     Camera, then start the studio again",
                )),
            }
        }
        _ => Err(permission_denied()),
    }
}

/// A native format with what is needed to select it.
struct Native {
    format: Retained<AVCaptureDeviceFormat>,
    rates: Vec<Retained<AVFrameRateRange>>,
}

/// The native formats of `device` as objects and as data for [`choose_native`].
fn native_formats(device: &AVCaptureDevice) -> (Vec<Native>, Vec<NativeFormat>) {
    let mut objects = Vec::new();
    let mut data = Vec::new();
    // SAFETY: property reads on a live device and its formats.
    unsafe {
        for format in device.formats().to_vec() {
            let description = format.formatDescription();
            let size = CMVideoFormatDescriptionGetDimensions(&description);
            let rates = format.videoSupportedFrameRateRanges().to_vec();
            data.push(NativeFormat {
                subtype: description.media_sub_type(),
                width: u32::try_from(size.width).unwrap_or(0),
                height: u32::try_from(size.height).unwrap_or(0),
                max_rates: rates.iter().map(|r| r.maxFrameRate()).collect(),
            });
            objects.push(Native { format, rates });
        }
    }
    (objects, data)
}

/// An AVFoundation camera.
pub struct AvCapture {
    device: Retained<AVCaptureDevice>,
    session: Retained<AVCaptureSession>,
    output: Retained<AVCaptureVideoDataOutput>,
    /// Kept here: the output may hold its delegate weakly.
    _delegate: Retained<FrameDelegate>,
    _queue: DispatchRetained<DispatchQueue>,
    shared: Arc<Shared>,
    natives: Vec<Native>,
    native_data: Vec<NativeFormat>,
    format: Option<CaptureFormat>,
    /// The device is locked for configuration: from `set_format` until the session runs, so
    /// the session keeps the format we set rather than one from its preset.
    locked: bool,
    running: bool,
    /// The last picture handed out.
    seen: u64,
}

// SAFETY: AVFoundation's capture devices, sessions and outputs are not tied to a thread (Apple
// has `startRunning` called off the main thread); this value touches them only through
// `&mut self` or in Drop, and the delegate shares nothing but `Shared`, which is Sync.
unsafe impl Send for AvCapture {}

impl AvCapture {
    /// Open the camera that `spec` names (see [`find_camera`]), asking for camera permission
    /// when the person has not answered yet.
    pub fn open(spec: &str) -> io::Result<AvCapture> {
        // Reopened every second while a camera is unplugged: free what each try leaves.
        autoreleasepool(|_| Self::open_in_pool(spec))
    }

    fn open_in_pool(spec: &str) -> io::Result<AvCapture> {
        let devices = video_devices()?;
        let names: Vec<String> = devices.iter().map(|d| device_name(d)).collect();
        let index = find_camera(&names, spec)?;
        ensure_permission(video_media()?)?;
        let device = devices[index].clone();
        let (natives, native_data) = native_formats(&device);
        let shared = Arc::new(Shared::default());
        let delegate = FrameDelegate::new(shared.clone());
        let queue = DispatchQueue::new("studio.camera", DispatchQueueAttr::SERIAL);
        // SAFETY: AVFoundation calls on live objects; inputs and outputs are added only where
        // the session says it can take them.
        let (session, output) = unsafe {
            let input = AVCaptureDeviceInput::deviceInputWithDevice_error(&device)
                .map_err(|e| ns_error(&format!("cannot open {}", names[index]), &e))?;
            let session = AVCaptureSession::new();
            if !session.canAddInput(&input) {
                return Err(io::Error::other(format!(
                    "{} cannot be captured (another program may hold it)",
                    names[index]
                )));
            }
            session.addInput(&input);
            let output = AVCaptureVideoDataOutput::new();
            output.setAlwaysDiscardsLateVideoFrames(true);
            if !session.canAddOutput(&output) {
                return Err(io::Error::other(format!(
                    "{} cannot deliver pictures to the studio",
                    names[index]
                )));
            }
            session.addOutput(&output);
            output.setSampleBufferDelegate_queue(
                Some(ProtocolObject::from_ref(&*delegate)),
                Some(&queue),
            );
            (session, output)
        };
        Ok(AvCapture {
            device,
            session,
            output,
            _delegate: delegate,
            _queue: queue,
            shared,
            natives,
            native_data,
            format: None,
            locked: false,
            running: false,
            seen: 0,
        })
    }

    fn unlock(&mut self) {
        if self.locked {
            // SAFETY: matches the successful lockForConfiguration in `set_format`.
            unsafe { self.device.unlockForConfiguration() };
            self.locked = false;
        }
    }

    /// `NotFound` (which the camera source treats as an unplug) when the camera went away or
    /// the session stopped (a runtime error, or another program took the camera).
    fn check_alive(&self) -> io::Result<()> {
        // SAFETY: property reads on live objects.
        let (connected, running) = unsafe { (self.device.isConnected(), self.session.isRunning()) };
        if !connected {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "the camera was disconnected",
            ));
        }
        if self.running && !running {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "the camera stopped (another program may have taken it)",
            ));
        }
        Ok(())
    }

    /// Whether the output can hand out NV12 pictures (every Mac camera output can; a camera
    /// whose output cannot offers nothing rather than pictures we cannot read).
    fn output_gives_nv12(&self) -> bool {
        // SAFETY: a property read on a live output.
        let types = unsafe { self.output.availableVideoCVPixelFormatTypes() };
        types
            .to_vec()
            .iter()
            .any(|t| t.as_u32() == NV12_VIDEO_RANGE)
    }
}

/// A CoreVideo dictionary key as the Foundation string it is (the two are toll-free bridged).
fn bridged(key: &'static CFString) -> &'static NSString {
    // SAFETY: CFString and NSString are the same object under two names.
    unsafe { &*(key as *const CFString).cast::<NSString>() }
}

impl CaptureDevice for AvCapture {
    fn formats(&mut self) -> io::Result<Vec<u32>> {
        if !self.output_gives_nv12() {
            return Ok(Vec::new());
        }
        Ok(offered_fourccs(&self.native_data))
    }

    fn set_format(&mut self, width: u32, height: u32, fourcc: u32) -> io::Result<CaptureFormat> {
        let choice = (fourcc == FOURCC_NV12)
            .then(|| choose_native(&self.native_data, width, height))
            .flatten()
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the camera does not offer that format",
                )
            })?;
        self.unlock();
        let native = &self.natives[choice.format];
        let (width, height) = (choice.offered.width, choice.offered.height);
        // SAFETY: the format is one of the device's own, and the rate range one of that
        // format's, so neither setter throws; both run under the configuration lock.
        unsafe {
            self.device
                .lockForConfiguration()
                .map_err(|e| ns_error("cannot configure the camera", &e))?;
            self.locked = true;
            self.device.setActiveFormat(&native.format);
            if let Some(range) = choice.rate_range.and_then(|r| native.rates.get(r)) {
                self.device
                    .setActiveVideoMinFrameDuration(range.minFrameDuration());
            }
            let keys = [
                bridged(kCVPixelBufferPixelFormatTypeKey),
                bridged(kCVPixelBufferWidthKey),
                bridged(kCVPixelBufferHeightKey),
            ];
            let values = [
                NSNumber::new_u32(NV12_VIDEO_RANGE),
                NSNumber::new_u32(width),
                NSNumber::new_u32(height),
            ];
            let values: Vec<&AnyObject> = values.iter().map(|v| -> &AnyObject { v }).collect();
            let settings = NSDictionary::from_slices(&keys, &values);
            // The size is the active format's own, so the output scales nothing.
            self.output.setVideoSettings(Some(&settings));
        }
        let format = CaptureFormat {
            width,
            height,
            fourcc: FOURCC_NV12,
            stride: width,
        };
        self.format = Some(format);
        Ok(format)
    }

    fn start(&mut self) -> io::Result<()> {
        // SAFETY: starting a configured session; blocks until it runs or fails.
        let running = unsafe {
            self.session.startRunning();
            self.session.isRunning()
        };
        self.unlock();
        if !running {
            return Err(io::Error::other(
                "the camera did not start (another program may hold it)",
            ));
        }
        self.running = true;
        Ok(())
    }

    fn next_frame(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        let wait = if self.seen == 0 {
            FIRST_FRAME_WAIT
        } else {
            FRAME_WAIT
        };
        let deadline = Instant::now() + wait;
        let mut slot = self.shared.lock();
        while slot.sequence == self.seen {
            self.check_alive()?;
            let now = Instant::now();
            if now >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the camera sent no picture for {} s", wait.as_secs()),
                ));
            }
            slot = self
                .shared
                .arrived
                .wait_timeout(slot, STATE_CHECK_EVERY.min(deadline - now))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        self.seen = slot.sequence;
        if let Some(why) = slot.broken.take() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, why));
        }
        if let Some(format) = self.format
            && (slot.width, slot.height) != (format.width as usize, format.height as usize)
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the camera sent {}x{} pictures where {}x{} were set",
                    slot.width, slot.height, format.width, format.height
                ),
            ));
        }
        // The slot takes the old buffer and fills it next time: no copy, no allocation.
        std::mem::swap(out, &mut slot.frame);
        Ok(())
    }
}

impl Drop for AvCapture {
    fn drop(&mut self) {
        // Without stopRunning the camera stays claimed (its light on) until the process exits.
        // SAFETY: stopping a session (harmless when it never ran) and detaching the delegate,
        // on live objects.
        unsafe {
            self.session.stopRunning();
            self.output.setSampleBufferDelegate_queue(None, None);
        }
        self.unlock();
    }
}
