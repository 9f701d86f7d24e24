//! The media path of a run: sources are captured at their own pace and stamped with capture
//! times, sent through one session per server, and what comes back is written to the sinks in
//! capture order. Sessions follow their server: when the manager restarts one, the path
//! reconnects by itself and the gap is counted.

use crate::controls::LiveControls;
use crate::faces::FacePhoto;
use crate::item::Item;
use crate::levels::AudioLevels;
use crate::lipsync;
use crate::manager::{ServerInfo, ServerManager};
use crate::report::{AudioReport, Gap, Latencies, LatencySummary, Report, Samples, VideoReport};
use crate::sinks::{AudioSink, AudioWrite, Tee, VideoSink, VideoWrite};
use crate::spec::{DeviceFallback, RunSpec};
use crate::tap::{RunTap, TapEvent};
use anyhow::Context;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};
use studio_devices::inputs::{open_audio, open_video};
use studio_devices::outputs;
use studio_media::health::{CameraHealth, CameraState};
use studio_media::input::AudioInput;
use studio_media::sink::{FirstFrames, FirstSamples};
use studio_media::source::{AudioSource, FrameRate, VideoFormat, VideoSource};
use studio_media::wav::WavWriter;
use studio_media::y4m::Y4mWriter;
use studio_media::{AudioBlock, Timestamp, VideoFrame};
use studio_proto::Role;
use studio_proto::config::Config;
use studio_proto::control::{Control, ControlAck};
use studio_transport::{SessionEvent, SessionSender};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How long to wait, after capture ends, for frames and blocks still being processed.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between attempts to open a session on a server that refused one.
const RECONNECT_PAUSE: Duration = Duration::from_millis(200);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The run's sources and writers, open before any server starts: each source is opened
/// once, and the devices take its size and rate.
pub(crate) struct Opened {
    video: Box<dyn VideoSource>,
    audio: Box<dyn AudioSource>,
    video_writer: Option<Box<dyn VideoWrite>>,
    audio_writer: Option<Box<dyn AudioWrite>>,
}

/// Open what `spec` names. Bad input fails here, before anything starts.
pub(crate) fn open(config: &Config, spec: &RunSpec) -> anyhow::Result<Opened> {
    let default_format = VideoFormat {
        width: config.video.width,
        height: config.video.height,
        rate: FrameRate::per_second(config.video.fps),
    };
    let mut video = open_video(&spec.video_in, default_format).context("video input")?;
    if let Some(requests) = spec.tap.as_ref().and_then(|t| t.video_input.clone()) {
        let tap = spec.tap.clone();
        video = Box::new(crate::live_source::SwitchingVideoSource::new(
            video,
            spec.video_in.clone(),
            requests,
            move |error| {
                if let Some(tap) = &tap {
                    tap.send(TapEvent::CameraFailed(error));
                }
            },
        ));
    }
    let tell = |problem: String| match &spec.tap {
        Some(tap) => tap.send(TapEvent::DeviceProblem(problem)),
        None => tracing::warn!("{problem}"),
    };
    let (_, audio) = open_audio_input(
        &spec.audio_in,
        spec.microphone_fallback,
        config.audio.sample_rate,
        &tell,
    )?;
    // Devices take the input's size and rate (a file keeps its own).
    let format = video.format();
    let (video_file, mut video_writers) = outputs::open_video(
        &spec.video_out,
        format.width,
        format.height,
        format.rate.as_f64(),
    )?;
    let (audio_file, mut audio_writers) =
        outputs::open_audio(&spec.audio_out, config.audio.sample_rate)?;
    let mut virtual_devices = outputs::open_virtual(
        spec.virtual_camera,
        spec.virtual_microphone,
        (format.width, format.height, format.rate.as_f64()),
        config.audio.sample_rate,
    );
    if let Some(fallback) = &spec.device_fallback {
        stand_in_for_missing_devices(spec, fallback, format, config, &mut virtual_devices)?;
    }
    if let Some(name) = &spec.monitor {
        let output = studio_media::output::AudioOut::Device(name.clone());
        match outputs::open_audio(&[output], config.audio.sample_rate) {
            Ok((_, devices)) => virtual_devices.audio.extend(devices),
            Err(e) => virtual_devices
                .problems
                .push(format!("Hearing yourself is off: {e:#}")),
        }
    }
    for problem in std::mem::take(&mut virtual_devices.problems) {
        tell(problem);
    }
    video_writers.append(&mut virtual_devices.video);
    audio_writers.append(&mut virtual_devices.audio);
    if let Some(path) = &video_file {
        video_writers.push(Box::new(
            Y4mWriter::create(path, format).context("video output")?,
        ));
    }
    if let Some(path) = &audio_file {
        audio_writers.push(Box::new(
            WavWriter::create(path, config.audio.sample_rate).context("audio output")?,
        ));
    }
    Ok(Opened {
        video,
        audio,
        video_writer: Tee::of(video_writers).map(|t| t as Box<dyn VideoWrite>),
        audio_writer: Tee::of(audio_writers).map(|t| t as Box<dyn AudioWrite>),
    })
}

/// A virtual device that could not open is replaced by a bounded file in the fallback folder;
/// its problem says where the output goes instead.
fn stand_in_for_missing_devices(
    spec: &RunSpec,
    fallback: &DeviceFallback,
    format: VideoFormat,
    config: &Config,
    devices: &mut outputs::VirtualDevices,
) -> anyhow::Result<()> {
    let camera_missing = spec.virtual_camera && devices.video.is_empty();
    let microphone_missing = spec.virtual_microphone && devices.audio.is_empty();
    if !camera_missing && !microphone_missing {
        return Ok(());
    }
    std::fs::create_dir_all(&fallback.dir)
        .with_context(|| format!("creating {}", fallback.dir.display()))?;
    if camera_missing {
        let path = fallback.video_file();
        let file = Y4mWriter::create(&path, format).context("the video file")?;
        let frames = (fallback.video_seconds * format.rate.as_f64())
            .ceil()
            .max(0.0) as u64;
        devices
            .video
            .push(Box::new(FirstFrames::new(Box::new(file), frames)));
        devices.problems.push(format!(
            "no virtual camera: the first {:.0} s of the processed video go to {}",
            fallback.video_seconds,
            path.display()
        ));
    }
    if microphone_missing {
        let path = fallback.audio_file();
        let file = WavWriter::create(&path, config.audio.sample_rate).context("the audio file")?;
        let samples = (fallback.audio_seconds * f64::from(config.audio.sample_rate))
            .ceil()
            .max(0.0) as u64;
        devices
            .audio
            .push(Box::new(FirstSamples::new(Box::new(file), samples)));
        devices.problems.push(format!(
            "no virtual microphone: the first {:.0} s of the processed voice go to {}",
            fallback.audio_seconds,
            path.display()
        ));
    }
    Ok(())
}

/// Counters shared by the capture threads, the session links and the status line.
#[derive(Default)]
struct PathStats {
    /// Frames or samples captured.
    captured: AtomicU64,
    /// Frames or samples captured while no session was open.
    lost: AtomicU64,
    /// Video frames replaced before sending.
    dropped: AtomicU64,
    /// Frames or samples that came back.
    returned: AtomicU64,
    /// Frames or blocks that came back (for the drain check).
    returned_items: AtomicU64,
    latencies_ms: Mutex<Samples>,
}

impl PathStats {
    fn record_latency(&self, clock: Instant, capture: Timestamp) {
        let now = Timestamp::from_duration(clock.elapsed());
        let ms = now.saturating_since(capture).as_secs_f64() * 1000.0;
        lock(&self.latencies_ms).push(ms);
    }

    fn last_latency(&self) -> f64 {
        lock(&self.latencies_ms).last().unwrap_or_default()
    }

    fn latency(&self) -> LatencySummary {
        lock(&self.latencies_ms).summary()
    }

    fn recent_latency(&self, last: usize) -> LatencySummary {
        lock(&self.latencies_ms).recent(last)
    }
}

/// One path's link to its server: the sender in use now, if any.
type CurrentSender = Arc<Mutex<Option<SessionSender>>>;

/// What a sink thread is told.
enum ToSink {
    /// An item and how far its path is shifted by lip sync (slots for video, samples for
    /// audio).
    Place(Item, u64),
    /// Capture ended after this many frames or blocks: fill what is missing and close.
    End(u64),
}

/// Open `input`; a microphone that cannot open gives way to the test tone when `fallback`
/// allows, and `tell` says why. Returns the input used and its source.
fn open_audio_input(
    input: &AudioInput,
    fallback: bool,
    sample_rate: u32,
    tell: &dyn Fn(String),
) -> anyhow::Result<(AudioInput, Box<dyn AudioSource>)> {
    match open_audio(input, sample_rate) {
        Ok(source) => Ok((input.clone(), source)),
        Err(e) if fallback && matches!(input, AudioInput::Microphone(_)) => {
            tell(format!(
                "{e}. The test tone stands in for your voice: plug in a microphone, press Look \
                 for devices, choose it and start again"
            ));
            let tone = AudioInput::Tone(440.0);
            let source = open_audio(&tone, sample_rate).context("audio input")?;
            Ok((tone, source))
        }
        Err(e) => Err(e).context("audio input"),
    }
}

/// Run the opened sources through `manager`'s servers to the writers, and report.
pub(crate) async fn run_with(
    config: &Config,
    opened: Opened,
    manager: ServerManager,
    spec: RunSpec,
    cancel: CancellationToken,
) -> anyhow::Result<Report> {
    let Opened {
        video: video_source,
        audio: audio_source,
        video_writer,
        audio_writer,
    } = opened;
    let format = video_source.format();
    let block_samples = config.audio.block_samples();
    let transport = spec.session_transport(config.video.fps as f32);
    let options = spec;

    if let Some(tap) = &options.tap {
        tap.watch_manager(&manager);
    }
    let start_timeout = Duration::from_millis(config.servers.restart.start_timeout_ms);
    let ready = tokio::select! {
        ready = manager.wait_ready(start_timeout) => ready,
        _ = cancel.cancelled() => Err(anyhow::Error::new(crate::StoppedEarly)),
    };
    if let Err(e) = ready {
        manager.stop().await;
        return Err(e);
    }

    let clock = Instant::now();
    let video_stats = Arc::new(PathStats::default());
    let audio_stats = Arc::new(PathStats::default());
    let gaps = Arc::new(Mutex::new(Vec::<Gap>::new()));
    // Capture stops when the run is cancelled; the links only once what is still being
    // processed came back.
    let links_stop = CancellationToken::new();

    // Sinks run on threads of their own: file writes never hold up the sessions.
    let (video_sink_tx, video_sink_rx) = mpsc::channel::<ToSink>();
    let (audio_sink_tx, audio_sink_rx) = mpsc::channel::<ToSink>();
    let video_sink = VideoSink::new(
        video_writer,
        config.video.fallback,
        format.width,
        format.height,
    );
    let audio_sink = AudioSink::new(audio_writer, block_samples);
    let video_sink_thread = std::thread::spawn(move || drain_video_sink(video_sink, video_sink_rx));
    let output_levels = options.levels.clone();
    let audio_sink_thread =
        std::thread::spawn(move || drain_audio_sink(audio_sink, audio_sink_rx, &output_levels));
    // Between the links and the sinks: the lip-sync buffer.
    let (arrival_tx, arrival_rx) = mpsc::channel::<Item>();
    let sync_thread = {
        let sync_config = studio_media::avsync::SyncConfig {
            lip_sync: options.lip_sync,
            ..Default::default()
        };
        let (video_out, audio_out) = (video_sink_tx.clone(), audio_sink_tx.clone());
        let (fps, rate) = (format.rate.as_f64(), config.audio.sample_rate);
        std::thread::spawn(move || {
            lipsync::run(sync_config, clock, fps, rate, arrival_rx, |item, shift| {
                let sink = match item {
                    Item::Video(_) => &video_out,
                    Item::Audio(_) => &audio_out,
                };
                let _ = sink.send(ToSink::Place(item, shift));
            })
        })
    };

    let video_sender: CurrentSender = Arc::default();
    let audio_sender: CurrentSender = Arc::default();
    let links = [
        (
            Role::Video,
            video_sender.clone(),
            video_stats.clone(),
            arrival_tx.clone(),
        ),
        (
            Role::Audio,
            audio_sender.clone(),
            audio_stats.clone(),
            arrival_tx.clone(),
        ),
    ]
    .map(|(role, sender, stats, sink)| {
        let link = Link {
            role,
            controls: options.controls.clone(),
            servers: manager.server(role),
            current: sender,
            stats,
            sink,
            gaps: gaps.clone(),
            clock,
            stop: links_stop.clone(),
            tap: options.tap.clone(),
            face: options.face.clone().filter(|_| role == Role::Video),
            people: if role == Role::Video {
                options.people.clone()
            } else {
                Vec::new()
            },
            voice_file: options.voice_file.clone().filter(|_| role == Role::Audio),
            fetch_face_models: options.fetch_face_models,
            transport: transport.clone(),
        };
        tokio::spawn(link.run())
    });
    wait_connected(&[&video_sender, &audio_sender], start_timeout)
        .await
        .context("opening sessions to the servers")?;

    let fps = format.rate.as_f64();
    let video_limit = options.seconds.map(|s| (s * fps).round() as u64);
    let audio_limit = options
        .seconds
        .map(|s| (s * 1000.0 / config.audio.frame_ms as f64).round() as u64);
    // Capture starts now, not when the clock did: the time the sessions took to open is not
    // latency, and counting it would make the lip-sync buffer hold both paths that long.
    let capture_start = clock.elapsed();
    // The capture threads stop with the run, and also when this future is dropped before
    // they end (its task aborted, its runtime shut down): a blocking thread outliving its
    // run would hold the runtime's shutdown for ever.
    let capture_stop = cancel.child_token();
    let _capture_guard = capture_stop.clone().drop_guard();
    let video_capture = {
        let (sender, stats, stop) = (
            video_sender.clone(),
            video_stats.clone(),
            capture_stop.clone(),
        );
        let tap = options.tap.clone();
        tokio::task::spawn_blocking(move || {
            capture_video(
                video_source,
                (clock, capture_start),
                video_limit,
                &sender,
                &stats,
                &stop,
                tap.as_ref(),
            )
        })
    };
    let audio_capture = {
        let (sender, stats, stop) = (
            audio_sender.clone(),
            audio_stats.clone(),
            capture_stop.clone(),
        );
        let frame_ms = config.audio.frame_ms;
        let levels = options.levels.clone();
        tokio::task::spawn_blocking(move || {
            capture_audio(
                audio_source,
                (clock, capture_start),
                frame_ms,
                block_samples,
                audio_limit,
                (&sender, &levels),
                &stats,
                &stop,
            )
        })
    };

    let status_task = options.status_every.map(|every| {
        let (video_stats, audio_stats) = (video_stats.clone(), audio_stats.clone());
        let servers = [manager.server(Role::Video), manager.server(Role::Audio)];
        tokio::spawn(print_status(
            every,
            fps,
            config.audio.sample_rate,
            video_stats,
            audio_stats,
            servers,
        ))
    });

    let mut ended_by = if options.seconds.is_some() {
        "duration"
    } else {
        "sources ended"
    };
    let captures = async { (video_capture.await, audio_capture.await) };
    tokio::pin!(captures);
    let (video_result, audio_result) = tokio::select! {
        results = &mut captures => results,
        _ = cancel.cancelled() => {
            ended_by = "interrupted";
            captures.await
        }
    };
    let (video_items, camera) = video_result
        .context("video capture")?
        .context("video capture")?;
    let audio_items = audio_result
        .context("audio capture")?
        .context("audio capture")?;

    drain(&video_stats, video_items, &audio_stats, audio_items).await;
    // Each link closes its session and tells its server, without counting that as a gap.
    links_stop.cancel();
    for link in links {
        let _ = link.await;
    }
    // The links are gone: the buffer flushes what it still holds and reports.
    drop(arrival_tx);
    let lip_sync = sync_thread
        .join()
        .map_err(|_| anyhow::anyhow!("the lip-sync thread failed"))?;
    if let Some(task) = status_task {
        task.abort();
    }
    let _ = video_sink_tx.send(ToSink::End(video_items));
    let _ = audio_sink_tx.send(ToSink::End(audio_items));
    let video_sink = video_sink_thread
        .join()
        .map_err(|_| anyhow::anyhow!("the video output thread failed"))??;
    let audio_sink = audio_sink_thread
        .join()
        .map_err(|_| anyhow::anyhow!("the audio output thread failed"))??;

    let servers = manager.history();
    manager.stop().await;
    let gaps = lock(&gaps).clone();
    let restarts = servers.iter().filter(|s| s.exited_s.is_some()).count() as u64;
    Ok(Report {
        transport: transport.name().into(),
        seconds: video_items as f64 / fps,
        ended_by: ended_by.into(),
        video: VideoReport {
            width: format.width,
            height: format.height,
            fps,
            frames_in: video_stats.captured.load(Ordering::Relaxed),
            frames_out: video_sink.frames_out,
            frames_lost: video_stats.lost.load(Ordering::Relaxed),
            frames_dropped: video_stats.dropped.load(Ordering::Relaxed),
            frames_concealed: video_sink.frames_concealed,
            frames_late: video_sink.frames_late,
            frames_written: video_sink.frames_written(),
        },
        audio: AudioReport {
            sample_rate: config.audio.sample_rate,
            samples_in: audio_stats.captured.load(Ordering::Relaxed),
            samples_out: audio_sink.samples_out,
            samples_lost: audio_stats.lost.load(Ordering::Relaxed),
            samples_concealed: audio_sink.samples_concealed,
            blocks_late: audio_sink.blocks_late,
            samples_written: audio_sink.samples_written(),
        },
        latency_ms: Latencies {
            video: video_stats.latency(),
            audio: audio_stats.latency(),
        },
        servers,
        restarts,
        gaps,
        lip_sync,
        camera: camera
            .as_ref()
            .map(crate::report::CameraReport::from_health),
    })
}

/// Wait until every path has a session.
async fn wait_connected(senders: &[&CurrentSender], timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while senders.iter().any(|s| lock(s).is_none()) {
        if Instant::now() > deadline {
            anyhow::bail!("no session within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Wait for what is still being processed, up to [`DRAIN_TIMEOUT`].
async fn drain(video: &PathStats, video_items: u64, audio: &PathStats, audio_items: u64) {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    let settled = |stats: &PathStats, items: u64, counts_drops: bool| {
        let accounted = stats.returned_items.load(Ordering::Relaxed)
            + if counts_drops {
                stats.lost.load(Ordering::Relaxed) + stats.dropped.load(Ordering::Relaxed)
            } else {
                0
            };
        accounted >= items
    };
    while Instant::now() < deadline {
        // Audio counts samples lost, not blocks; any loss means waiting out the timeout,
        // which only happens after a server failed.
        if settled(video, video_items, true)
            && audio.lost.load(Ordering::Relaxed) == 0
            && settled(audio, audio_items, false)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Keeps one path connected to its role's current server.
struct Link {
    role: Role,
    controls: Arc<LiveControls>,
    servers: watch::Receiver<Option<ServerInfo>>,
    current: CurrentSender,
    stats: Arc<PathStats>,
    sink: mpsc::Sender<Item>,
    gaps: Arc<Mutex<Vec<Gap>>>,
    clock: Instant,
    stop: CancellationToken,
    tap: Option<RunTap>,
    face: Option<Arc<FacePhoto>>,
    people: Vec<(Arc<FacePhoto>, Arc<FacePhoto>)>,
    fetch_face_models: bool,
    voice_file: Option<Arc<crate::voice_file::VoiceFile>>,
    transport: crate::session_transport::SessionTransport,
}

impl Link {
    /// The session answered a setting: a refusal is logged, and a face or voice answer goes
    /// to whoever watches the run, so a window can show it where the choice was made.
    fn answered(&self, ack: &ControlAck) {
        let control = self.controls.answered(self.role, ack);
        if let Some(error) = &ack.error {
            match &control {
                Some(control) => {
                    tracing::warn!("the {} server refused {control:?}: {error}", self.role)
                }
                None => tracing::warn!("the {} server refused a setting: {error}", self.role),
            }
        }
        if let (Some(tap), Some(control)) = (&self.tap, control)
            && !matches!(control, Control::Talk { .. })
        {
            tap.send(TapEvent::ControlAnswered {
                role: self.role,
                control,
                refused: ack.error.clone(),
            });
        }
    }

    async fn run(mut self) {
        let mut connected_generation = 0;
        loop {
            let stop = self.stop.clone();
            let server = tokio::select! {
                server = next_server(&mut self.servers, connected_generation) => server,
                _ = stop.cancelled() => return,
            };
            let Some(server) = server else { return };
            let opened = tokio::select! {
                opened = self.transport.open(&server.client) => opened,
                _ = self.stop.cancelled() => return,
            };
            let (session_id, mut handle) = match opened {
                Ok(opened) => opened,
                Err(e) => {
                    tracing::warn!("opening a {} session failed: {e}", self.role);
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue;
                }
            };
            let first_session = connected_generation == 0;
            connected_generation = server.generation;
            tracing::info!(role = %self.role, session = %session_id, "session open");
            let fetch = self.fetch_face_models;
            let people = self.people.clone();
            let has_faces = self.face.is_some() || !people.is_empty();
            let mut wearing = has_faces.then(|| {
                let (client, controls) = (server.client.clone(), self.controls.clone());
                let face = self.face.clone();
                tokio::spawn(async move {
                    if let Some(photo) = face {
                        match crate::faces::wear(&client, &photo, &controls, fetch).await {
                            Ok(id) => tracing::info!(
                                "wearing the face in {} ({id})",
                                photo.path.display()
                            ),
                            Err(e) => tracing::error!("{e:#}"),
                        }
                    }
                    if !people.is_empty() {
                        match crate::faces::map_people(&client, &people, &controls, fetch).await {
                            Ok(n) => tracing::info!("{n} people wear their own faces"),
                            Err(e) => tracing::error!("{e:#}"),
                        }
                    }
                })
            });
            // The voice goes on once the server has it ready (its shared models may take
            // minutes); until then the audio flows as the voice before.
            if let Some(file) = self.voice_file.clone() {
                let (client, controls) = (server.client.clone(), self.controls.clone());
                tokio::spawn(async move {
                    match crate::voice_file::wear(&client, &file, &controls).await {
                        Ok(id) => {
                            tracing::info!("using the voice in {} ({id})", file.path.display())
                        }
                        Err(e) => tracing::error!("{e:#}"),
                    }
                });
            }
            // The run starts with the face on; after a restart, or while the server fetches
            // the face models (minutes), frames flow unchanged until the server knows the face.
            if first_session
                && !fetch
                && let Some(task) = wearing.take()
            {
                tokio::select! {
                    _ = task => {}
                    _ = self.stop.cancelled() => return,
                }
            }
            self.controls.attach(self.role, handle.sender.clone());
            *lock(&self.current) = Some(handle.sender.clone());
            self.end_gap();
            if let Some(tap) = &self.tap {
                tap.send(TapEvent::Session(self.role, true));
            }
            let reason = loop {
                let event = tokio::select! {
                    event = handle.events.recv() => event,
                    _ = self.stop.cancelled() => {
                        // Let the session end cleanly, then let the server forget it.
                        handle.sender.close();
                        let _ = server.client.close_session(&session_id).await;
                        return;
                    }
                };
                match event {
                    Some(SessionEvent::Video(frame)) => {
                        self.stats.record_latency(self.clock, frame.capture);
                        if let Some(tap) = &self.tap {
                            tap.processed_frame(&frame);
                            tap.send(TapEvent::Latency(self.role, self.stats.last_latency()));
                        }
                        self.stats.returned.fetch_add(1, Ordering::Relaxed);
                        self.stats.returned_items.fetch_add(1, Ordering::Relaxed);
                        let _ = self.sink.send(Item::Video(frame));
                    }
                    Some(SessionEvent::Audio(block)) => {
                        self.stats.record_latency(self.clock, block.capture);
                        if let Some(tap) = &self.tap {
                            tap.send(TapEvent::Latency(self.role, self.stats.last_latency()));
                        }
                        self.stats
                            .returned
                            .fetch_add(block.samples.len() as u64, Ordering::Relaxed);
                        self.stats.returned_items.fetch_add(1, Ordering::Relaxed);
                        let _ = self.sink.send(Item::Audio(block));
                    }
                    Some(SessionEvent::ControlAck(ack)) => self.answered(&ack),
                    Some(SessionEvent::Closed { reason }) => break reason,
                    None => break "the session ended".to_string(),
                }
            };
            if let Some(task) = wearing {
                task.abort();
            }
            *lock(&self.current) = None;
            self.controls.detach(self.role);
            if let Some(tap) = &self.tap {
                tap.send(TapEvent::Session(self.role, false));
            }
            tracing::warn!("the {} session closed: {reason}", self.role);
            self.start_gap(reason);
        }
    }

    fn start_gap(&self, reason: String) {
        lock(&self.gaps).push(Gap {
            role: self.role,
            from_s: self.clock.elapsed().as_secs_f64(),
            to_s: None,
            duration_ms: None,
            reason,
        });
    }

    fn end_gap(&self) {
        let now = self.clock.elapsed().as_secs_f64();
        if let Some(gap) = lock(&self.gaps)
            .iter_mut()
            .rev()
            .find(|g| g.role == self.role && g.to_s.is_none())
        {
            gap.to_s = Some(now);
            gap.duration_ms = Some(((now - gap.from_s) * 1e6).round() / 1e3);
        }
    }
}

/// The role's server once it is up with a generation other than `seen`; `None` if the
/// manager is gone.
async fn next_server(
    servers: &mut watch::Receiver<Option<ServerInfo>>,
    seen: u64,
) -> Option<ServerInfo> {
    loop {
        if let Some(server) = servers.borrow_and_update().clone()
            && server.generation != seen
        {
            return Some(server);
        }
        servers.changed().await.ok()?;
    }
}

/// Sleep until `due` after `clock`, in small steps so a stop is noticed.
fn sleep_until(clock: Instant, due: Duration, stop: &CancellationToken) {
    loop {
        let elapsed = clock.elapsed();
        if elapsed >= due || stop.is_cancelled() {
            return;
        }
        std::thread::sleep((due - elapsed).min(Duration::from_millis(50)));
    }
}

/// The current sender, if its session is open.
fn open_sender(current: &CurrentSender) -> Option<SessionSender> {
    lock(current).as_ref().filter(|s| s.is_open()).cloned()
}

/// Capture frames at the source's rate; returns how many were captured.
fn capture_video(
    mut source: Box<dyn VideoSource>,
    (clock, start): (Instant, Duration),
    limit: Option<u64>,
    current: &CurrentSender,
    stats: &PathStats,
    stop: &CancellationToken,
    tap: Option<&RunTap>,
) -> anyhow::Result<(u64, Option<CameraHealth>)> {
    let rate = source.format().rate;
    let mut seq = 0u64;
    let mut camera_state = CameraState::Streaming;
    while limit.is_none_or(|l| seq < l) {
        let due =
            start + Duration::from_secs_f64(seq as f64 * rate.den as f64 / rate.num.max(1) as f64);
        sleep_until(clock, due, stop);
        if stop.is_cancelled() {
            break;
        }
        let Some(image) = source.next_image()? else {
            break;
        };
        if let Some(health) = source.camera_health()
            && health.state != camera_state
        {
            camera_state = health.state;
            let words = (camera_state != CameraState::Streaming).then(|| camera_state.to_string());
            if let Some(tap) = tap {
                tap.send(TapEvent::CameraState(words));
            }
        }
        let frame = VideoFrame {
            seq,
            capture: Timestamp::from_duration(due),
            image,
        };
        stats.captured.fetch_add(1, Ordering::Relaxed);
        if let Some(tap) = tap {
            tap.camera_frame(&frame);
        }
        match open_sender(current) {
            Some(sender) => {
                if sender.send_video(frame) {
                    stats.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            None => {
                stats.lost.fetch_add(1, Ordering::Relaxed);
            }
        }
        seq += 1;
    }
    Ok((seq, source.camera_health()))
}

/// Capture blocks at the audio rate; returns how many were captured.
#[allow(clippy::too_many_arguments)]
fn capture_audio(
    mut source: Box<dyn AudioSource>,
    (clock, start): (Instant, Duration),
    frame_ms: u32,
    block_samples: usize,
    limit: Option<u64>,
    (current, levels): (&CurrentSender, &AudioLevels),
    stats: &PathStats,
    stop: &CancellationToken,
) -> anyhow::Result<u64> {
    let sample_rate = source.sample_rate();
    let mut seq = 0u64;
    while limit.is_none_or(|l| seq < l) {
        let due = start + Duration::from_millis(seq * frame_ms as u64);
        sleep_until(clock, due, stop);
        if stop.is_cancelled() {
            break;
        }
        let Some(mut samples) = source.read(block_samples)? else {
            break;
        };
        if samples.is_empty() {
            break;
        }
        levels.on_input(&mut samples);
        let count = samples.len() as u64;
        let block = AudioBlock {
            seq,
            capture: Timestamp::from_duration(due),
            sample_rate,
            samples,
        };
        stats.captured.fetch_add(count, Ordering::Relaxed);
        match open_sender(current) {
            Some(sender) => sender.send_audio(block),
            None => {
                stats.lost.fetch_add(count, Ordering::Relaxed);
            }
        }
        seq += 1;
        if count < block_samples as u64 {
            break;
        }
    }
    Ok(seq)
}

fn drain_video_sink(
    mut sink: VideoSink,
    items: mpsc::Receiver<ToSink>,
) -> anyhow::Result<VideoSink> {
    for item in items {
        match item {
            ToSink::Place(Item::Video(frame), shift) => sink.push_shifted(frame, shift)?,
            ToSink::End(total) => {
                sink.conceal_until(total)?;
                break;
            }
            // The sync thread sends each kind to its own sink only.
            ToSink::Place(Item::Audio(_), _) => {}
        }
    }
    sink.finish()?;
    Ok(sink)
}

fn drain_audio_sink(
    mut sink: AudioSink,
    items: mpsc::Receiver<ToSink>,
    levels: &AudioLevels,
) -> anyhow::Result<AudioSink> {
    for item in items {
        match item {
            ToSink::Place(Item::Audio(mut block), shift) => {
                levels.on_output(&mut block.samples);
                sink.push_shifted(block, shift)?
            }
            ToSink::End(total) => {
                sink.conceal_until(total)?;
                break;
            }
            ToSink::Place(Item::Video(_), _) => {}
        }
    }
    sink.finish()?;
    Ok(sink)
}

/// The console studio's status line: rates, recent latency and the servers in use.
async fn print_status(
    every: Duration,
    fps: f64,
    sample_rate: u32,
    video: Arc<PathStats>,
    audio: Arc<PathStats>,
    servers: [watch::Receiver<Option<ServerInfo>>; 2],
) {
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    let mut last = (0u64, 0u64);
    let window = (fps * every.as_secs_f64()).ceil() as usize;
    loop {
        ticker.tick().await;
        let frames = video.returned.load(Ordering::Relaxed);
        let samples = audio.returned.load(Ordering::Relaxed);
        let seconds = every.as_secs_f64();
        let video_fps = (frames - last.0) as f64 / seconds;
        let audio_ratio = (samples - last.1) as f64 / seconds / sample_rate.max(1) as f64;
        last = (frames, samples);
        let describe = |rx: &watch::Receiver<Option<ServerInfo>>| match &*rx.borrow() {
            Some(info) => format!("pid {}", info.pid),
            None => "restarting".to_string(),
        };
        println!(
            "video {video_fps:5.1} fps, latency p50 {:6.1} ms ({}) | audio {:4.0}% of real time, latency p50 {:6.1} ms ({})",
            video.recent_latency(window).p50,
            describe(&servers[0]),
            audio_ratio * 100.0,
            audio.recent_latency(window).p50,
            describe(&servers[1]),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::CameraReport;
    use studio_media::health::CameraStats;
    use studio_media::{I420Image, MediaError};

    /// A camera that is unplugged for frames 3 to 5 and streams otherwise.
    struct Unplugged {
        frame: u64,
    }

    impl Unplugged {
        fn gone(&self) -> bool {
            (3..=5).contains(&self.frame)
        }
    }

    impl VideoSource for Unplugged {
        fn format(&self) -> VideoFormat {
            VideoFormat {
                width: 16,
                height: 16,
                rate: FrameRate::per_second(1000),
            }
        }

        fn next_image(&mut self) -> Result<Option<I420Image>, MediaError> {
            self.frame += 1;
            Ok(Some(I420Image::black(16, 16)))
        }

        fn camera_health(&self) -> Option<CameraHealth> {
            Some(CameraHealth {
                state: if self.gone() {
                    CameraState::Unplugged
                } else {
                    CameraState::Streaming
                },
                stats: CameraStats {
                    frames_concealed: self.frame.clamp(2, 5) - 2,
                    disconnects: u64::from(self.frame >= 3),
                    frames_broken: 0,
                },
            })
        }
    }

    #[test]
    fn a_microphone_that_cannot_open_gives_way_to_the_tone_and_says_why() {
        let config = Config::defaults().unwrap();
        let rate = config.audio.sample_rate;
        let told = Mutex::new(Vec::new());
        let tell = |problem: String| told.lock().unwrap().push(problem);
        let missing = AudioInput::Microphone(Some("no such microphone 7f3a".into()));
        let (used, _) = open_audio_input(&missing, true, rate, &tell).unwrap();
        assert_eq!(used, AudioInput::Tone(440.0));
        {
            let told = told.lock().unwrap();
            assert_eq!(told.len(), 1);
            assert!(told[0].contains("test tone stands in"), "{}", told[0]);
        }
        // The tone itself needs no device and is left alone.
        let (used, _) = open_audio_input(&AudioInput::Tone(440.0), true, rate, &tell).unwrap();
        assert_eq!(used, AudioInput::Tone(440.0));
        // Without the fallback (the command line), a missing microphone fails the run.
        assert!(open_audio_input(&missing, false, rate, &tell).is_err());
        assert_eq!(told.lock().unwrap().len(), 1, "nothing more was told");
    }

    #[test]
    fn a_camera_unplugged_mid_run_is_told_once_each_way_and_reported() {
        let (tap, _previews, mut events) = RunTap::new(None);
        let current: CurrentSender = Arc::default();
        let stats = PathStats::default();
        let (frames, health) = capture_video(
            Box::new(Unplugged { frame: 0 }),
            (Instant::now(), Duration::ZERO),
            Some(8),
            &current,
            &stats,
            &CancellationToken::new(),
            Some(&tap),
        )
        .unwrap();
        assert_eq!(frames, 8, "the timeline goes on while the camera is away");
        let mut told = Vec::new();
        while let Ok(event) = events.try_recv() {
            if let TapEvent::CameraState(words) = event {
                told.push(words);
            }
        }
        assert_eq!(
            told,
            [Some(CameraState::Unplugged.to_string()), None],
            "one message when it goes, one when it is back"
        );
        assert_eq!(
            CameraReport::from_health(&health.unwrap()),
            CameraReport {
                state: "streaming".into(),
                disconnects: 1,
                frames_concealed: 3,
                frames_broken: 0,
            }
        );
    }
}
