//! The driver around the state store: runs the effects it asks for (the media run, server
//! watchers, face uploads, voice lists, the keyring) on the async runtime, feeds what comes
//! back in as events, and publishes a fresh snapshot after each change.

use crate::choices::Choices;
use crate::state::{
    Camera, Command, Effect, Event, FaceRefusal, Microphone, PickKind, RunDevices, Snapshot, Store,
    Thumbnail,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use studio_client::{FaceImage, ServerClient};
use studio_media::input::{AudioInput, VideoInput};
use studio_proto::Role;
use studio_proto::api::{FaceAdded, error_code};
use studio_proto::config::{Config, FACE_MODEL_IDS};
use studio_run::controls::LiveControls;
use studio_run::levels::AudioLevels;
use studio_run::manager::{ManagerOptions, ServerInfo};
use studio_run::session_transport::Transport;
use studio_run::tap::{Previews, RunTap, TapEvent};
use studio_run::{CancellationToken, RunSpec, Servers, StoppedEarly};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Thumbnails are at most this many pixels on their longer side.
const THUMBNAIL_SIZE: u32 = 96;
/// Pause before watching a server's events again after the stream broke.
const EVENTS_RETRY: Duration = Duration::from_millis(500);

/// What the studio needs to run.
pub struct StudioOptions {
    pub config: Config,
    /// How to start the servers, or why they cannot be (shown when the person presses Start).
    pub manager: Result<ManagerOptions, String>,
    /// The microphone and virtual devices runs start with (the person can change them).
    pub devices: RunDevices,
    /// Listen for the talk key everywhere on the desktop, not only in the window.
    pub global_talk_key: bool,
    /// Where the person's choices are remembered between runs (`None`: not remembered).
    pub choices_file: Option<PathBuf>,
}

/// The window's handle on the studio: read snapshots, send commands.
#[derive(Clone)]
pub struct Studio {
    snapshot: watch::Receiver<Snapshot>,
    commands: mpsc::UnboundedSender<Command>,
    previews: watch::Receiver<Option<Previews>>,
    servers: watch::Receiver<[Option<ServerClient>; 2]>,
    levels: Arc<AudioLevels>,
}

impl Studio {
    /// Start the driver on `runtime`. `repaint` is called after every change.
    pub fn start(
        runtime: &tokio::runtime::Handle,
        options: StudioOptions,
        repaint: impl Fn() + Send + Sync + 'static,
    ) -> Studio {
        let store = Store::with_devices(&options.config, options.devices);
        let (snapshot_tx, snapshot) = watch::channel(store.snapshot());
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (previews_tx, previews) = watch::channel(None);
        let (inputs, inputs_rx) = mpsc::unbounded_channel();
        let (servers_tx, servers) = watch::channel([None, None]);
        let levels = Arc::new(AudioLevels::default());
        if options.global_talk_key {
            start_talk_key(&options.config.talk.key, commands.clone(), inputs.clone());
        }
        // The earlier choices go first, as the commands that make them.
        let mut saved = None;
        if let Some(file) = &options.choices_file {
            match Choices::load(file) {
                Ok(Some(choices)) => {
                    let (restore, gone) = choices.restore();
                    for command in restore {
                        let _ = commands.send(command);
                    }
                    if !gone.is_empty() {
                        let _ = inputs.send(Input::Event(Event::ChoicesGone(gone)));
                    }
                    saved = Some(choices);
                }
                Ok(None) => {}
                Err(e) => {
                    let _ = inputs.send(Input::Event(Event::ChoicesGone(vec![format!(
                        "Your earlier choices could not be read ({e:#}); the studio starts \
                         without them."
                    )])));
                }
            }
        }
        let driver = Driver {
            store,
            config: options.config,
            manager: options.manager,
            inputs,
            snapshot: snapshot_tx,
            previews: previews_tx,
            run: None,
            clients: servers_tx,
            watchers: [None, None],
            repaint: Arc::new(repaint),
            choices: options.choices_file.map(|file| (file, saved)),
            levels: levels.clone(),
        };
        runtime.spawn(driver.run(commands_rx, inputs_rx));
        let _ = commands.send(Command::RefreshDevices);
        Studio {
            snapshot,
            commands,
            previews,
            servers,
            levels,
        }
    }

    /// The microphone's level as sent (after the input gain), dBFS.
    pub fn input_level_db(&self) -> f32 {
        self.levels.input_level_db()
    }

    pub fn snapshot(&self) -> Snapshot {
        self.snapshot.borrow().clone()
    }

    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    /// Stop a run, if one goes on, and wait (up to `timeout`) until both servers are gone.
    pub async fn stop_and_wait(&self, timeout: Duration) {
        self.send(Command::Stop);
        let mut snapshot = self.snapshot.clone();
        let _ = tokio::time::timeout(
            timeout,
            snapshot.wait_for(|s| s.phase == crate::state::Phase::Idle),
        )
        .await;
    }

    /// The client of the role's running server (for checks and diagnostics).
    pub fn server_client(&self, role: Role) -> Option<ServerClient> {
        self.servers.borrow()[index(role)].clone()
    }

    /// The current run's previews, if a run is going.
    pub fn previews(&self) -> Option<Previews> {
        self.previews.borrow().clone()
    }
}

/// What reaches the driver besides commands.
enum Input {
    Event(Event),
    Server(Role, Option<ServerInfo>),
}

struct ActiveRun {
    stop: CancellationToken,
    controls: Arc<LiveControls>,
    camera: watch::Sender<VideoInput>,
}

struct Driver {
    store: Store,
    config: Config,
    manager: Result<ManagerOptions, String>,
    inputs: mpsc::UnboundedSender<Input>,
    snapshot: watch::Sender<Snapshot>,
    previews: watch::Sender<Option<Previews>>,
    run: Option<ActiveRun>,
    clients: watch::Sender<[Option<ServerClient>; 2]>,
    watchers: [Option<JoinHandle<()>>; 2],
    repaint: Arc<dyn Fn() + Send + Sync>,
    /// Where choices are saved, and what was saved last.
    choices: Option<(PathBuf, Option<Choices>)>,
    /// The voice's gains and input level, shared with every run.
    levels: Arc<AudioLevels>,
}

fn index(role: Role) -> usize {
    match role {
        Role::Video => 0,
        Role::Audio => 1,
    }
}

fn video_input(camera: &Camera) -> VideoInput {
    match camera {
        Camera::TestPattern => VideoInput::Test,
        Camera::VideoFile(path) => VideoInput::File(path.clone()),
        Camera::Device { spec, .. } => VideoInput::Camera(spec.clone()),
    }
}

fn audio_input(microphone: &Microphone) -> AudioInput {
    match microphone {
        Microphone::TestTone => AudioInput::Tone(440.0),
        Microphone::Default => AudioInput::Microphone(None),
        Microphone::Named(name) => AudioInput::Microphone(Some(name.clone())),
    }
}

/// Cameras and microphones for the window's lists. The studio's own virtual microphone is
/// left out: choosing it as the input would feed the output back in.
fn list_devices() -> Event {
    let all = crate::doctor::list_devices();
    let ours = studio_devices::pulse::MICROPHONE_DESCRIPTION;
    Event::Devices {
        cameras: all
            .iter()
            .filter(|d| d.kind == "camera")
            .map(|d| {
                let spec = d.spec.strip_prefix("camera:").unwrap_or(&d.spec);
                (spec.to_string(), d.name.clone())
            })
            .collect(),
        microphones: all
            .iter()
            .filter(|d| d.kind == "microphone" && !d.name.contains(ours))
            .map(|d| d.name.clone())
            .collect(),
        speakers: all
            .iter()
            .filter(|d| d.kind == "speaker")
            .map(|d| d.name.clone())
            .collect(),
    }
}

/// Listen for the talk key on the whole desktop and hold-to-talk through the store, as the
/// window's own button does. A desktop that cannot give us the key is told in the window.
fn start_talk_key(
    key: &str,
    commands: mpsc::UnboundedSender<Command>,
    inputs: mpsc::UnboundedSender<Input>,
) {
    match crate::talk::start_events(key) {
        Ok((driver, events)) => {
            tracing::info!("talk key {key} through {driver}");
            let spawned = std::thread::Builder::new()
                .name("talk key".into())
                .spawn(move || {
                    let mut state = crate::talk::TalkKeyState::default();
                    for event in events {
                        if let Some(active) = state.on_event(event)
                            && commands.send(Command::Talk(active)).is_err()
                        {
                            return;
                        }
                    }
                });
            if let Err(e) = spawned {
                let _ = inputs.send(Input::Event(Event::TalkKeyProblem(e.to_string())));
            }
        }
        Err(e) => {
            let _ = inputs.send(Input::Event(Event::TalkKeyProblem(format!("{e:#}"))));
        }
    }
}

impl Driver {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut inputs: mpsc::UnboundedReceiver<Input>,
    ) {
        loop {
            let effects = tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.store.command(command),
                    // The window is gone: stop whatever runs, and end.
                    None => break,
                },
                Some(input) = inputs.recv() => self.input(input),
            };
            for effect in effects {
                self.execute(effect);
            }
            let snapshot = self.store.snapshot();
            self.remember(&snapshot);
            self.snapshot.send_replace(snapshot);
            (self.repaint)();
        }
        if let Some(run) = self.run.take() {
            run.stop.cancel();
        }
    }

    /// Save the choices when they changed; a failure is logged, and the studio goes on.
    fn remember(&mut self, snapshot: &Snapshot) {
        let Some((file, saved)) = &mut self.choices else {
            return;
        };
        let now = Choices::of(snapshot);
        if saved.as_ref() == Some(&now) {
            return;
        }
        match now.save(file) {
            Ok(()) => *saved = Some(now),
            Err(e) => {
                tracing::warn!("the choices are not remembered: {e:#}");
                // Not tried again until they change.
                *saved = Some(now);
            }
        }
    }

    fn input(&mut self, input: Input) -> Vec<Effect> {
        match input {
            Input::Event(event) => {
                if let Event::RunEnded(_) = &event {
                    self.run = None;
                    self.previews.send_replace(None);
                }
                self.store.apply(event)
            }
            Input::Server(role, info) => {
                let i = index(role);
                if let Some(watcher) = self.watchers[i].take() {
                    watcher.abort();
                }
                let up = info.is_some();
                let client = info.map(|info| {
                    self.watchers[i] = Some(tokio::spawn(watch_status(
                        info.client.clone(),
                        self.inputs.clone(),
                    )));
                    info.client
                });
                self.clients.send_modify(|clients| clients[i] = client);
                self.store.apply(Event::ServerUp(role, up))
            }
        }
    }

    fn event_sender(&self) -> impl Fn(Event) + Clone + Send + Sync + 'static {
        let inputs = self.inputs.clone();
        move |event| {
            let _ = inputs.send(Input::Event(event));
        }
    }

    fn execute(&mut self, effect: Effect) {
        let send = self.event_sender();
        match effect {
            Effect::StartRun {
                camera,
                controls,
                devices,
            } => self.start_run(camera, controls, devices, false),
            Effect::StartCloudRun {
                camera,
                controls,
                devices,
            } => self.start_run(camera, controls, devices, true),
            Effect::ListDevices => {
                tokio::task::spawn_blocking(move || send(list_devices()));
            }
            Effect::StopRun => {
                if let Some(run) = &self.run {
                    run.stop.cancel();
                }
            }
            Effect::Control(role, control) => {
                if let Some(run) = &self.run {
                    run.controls.set(role, control);
                }
            }
            Effect::SwitchCamera(camera) => {
                if let Some(run) = &self.run {
                    run.camera.send_replace(video_input(&camera));
                }
            }
            Effect::LoadFace(path) => {
                tokio::task::spawn_blocking(move || {
                    let result = load_thumbnail(&path).map(Arc::new);
                    send(Event::FaceLoaded { path, result });
                });
            }
            Effect::UploadFace(path) => {
                let client = self.clients.borrow()[index(Role::Video)].clone();
                tokio::spawn(async move {
                    let result = match client {
                        Some(client) => upload_face(&client, &path).await,
                        None => Err(FaceRefusal::other("the video server is not running")),
                    };
                    send(Event::FaceUploaded { path, result });
                });
            }
            Effect::UploadVoice { path, pitch } => {
                let client = self.clients.borrow()[index(Role::Audio)].clone();
                tokio::spawn(async move {
                    let (result, index_problem) = match client {
                        Some(client) => studio_run::voice_file::upload(&client, &path, pitch).await,
                        None => (Err("the audio server is not running".to_string()), None),
                    };
                    send(Event::VoiceUploaded {
                        path,
                        result,
                        index_problem,
                    });
                });
            }
            Effect::SetGains {
                input_db,
                output_db,
            } => {
                self.levels.set_input_gain_db(input_db);
                self.levels.set_output_gain_db(output_db);
            }
            Effect::PickFile(kind) => {
                tokio::spawn(async move {
                    let dialog = rfd::AsyncFileDialog::new();
                    let dialog = match kind {
                        PickKind::Face => dialog
                            .set_title("Choose a face photo")
                            .add_filter("Photos", &["png", "jpg", "jpeg", "webp"]),
                        PickKind::Video => dialog
                            .set_title("Choose a video file")
                            .add_filter("Y4M video", &["y4m"]),
                        PickKind::Voice => dialog
                            .set_title("Choose an RVC v2 voice")
                            .add_filter("RVC voice (ONNX)", &["onnx"]),
                    };
                    // Cancelled, or no dialog on this desktop: the path field stays.
                    let picked = dialog.pick_file().await.map(|f| f.path().to_path_buf());
                    send(Event::Picked(kind, picked));
                });
            }
            Effect::FetchFaceModels | Effect::FetchMaskModel(_) => {
                let ids: Vec<&'static str> = match effect {
                    Effect::FetchMaskModel(id) => vec![id],
                    _ => FACE_MODEL_IDS.to_vec(),
                };
                let Some(client) = self.clients.borrow()[index(Role::Video)].clone() else {
                    return;
                };
                tokio::spawn(async move {
                    for id in ids {
                        // Progress comes with the server's status; a refusal is told at once.
                        if let Err(e) = client.fetch_model(id).await {
                            send(Event::FaceModelsRefused(format!(
                                "The video server would not fetch {id}: {}",
                                e.plain()
                            )));
                            return;
                        }
                    }
                });
            }
            Effect::FetchSwapperModels(ids) => {
                let Some(client) = self.clients.borrow()[index(Role::Video)].clone() else {
                    return;
                };
                tokio::spawn(async move {
                    for id in ids {
                        if let Err(e) = client.fetch_model(&id).await {
                            send(Event::FaceModelsRefused(format!(
                                "The video server would not fetch {id}: {}",
                                e.plain()
                            )));
                            return;
                        }
                    }
                });
            }
            Effect::FetchVoices => {
                let Some(client) = self.clients.borrow()[index(Role::Audio)].clone() else {
                    return;
                };
                tokio::spawn(async move {
                    let result = client
                        .voices()
                        .await
                        .map(|list| list.voices)
                        .map_err(|e| e.plain());
                    send(Event::Voices(result));
                });
            }
            Effect::CheckApiKey => {
                tokio::task::spawn_blocking(move || send(Event::ApiKey(crate::secrets::check())));
            }
            Effect::SaveApiKey(key) => {
                tokio::task::spawn_blocking(move || {
                    send(Event::ApiKey(crate::secrets::save(key.expose())));
                });
            }
        }
    }

    /// Start a run on local servers, or on two cloud pods (`cloud`).
    fn start_run(
        &mut self,
        camera: Camera,
        controls: Vec<(Role, studio_proto::control::Control)>,
        devices: RunDevices,
        cloud: bool,
    ) {
        let send = self.event_sender();
        let manager = match &self.manager {
            Ok(manager) => Some(manager.clone()),
            // Cloud runs need no local server binary.
            Err(_) if cloud => None,
            Err(e) => {
                send(Event::RunEnded(Err(e.clone())));
                return;
            }
        };
        let live = Arc::new(LiveControls::new());
        for (role, control) in controls {
            live.set(role, control);
        }
        let input = video_input(&camera);
        let (camera_tx, camera_rx) = watch::channel(input.clone());
        let (tap, previews, mut tap_events) = RunTap::new(Some(camera_rx));
        self.previews.send_replace(Some(previews));
        let stop = CancellationToken::new();
        self.run = Some(ActiveRun {
            stop: stop.clone(),
            controls: live.clone(),
            camera: camera_tx,
        });

        let inputs = self.inputs.clone();
        tokio::spawn(async move {
            while let Some(event) = tap_events.recv().await {
                let input = match event {
                    TapEvent::Manager(event) => Input::Event(Event::Manager(event)),
                    TapEvent::Server(role, info) => Input::Server(role, info),
                    TapEvent::Session(role, open) => Input::Event(Event::Session(role, open)),
                    TapEvent::Latency(role, ms) => Input::Event(Event::Latency(role, ms)),
                    TapEvent::CameraFailed(e) => Input::Event(Event::CameraFailed(e)),
                    TapEvent::CameraState(words) => Input::Event(Event::CameraState(words)),
                    TapEvent::DeviceProblem(problem) => Input::Event(Event::DeviceProblem(problem)),
                    TapEvent::ControlAnswered {
                        role,
                        control,
                        refused,
                    } => Input::Event(Event::ControlAnswered {
                        role,
                        control,
                        refused,
                    }),
                };
                if inputs.send(input).is_err() {
                    break;
                }
            }
        });

        let config = self.config.clone();
        let levels = self.levels.clone();
        tokio::spawn(async move {
            let servers = if cloud {
                // Nothing is sent without a key.
                match crate::secrets::api_key().await {
                    Ok(key) => {
                        let send = send.clone();
                        Servers::Cloud {
                            key,
                            on_step: Arc::new(move |p: &studio_cloud::Progress| {
                                if let Some(price) = &p.price {
                                    send(Event::CloudPrice(price.clone()));
                                }
                                send(Event::CloudStep(p.to_string()))
                            }),
                        }
                    }
                    Err(e) => {
                        send(Event::RunEnded(Err(format!("{e:#}"))));
                        return;
                    }
                }
            } else {
                let Some(manager) = manager else { return };
                Servers::Local(manager)
            };
            let spec = RunSpec {
                video_in: input,
                audio_in: audio_input(&devices.microphone),
                microphone_fallback: true,
                virtual_camera: devices.virtual_camera,
                virtual_microphone: devices.virtual_microphone,
                monitor: devices.monitor.clone(),
                controls: live,
                levels,
                lip_sync: true,
                // The window's cloud runs go through WebRTC, as real pods need.
                transport: if cloud {
                    Transport::Webrtc
                } else {
                    Transport::Raw
                },
                tap: Some(tap),
                ..RunSpec::new(servers)
            };
            // Pods are deleted and local servers stopped before this ends, however the run
            // ends. Stopped while its servers were still starting (perhaps downloading
            // models), a run ends without a report, and that is no error.
            let result = match studio_run::run(&config, spec, stop).await {
                Err(e) if e.is::<StoppedEarly>() => Ok(()),
                other => other.map(|_| ()),
            };
            send(Event::RunEnded(result.map_err(|e| format!("{e:#}"))));
        });
    }
}

/// Follow a server's status events until the task is aborted (the server went away).
async fn watch_status(client: ServerClient, inputs: mpsc::UnboundedSender<Input>) {
    loop {
        if let Ok(mut events) = client.events().await {
            while let Some(Ok(status)) = events.next().await {
                let event = Event::Status {
                    status: Box::new(status),
                    at: Instant::now(),
                };
                if inputs.send(Input::Event(event)).is_err() {
                    return;
                }
            }
        }
        tokio::time::sleep(EVENTS_RETRY).await;
    }
}

/// Send the image file at `path` to the video server: the face it found, or the server's
/// reason in its own words. Public so a test can run exactly what the window runs.
pub async fn upload_face(client: &ServerClient, path: &Path) -> Result<FaceAdded, FaceRefusal> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| FaceRefusal::other(format!("cannot read {}: {e}", path.display())))?;
    let image = FaceImage::from_bytes(bytes).ok_or_else(|| {
        FaceRefusal::other(format!(
            "{} is not a JPEG, PNG or WebP image",
            path.display()
        ))
    })?;
    client.upload_face(&image).await.map_err(|e| FaceRefusal {
        message: e.plain(),
        models_missing: e.code() == Some(error_code::FACE_MODELS_MISSING),
    })
}

/// Decode an image file and shrink it to a thumbnail.
pub fn load_thumbnail(path: &PathBuf) -> Result<Thumbnail, String> {
    let image = image::ImageReader::open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?
        .with_guessed_format()
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .decode()
        .map_err(|e| match e {
            image::ImageError::Unsupported(_) => {
                "this is not a PNG or JPEG image the studio can read".to_string()
            }
            other => format!("this image cannot be read: {other}"),
        })?;
    let (image_width, image_height) = (image.width(), image.height());
    let small = image.thumbnail(THUMBNAIL_SIZE, THUMBNAIL_SIZE).into_rgba8();
    Ok(Thumbnail {
        width: small.width(),
        height: small.height(),
        rgba: small.into_raw(),
        image_width,
        image_height,
    })
}
