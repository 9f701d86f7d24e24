//! Microphones and speakers through cpal (PipeWire, PulseAudio or ALSA on Linux; WASAPI;
//! CoreAudio): device lists, a microphone as an [`AudioSource`], and an output device as an
//! [`AudioWrite`] — the virtual microphone on Windows (VB-Cable's input) and macOS
//! (BlackHole). A cpal stream lives on a thread of its own, which also reopens a device that
//! was unplugged ([`keep_open`], the same for both directions); while it is gone, the
//! microphone reads as counted silence and an output drops what it is given, counted.

use crate::error::DeviceError;
use crate::info::DeviceInfo;
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;
use studio_media::error::MediaError;
use studio_media::resample::LinearResampler;
use studio_media::sink::AudioWrite;
use studio_media::source::AudioSource;

/// How long a read waits for the microphone before filling with silence.
const READ_PATIENCE: Duration = Duration::from_millis(300);
/// Pause between attempts to reopen a device that went away.
pub const REOPEN_EVERY: Duration = Duration::from_secs(1);
/// How often a device thread looks at its stop and lost flags.
const POLL_EVERY: Duration = Duration::from_millis(50);
/// An output queue longer than this drops its oldest samples: the device stalled or started
/// late, and whatever it holds beyond this would stay as delay (a call hears the voice late).
const MAX_QUEUE: Duration = Duration::from_millis(150);
/// An output starts (and restarts after running dry) once this much is queued, so the
/// jitter between our writes and the device's pulls does not become a stream of clicks.
const OUTPUT_PRIME: Duration = Duration::from_millis(60);

fn device_name(device: &cpal::Device) -> String {
    device
        .description()
        .map(|d| d.name().to_string())
        .unwrap_or_else(|_| "unnamed device".into())
}

/// ALSA plugins that show up as devices but are converters or sinks, not sound hardware:
/// listing them as microphones would only confuse.
const ALSA_PLUGINS: &[&str] = &[
    "null",
    "lavrate",
    "samplerate",
    "speexrate",
    "speex",
    "upmix",
    "vdownmix",
    "jack",
    "oss",
];

/// Whether a device is something a person would pick (not an ALSA converter plugin).
fn is_real_device(device: &cpal::Device) -> bool {
    let Ok(id) = device.id() else { return true };
    let id = id.to_string();
    match id.strip_prefix("alsa:") {
        Some(pcm) => !ALSA_PLUGINS.contains(&pcm),
        None => true,
    }
}

/// Microphones the system offers.
pub fn microphones() -> Result<Vec<DeviceInfo>, DeviceError> {
    let host = cpal::default_host();
    let devices = host.input_devices().map_err(host_error)?;
    Ok(devices
        .filter(is_real_device)
        .map(|d| {
            let name = device_name(&d);
            DeviceInfo {
                kind: "microphone",
                spec: format!("mic:{name}"),
                name,
            }
        })
        .collect())
}

/// Speakers and other outputs the system offers.
pub fn speakers() -> Result<Vec<DeviceInfo>, DeviceError> {
    let host = cpal::default_host();
    let devices = host.output_devices().map_err(host_error)?;
    Ok(devices
        .filter(is_real_device)
        .map(|d| {
            let name = device_name(&d);
            DeviceInfo {
                kind: "speaker",
                spec: format!("device:{name}"),
                name,
            }
        })
        .collect())
}

fn host_error(e: impl std::fmt::Display) -> DeviceError {
    DeviceError::Unavailable {
        problem: format!("the sound system did not answer: {e}"),
        fix: "Check that your sound server is running (on Linux: PipeWire or PulseAudio) and \
              that this user may use audio devices"
            .into(),
    }
}

/// The device named `name` (exact, then case-insensitive substring), or the default.
fn find_device(input: bool, name: Option<&str>) -> Result<cpal::Device, DeviceError> {
    let host = cpal::default_host();
    let what = if input { "microphone" } else { "output device" };
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        let default = if input {
            host.default_input_device()
        } else {
            host.default_output_device()
        };
        return default.ok_or_else(|| DeviceError::Unavailable {
            problem: format!("no {what} found"),
            fix: "Plug one in (or enable it in the sound settings), then run `studio devices`"
                .into(),
        });
    };
    let devices: Vec<cpal::Device> = if input {
        host.input_devices()
            .map_err(host_error)?
            .filter(is_real_device)
            .collect()
    } else {
        host.output_devices()
            .map_err(host_error)?
            .filter(is_real_device)
            .collect()
    };
    let wanted = name.to_lowercase();
    let exact = devices.iter().position(|d| device_name(d) == name);
    let partial = || {
        devices
            .iter()
            .position(|d| device_name(d).to_lowercase().contains(&wanted))
    };
    match exact.or_else(partial) {
        Some(i) => Ok(devices
            .into_iter()
            .nth(i)
            .expect("index from the same list")),
        None => Err(DeviceError::Unavailable {
            problem: format!("no {what} called {name:?}"),
            fix: "Run `studio devices` to see the names this computer offers".into(),
        }),
    }
}

/// Mix interleaved frames down to mono.
pub fn to_mono(interleaved: &[f32], channels: usize) -> Vec<f32> {
    if channels <= 1 {
        return interleaved.to_vec();
    }
    interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect()
}

/// Counters a microphone keeps for reports and the UI.
#[derive(Default)]
pub struct MicrophoneStats {
    /// Samples of silence read while the device gave nothing (unplugged, stalled).
    pub samples_concealed: AtomicU64,
    /// Times the device went away.
    pub disconnects: AtomicU64,
}

/// A microphone as a source of mono samples at the studio's rate.
pub struct MicrophoneSource {
    sample_rate: u32,
    blocks: mpsc::Receiver<Vec<f32>>,
    pending: VecDeque<f32>,
    stop: Arc<AtomicBool>,
    pub stats: Arc<MicrophoneStats>,
}

impl MicrophoneSource {
    /// Open `name` (or the default microphone), delivering at `sample_rate`. Fails at once if
    /// the device cannot be opened at all; later losses are handled by reopening.
    pub fn open(name: Option<&str>, sample_rate: u32) -> Result<MicrophoneSource, DeviceError> {
        let (tx, blocks) = mpsc::sync_channel::<Vec<f32>>(256);
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(MicrophoneStats::default());
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), DeviceError>>();
        let name = name.map(str::to_string);
        let thread_stop = stop.clone();
        let thread_stats = stats.clone();
        std::thread::Builder::new()
            .name("microphone".into())
            .spawn(move || {
                capture_thread(name, sample_rate, tx, thread_stop, thread_stats, ready_tx)
            })
            .map_err(|source| DeviceError::Io {
                device: "microphone thread".into(),
                source,
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(MicrophoneSource {
                sample_rate,
                blocks,
                pending: VecDeque::new(),
                stop,
                stats,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(DeviceError::Format("the microphone thread ended".into())),
        }
    }
}

impl Drop for MicrophoneSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl AudioSource for MicrophoneSource {
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn read(&mut self, n: usize) -> Result<Option<Vec<f32>>, MediaError> {
        let deadline = std::time::Instant::now() + READ_PATIENCE;
        while self.pending.len() < n {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.blocks.recv_timeout(left) {
                Ok(block) => self.pending.extend(block),
                Err(_) => break,
            }
        }
        if self.pending.len() < n {
            // Nothing from the device: keep the timeline with silence, and count it.
            let missing = n - self.pending.len();
            self.stats
                .samples_concealed
                .fetch_add(missing as u64, Ordering::Relaxed);
            self.pending.extend(std::iter::repeat_n(0.0, missing));
        }
        Ok(Some(self.pending.drain(..n).collect()))
    }
}

fn capture_thread(
    name: Option<String>,
    sample_rate: u32,
    tx: mpsc::SyncSender<Vec<f32>>,
    stop: Arc<AtomicBool>,
    stats: Arc<MicrophoneStats>,
    ready: mpsc::Sender<Result<(), DeviceError>>,
) {
    keep_open(
        |lost| open_input(name.as_deref(), sample_rate, tx.clone(), lost).map(|s| (s, ())),
        &stop,
        &stats.disconnects,
        ready,
        |()| {},
        std::thread::sleep,
    );
}

/// Whether a stream error means the stream is gone and must be opened again: the device
/// went away, the host did, or the backend says the stream must be rebuilt. Everything else
/// (under- and overruns, backend hiccups, a refused real-time priority, a default device that
/// was followed to a new one) leaves the stream running; cpal's ALSA backend, for one, keeps
/// streaming after those.
pub fn stream_is_lost(kind: cpal::ErrorKind) -> bool {
    matches!(
        kind,
        cpal::ErrorKind::DeviceNotAvailable
            | cpal::ErrorKind::StreamInvalidated
            | cpal::ErrorKind::HostUnavailable
    )
}

/// Keep one device stream open on the calling thread until `stop` is set: open it with a
/// fresh "lost" flag (the stream's error callback sets it), tell `ready` how the first open
/// went (a first failure ends the thread: the caller reports it), wait while the stream
/// works, and when it is lost count a disconnect and reopen it every [`REOPEN_EVERY`] until
/// the device is back; `on_reopen` learns what each later open returned. `pause` is how the
/// thread waits (tests pass a synthetic clock).
pub fn keep_open<S, R>(
    mut open: impl FnMut(Arc<AtomicBool>) -> Result<(S, R), DeviceError>,
    stop: &AtomicBool,
    disconnects: &AtomicU64,
    ready: mpsc::Sender<Result<R, DeviceError>>,
    mut on_reopen: impl FnMut(R),
    mut pause: impl FnMut(Duration),
) {
    let mut ready = Some(ready);
    while !stop.load(Ordering::Relaxed) {
        let lost = Arc::new(AtomicBool::new(false));
        match open(lost.clone()) {
            Ok((stream, opened)) => {
                match ready.take() {
                    Some(ready) => {
                        let _ = ready.send(Ok(opened));
                    }
                    None => on_reopen(opened),
                }
                while !stop.load(Ordering::Relaxed) && !lost.load(Ordering::Relaxed) {
                    pause(POLL_EVERY);
                }
                drop(stream);
                if lost.load(Ordering::Relaxed) {
                    disconnects.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Err(e));
                    return;
                }
            }
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
        pause(REOPEN_EVERY);
    }
}

fn open_input(
    name: Option<&str>,
    sample_rate: u32,
    tx: mpsc::SyncSender<Vec<f32>>,
    lost: Arc<AtomicBool>,
) -> Result<cpal::Stream, DeviceError> {
    let device = find_device(true, name)?;
    let label = device_name(&device);
    let config = device
        .default_input_config()
        .map_err(|e| DeviceError::Format(format!("{label}: {e}")))?;
    let channels = usize::from(config.channels());
    let resampler = LinearResampler::new(config.sample_rate(), sample_rate);
    let stream = match config.sample_format() {
        SampleFormat::F32 => build_input::<f32>(&device, &config, channels, resampler, tx, lost),
        SampleFormat::I16 => build_input::<i16>(&device, &config, channels, resampler, tx, lost),
        SampleFormat::I32 => build_input::<i32>(&device, &config, channels, resampler, tx, lost),
        SampleFormat::U16 => build_input::<u16>(&device, &config, channels, resampler, tx, lost),
        other => {
            return Err(DeviceError::Format(format!(
                "{label} delivers {other:?} samples, which the studio does not read yet"
            )));
        }
    }
    .map_err(|e| DeviceError::Unavailable {
        problem: format!("cannot open {label}: {e}"),
        fix: "Close other programs that use it exclusively, or pick another with --audio-in \
              mic:<name>"
            .into(),
    })?;
    stream
        .play()
        .map_err(|e| DeviceError::Format(format!("{label}: {e}")))?;
    Ok(stream)
}

fn build_input<T>(
    device: &cpal::Device,
    config: &cpal::SupportedStreamConfig,
    channels: usize,
    mut resampler: LinearResampler,
    tx: mpsc::SyncSender<Vec<f32>>,
    lost: Arc<AtomicBool>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + Send + 'static,
    f32: FromSample<T>,
{
    let mut interleaved = Vec::new();
    device.build_input_stream::<T, _, _>(
        config.config(),
        move |data: &[T], _| {
            interleaved.clear();
            interleaved.extend(
                data.iter()
                    .map(|s| <f32 as FromSample<T>>::from_sample_(*s)),
            );
            let mono = to_mono(&interleaved, channels);
            // A full queue means nobody reads: dropping here never blocks the audio thread.
            let _ = tx.try_send(resampler.process(&mono));
        },
        move |error: cpal::Error| {
            if stream_is_lost(error.kind()) {
                lost.store(true, Ordering::Relaxed);
            }
        },
        None,
    )
}

/// An output device as a sink: VB-Cable's input on Windows, BlackHole on macOS, or speakers.
/// An output that is unplugged is reopened every second (at whatever rate it then runs).
pub struct SpeakerOutput {
    queue: Arc<Mutex<VecDeque<f32>>>,
    sample_rate: u32,
    resampler: LinearResampler,
    device_rate: u32,
    /// The rate of the device as last (re)opened, set by the device thread.
    opened_rate: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    /// Samples dropped because the device stalled or was gone.
    pub samples_dropped: Arc<AtomicU64>,
    /// Times the device went away.
    pub disconnects: Arc<AtomicU64>,
}

impl SpeakerOutput {
    pub fn open(name: Option<&str>, sample_rate: u32) -> Result<SpeakerOutput, DeviceError> {
        let queue = Arc::new(Mutex::new(VecDeque::<f32>::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let samples_dropped = Arc::new(AtomicU64::new(0));
        let disconnects = Arc::new(AtomicU64::new(0));
        let opened_rate = Arc::new(AtomicU32::new(0));
        let (ready_tx, ready_rx) = mpsc::channel::<Result<u32, DeviceError>>();
        let (thread_queue, thread_stop) = (queue.clone(), stop.clone());
        let (thread_dropped, thread_disconnects) = (samples_dropped.clone(), disconnects.clone());
        let thread_rate = opened_rate.clone();
        let name = name.map(str::to_string);
        std::thread::Builder::new()
            .name("audio output".into())
            .spawn(move || {
                keep_open(
                    |lost| {
                        // What waited for a lost device is stale: start the new one fresh.
                        let stale = std::mem::take(
                            &mut *thread_queue.lock().unwrap_or_else(|p| p.into_inner()),
                        );
                        thread_dropped.fetch_add(stale.len() as u64, Ordering::Relaxed);
                        open_output(name.as_deref(), thread_queue.clone(), lost)
                    },
                    &thread_stop,
                    &thread_disconnects,
                    ready_tx,
                    |rate| thread_rate.store(rate, Ordering::Relaxed),
                    std::thread::sleep,
                );
            })
            .map_err(|source| DeviceError::Io {
                device: "audio output thread".into(),
                source,
            })?;
        let device_rate = ready_rx
            .recv()
            .map_err(|_| DeviceError::Format("the audio output thread ended".into()))??;
        opened_rate.store(device_rate, Ordering::Relaxed);
        Ok(SpeakerOutput {
            queue,
            sample_rate,
            resampler: LinearResampler::new(sample_rate, device_rate),
            device_rate,
            opened_rate,
            stop,
            samples_dropped,
            disconnects,
        })
    }
}

impl AudioWrite for SpeakerOutput {
    fn write(&mut self, samples: &[f32]) -> Result<(), MediaError> {
        let rate = self.opened_rate.load(Ordering::Relaxed);
        if rate != self.device_rate {
            // Reopened at another rate (another device took the name, or its settings changed).
            self.device_rate = rate;
            self.resampler = LinearResampler::new(self.sample_rate, rate);
        }
        let converted = self.resampler.process(samples);
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        queue.extend(converted);
        let limit = (f64::from(self.device_rate) * MAX_QUEUE.as_secs_f64()) as usize;
        if queue.len() > limit {
            let excess = queue.len() - limit;
            queue.drain(..excess);
            self.samples_dropped
                .fetch_add(excess as u64, Ordering::Relaxed);
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<(), MediaError> {
        // Let what is queued play out (bounded by the queue limit).
        for _ in 0..(MAX_QUEUE.as_millis() / 50 + 2) {
            if self.queue.lock().map(|q| q.is_empty()).unwrap_or(true) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.stop.store(true, Ordering::Relaxed);
        Ok(())
    }
}

impl Drop for SpeakerOutput {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn open_output(
    name: Option<&str>,
    queue: Arc<Mutex<VecDeque<f32>>>,
    lost: Arc<AtomicBool>,
) -> Result<(cpal::Stream, u32), DeviceError> {
    let device = find_device(false, name)?;
    let label = device_name(&device);
    let config = device
        .default_output_config()
        .map_err(|e| DeviceError::Format(format!("{label}: {e}")))?;
    let channels = usize::from(config.channels());
    let rate = config.sample_rate();
    let prime = (OUTPUT_PRIME.as_secs_f64() * f64::from(rate)) as usize;
    let stream = match config.sample_format() {
        SampleFormat::F32 => build_output::<f32>(&device, &config, channels, prime, queue, lost),
        SampleFormat::I16 => build_output::<i16>(&device, &config, channels, prime, queue, lost),
        SampleFormat::I32 => build_output::<i32>(&device, &config, channels, prime, queue, lost),
        SampleFormat::U16 => build_output::<u16>(&device, &config, channels, prime, queue, lost),
        other => {
            return Err(DeviceError::Format(format!(
                "{label} takes {other:?} samples, which the studio does not write yet"
            )));
        }
    }
    .map_err(|e| DeviceError::Unavailable {
        problem: format!("cannot open {label}: {e}"),
        fix: "Pick another output with --audio-out device:<name> (see `studio devices`)".into(),
    })?;
    stream
        .play()
        .map_err(|e| DeviceError::Format(format!("{label}: {e}")))?;
    Ok((stream, rate))
}

fn build_output<T>(
    device: &cpal::Device,
    config: &cpal::SupportedStreamConfig,
    channels: usize,
    prime: usize,
    queue: Arc<Mutex<VecDeque<f32>>>,
    lost: Arc<AtomicBool>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + FromSample<f32> + Send + 'static,
{
    let mut playing = false;
    device.build_output_stream::<T, _, _>(
        steady_buffer(config),
        move |out: &mut [T], _| {
            let mut queue = queue.lock().unwrap_or_else(|p| p.into_inner());
            playing = next_playing(playing, queue.len(), prime);
            for frame in out.chunks_mut(channels.max(1)) {
                // Silence while priming or dry: the studio fell behind, the device does not.
                let sample = if playing { queue.pop_front() } else { None };
                playing &= sample.is_some();
                frame.fill(T::from_sample(sample.unwrap_or(0.0)));
            }
        },
        move |error: cpal::Error| {
            if stream_is_lost(error.kind()) {
                lost.store(true, Ordering::Relaxed);
            }
        },
        None,
    )
}

/// The stream configuration with a 20 ms device buffer where the device allows it: system
/// defaults can be a few milliseconds, which underruns whenever the machine is busy.
fn steady_buffer(config: &cpal::SupportedStreamConfig) -> cpal::StreamConfig {
    let mut stream = config.config();
    if let cpal::SupportedBufferSize::Range { min, max } = *config.buffer_size() {
        let wanted = config.sample_rate() / 50;
        stream.buffer_size = cpal::BufferSize::Fixed(wanted.clamp(min, max));
    }
    stream
}

/// Whether an output plays from its queue: it starts once `prime` samples wait and stops
/// when the queue runs dry (the callback clears it then).
fn next_playing(playing: bool, queued: usize, prime: usize) -> bool {
    playing || queued >= prime
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_waits_for_its_prime_before_playing() {
        assert!(!next_playing(false, 100, 2_880));
        assert!(next_playing(false, 2_880, 2_880));
        assert!(next_playing(true, 10, 2_880), "keeps playing what is left");
    }

    /// A device on a synthetic clock: unplugged at 0.5 s, back at 2.7 s (at another rate),
    /// the studio stops at 4 s.
    #[test]
    fn a_lost_device_is_reopened_every_second_until_it_is_back() {
        use std::cell::{Cell, RefCell};
        let now = Cell::new(Duration::ZERO);
        let attempts = RefCell::new(Vec::new());
        let current_lost: RefCell<Option<Arc<AtomicBool>>> = RefCell::new(None);
        let stop = AtomicBool::new(false);
        let disconnects = AtomicU64::new(0);
        let reopened = RefCell::new(Vec::new());
        let (ready_tx, ready_rx) = mpsc::channel();
        let plugged =
            |t: Duration| t < Duration::from_millis(500) || t >= Duration::from_millis(2_700);
        keep_open(
            |lost| {
                let t = now.get();
                attempts.borrow_mut().push(t.as_millis());
                if !plugged(t) {
                    return Err(DeviceError::Unavailable {
                        problem: "gone".into(),
                        fix: String::new(),
                    });
                }
                *current_lost.borrow_mut() = Some(lost);
                let rate = if t.is_zero() { 48_000 } else { 44_100 };
                Ok(("stream", rate))
            },
            &stop,
            &disconnects,
            ready_tx,
            |rate| reopened.borrow_mut().push(rate),
            |pause| {
                now.set(now.get() + pause);
                if !plugged(now.get())
                    && let Some(lost) = current_lost.borrow().as_ref()
                {
                    // What a stream's error callback does when its device goes.
                    let gone = stream_is_lost(cpal::ErrorKind::DeviceNotAvailable);
                    lost.store(gone, Ordering::Relaxed);
                }
                if now.get() >= Duration::from_secs(4) {
                    stop.store(true, Ordering::Relaxed);
                }
            },
        );
        assert_eq!(
            ready_rx.try_recv().unwrap().unwrap(),
            48_000,
            "the first open is reported"
        );
        assert_eq!(*attempts.borrow(), [0, 1_500, 2_500, 3_500]);
        assert_eq!(
            *reopened.borrow(),
            [44_100],
            "the reopened device's rate is passed on"
        );
        assert_eq!(disconnects.load(Ordering::Relaxed), 1);
        assert!(
            now.get() >= Duration::from_secs(4) && now.get() < Duration::from_millis(4_100),
            "stops promptly"
        );
    }

    #[test]
    fn a_device_that_cannot_be_opened_at_first_is_reported_not_retried() {
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), DeviceError>>();
        let mut attempts = 0;
        keep_open(
            |_| -> Result<((), ()), DeviceError> {
                attempts += 1;
                Err(DeviceError::Unavailable {
                    problem: "no output device called \"Cable\"".into(),
                    fix: "Run `studio devices`".into(),
                })
            },
            &AtomicBool::new(false),
            &AtomicU64::new(0),
            ready_tx,
            |()| {},
            |_| panic!("no waiting after a first failure"),
        );
        assert_eq!(attempts, 1);
        let error = ready_rx.try_recv().unwrap().unwrap_err().to_string();
        assert!(
            error.contains("Cable") && error.contains("studio devices"),
            "{error}"
        );
    }

    #[test]
    fn glitches_do_not_count_as_a_lost_stream() {
        use cpal::ErrorKind::*;
        for kind in [
            Xrun,
            RealtimeDenied,
            DeviceChanged,
            DeviceBusy,
            BackendError,
            Other,
        ] {
            assert!(!stream_is_lost(kind), "{kind:?}");
        }
        for kind in [DeviceNotAvailable, StreamInvalidated, HostUnavailable] {
            assert!(stream_is_lost(kind), "{kind:?}");
        }
    }

    #[test]
    fn stereo_is_averaged_to_mono() {
        assert_eq!(
            to_mono(&[1.0, 0.0, 0.5, 0.5, -1.0, 1.0], 2),
            [0.5, 0.5, 0.0]
        );
        assert_eq!(to_mono(&[0.25, 0.5], 1), [0.25, 0.5]);
    }
}
