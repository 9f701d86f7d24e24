//! The app's one state store: events from the server manager, the servers, the sessions and
//! the cloud come in, commands from the window come in, and it answers with the effects a
//! driver must carry out. No I/O and no clock of its own, so every state is reachable in a
//! test by feeding it events.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use studio_cloud::Secret;
use studio_devices::outputs::is_virtual_microphone;
use studio_proto::Role;
use studio_proto::api::{
    FaceAdded, ModelState, ServerStatus, SessionState, VoiceAdded, VoiceEntry, VoiceFilePitch,
    VoiceKind,
};
use studio_proto::config::{Config, DEFAULT_SWAPPER, ENHANCER_MODEL_IDS, FACE_MODEL_IDS};
use studio_proto::control::{
    Control, EnhanceEvery, EnhancerPace, MAX_PEOPLE, PersonWears, VOICE_FORMANT_RANGE,
    VOICE_KEY_RANGE,
};
use studio_run::manager::ManagerEvent;
use studio_run::voice_file::voice_name;

/// The face enhancer's strength until the person moves it: FaceFusion's default blend.
pub const DEFAULT_ENHANCE_STRENGTH: u8 = 80;

/// What the window says about an automatic enhancer rate: how often it runs for which frame
/// rate, and why it cannot keep up when it cannot. `None` for a rate the person chose.
pub fn enhancer_pace_text(pace: &EnhancerPace) -> Option<String> {
    if !pace.automatic {
        return None;
    }
    let fps = pace.fps.round();
    Some(match (&pace.limit, pace.every) {
        (Some(limit), n) => format!("Enhancer: every {} frame; {limit}.", ordinal(n)),
        (None, 1) => format!("Enhancer: every frame, keeping {fps} fps."),
        (None, n) => format!("Enhancer: every {} frame to keep {fps} fps.", ordinal(n)),
    })
}

/// `2nd`, `3rd`, `11th`, `21st`.
fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// The most frames the window lets one enhancer answer serve (the server takes up to 30;
/// beyond a few the restored detail visibly lags the face).
pub const MAX_ENHANCE_EVERY: u32 = 4;

/// Where the servers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    LocalGpu,
    Cloud,
}

/// What the studio as a whole is doing.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    Idle,
    /// Servers are starting (and may be downloading models).
    Starting,
    Running,
    Stopping,
}

/// What the camera is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Camera {
    TestPattern,
    VideoFile(PathBuf),
    /// A camera the system lists: what `camera:` takes, and its name.
    Device {
        spec: String,
        name: String,
    },
}

impl Camera {
    pub fn label(&self) -> String {
        match self {
            Camera::TestPattern => "Test pattern".into(),
            Camera::VideoFile(path) => file_name(path),
            Camera::Device { name, .. } => name.clone(),
        }
    }
}

/// Where the run's sound comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Microphone {
    /// A steady tone: every part of the studio can be tried without a microphone.
    TestTone,
    /// The system's default microphone.
    Default,
    /// A microphone by the name the system lists.
    Named(String),
}

impl Microphone {
    pub fn label(&self) -> String {
        match self {
            Microphone::TestTone => "Test tone".into(),
            Microphone::Default => "Default microphone".into(),
            Microphone::Named(name) => name.clone(),
        }
    }
}

/// The devices a run uses besides the camera.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDevices {
    pub microphone: Microphone,
    /// Send the processed picture to the virtual camera that call apps list.
    pub virtual_camera: bool,
    /// Send the processed voice to the virtual microphone that call apps list.
    pub virtual_microphone: bool,
    /// Hear yourself: the processed voice also plays on this output (`""` is the default
    /// output); `None` is off.
    pub monitor: Option<String>,
}

impl RunDevices {
    /// No real device: a tone in, files and previews only.
    pub fn none() -> RunDevices {
        RunDevices {
            microphone: Microphone::TestTone,
            virtual_camera: false,
            virtual_microphone: false,
            monitor: None,
        }
    }

    /// What a person starting the studio wants: their microphone in, both virtual devices out.
    pub fn everyday() -> RunDevices {
        RunDevices {
            microphone: Microphone::Default,
            virtual_camera: true,
            virtual_microphone: true,
            monitor: None,
        }
    }
}

/// The real devices: what the system lists, what the next run uses, and what went wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct DevicePanel {
    /// Cameras found, as (what `camera:` takes, name).
    pub cameras: Vec<(String, String)>,
    pub microphones: Vec<String>,
    /// Outputs the monitor may play on (virtual microphones and cables left out).
    pub speakers: Vec<String>,
    pub chosen: RunDevices,
    /// Devices this run could not use, each with its fix (the run goes on without them).
    pub problems: Vec<String>,
    /// What happened to the camera while it is not streaming (unplugged, stopped answering).
    pub camera_state: Option<String>,
}

/// A server process as the manager reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Process {
    NotRunning,
    Starting,
    Ready { pid: u32 },
    Restarting { after: Duration, reason: String },
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelView {
    pub id: String,
    pub state: ModelState,
    pub bytes_done: u64,
    pub bytes_total: Option<u64>,
    pub error: Option<String>,
}

impl ModelView {
    /// Share of the download done, when the size is known.
    pub fn fraction(&self) -> Option<f32> {
        match (self.state, self.bytes_total) {
            (ModelState::Ready | ModelState::Loading | ModelState::Verifying, _) => Some(1.0),
            (_, Some(total)) if total > 0 => Some((self.bytes_done as f64 / total as f64) as f32),
            _ => None,
        }
    }
}

/// One server's card.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerCard {
    pub role: Role,
    pub process: Process,
    pub engine: Option<String>,
    pub backend: Option<String>,
    pub device: Option<String>,
    pub models: Vec<ModelView>,
    /// Frames (video) or blocks (audio) processed per second, from the last two statuses.
    pub rate_per_s: Option<f64>,
    pub process_ms: Option<f64>,
    /// Capture-to-return latency of the newest frame or block.
    pub latency_ms: Option<f64>,
    pub session_open: bool,
    /// How often the session's face enhancer runs, while one is on (video).
    pub enhancer: Option<EnhancerPace>,
    last_total: Option<(Instant, u64)>,
}

impl ServerCard {
    fn new(role: Role) -> ServerCard {
        ServerCard {
            role,
            process: Process::NotRunning,
            engine: None,
            backend: None,
            device: None,
            models: Vec::new(),
            rate_per_s: None,
            process_ms: None,
            latency_ms: None,
            session_open: false,
            enhancer: None,
            last_total: None,
        }
    }

    fn reset(&mut self) {
        *self = ServerCard::new(self.role);
    }
}

/// A decoded target-face image, small enough to show as a thumbnail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail {
    pub width: u32,
    pub height: u32,
    /// RGBA, row by row.
    pub rgba: Vec<u8>,
    /// The original image's size, for mapping the face box.
    pub image_width: u32,
    pub image_height: u32,
}

/// A face box in the original image's pixels: its top-left and bottom-right corners, as the
/// detector gives them (`FaceAdded::bbox`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl FaceBox {
    /// The box of a `POST /v1/faces` answer, `[x1, y1, x2, y2]`.
    pub fn from_bbox([x1, y1, x2, y2]: [f32; 4]) -> FaceBox {
        FaceBox { x1, y1, x2, y2 }
    }

    pub fn width(&self) -> f32 {
        self.x2 - self.x1
    }

    pub fn height(&self) -> f32 {
        self.y2 - self.y1
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum FaceImage {
    Loading,
    Loaded(Arc<Thumbnail>),
    Unreadable(String),
}

/// One row of face mapping: the person the face `person` shows wears the face `wears` (both
/// indices into the faces list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonRow {
    pub person: usize,
    pub wears: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FaceUpload {
    /// Not sent yet: it goes to the video server once one runs and the face is chosen.
    NotSent,
    Sending,
    Detected {
        face_id: String,
        face_box: FaceBox,
    },
    Failed(String),
    /// The video server has no face models yet: the window offers to fetch them, and the
    /// face goes again once they are ready.
    NeedsModels(String),
}

/// Why the video server refused a face.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceRefusal {
    pub message: String,
    /// The face models are configured but not downloaded (`face_models_missing`).
    pub models_missing: bool,
}

impl FaceRefusal {
    pub fn other(message: impl Into<String>) -> FaceRefusal {
        FaceRefusal {
            message: message.into(),
            models_missing: false,
        }
    }
}

/// One file the face swap needs, as the configuration describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFile {
    pub id: String,
    pub bytes: Option<u64>,
    pub license: String,
}

/// The offer to fetch the face models, shown while a face waits for them.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceModelsOffer {
    pub files: Vec<ModelFile>,
    /// Asked for: the video server is downloading them (progress on its card).
    pub fetching: bool,
}

impl FaceModelsOffer {
    /// The size of all files, when every size is known.
    pub fn total_bytes(&self) -> Option<u64> {
        self.files.iter().map(|f| f.bytes).sum()
    }

    /// The licences, each once.
    pub fn licenses(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for f in &self.files {
            if !out.contains(&f.license.as_str()) {
                out.push(&f.license);
            }
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FaceEntry {
    pub path: PathBuf,
    pub image: FaceImage,
    pub upload: FaceUpload,
    /// Why the video server's session would not wear this face, when it refused it (the
    /// choice went back to the face it wore before).
    pub refused: Option<String>,
}

impl FaceEntry {
    pub fn name(&self) -> String {
        file_name(&self.path)
    }
}

/// A voice the window offers: as the audio server lists it, or, before any server has
/// answered (or for one it does not list), as the configuration names it.
#[derive(Debug, Clone, PartialEq)]
pub enum VoiceOption {
    Served(VoiceEntry),
    Configured {
        id: String,
        name: String,
        kind: VoiceKind,
    },
}

impl VoiceOption {
    pub fn id(&self) -> &str {
        match self {
            VoiceOption::Served(entry) => &entry.id,
            VoiceOption::Configured { id, .. } => id,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            VoiceOption::Served(entry) => &entry.name,
            VoiceOption::Configured { name, .. } => name,
        }
    }

    pub fn kind(&self) -> VoiceKind {
        match self {
            VoiceOption::Served(entry) => entry.kind,
            VoiceOption::Configured { kind, .. } => *kind,
        }
    }

    /// `None`: no audio server has said yet.
    pub fn ready(&self) -> Option<bool> {
        match self {
            VoiceOption::Served(entry) => Some(entry.ready),
            VoiceOption::Configured { .. } => None,
        }
    }
}

/// A voice file the person added: sent to each audio server the studio runs.
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceFile {
    pub path: PathBuf,
    /// The id the audio server gave it (the same file always gets the same one).
    pub id: Option<String>,
    pub upload: VoiceFileUpload,
}

impl VoiceFile {
    pub fn name(&self) -> String {
        voice_name(&self.path)
    }
}

/// Where a voice file stands with the running audio server.
#[derive(Debug, Clone, PartialEq)]
pub enum VoiceFileUpload {
    /// Not sent to this server yet (sent once it runs).
    NotSent,
    Sending,
    /// The server has it; its readiness is in the voice list.
    Added,
    /// The server would not take it: why.
    Failed(String),
}

/// A setting a server's session would not take, and the server's reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// What was refused (a voice id).
    pub id: String,
    pub reason: String,
}

/// Where the RunPod API key stands.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiKey {
    NotChecked,
    Missing,
    /// In the OS keyring.
    Stored,
    /// From the `RUNPOD_API_KEY` environment variable.
    FromEnvironment,
    /// The keyring cannot be used here: why, in plain words.
    KeyringUnavailable(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct CloudPanel {
    pub api_key: ApiKey,
    pub gpu_types: Vec<String>,
    pub gpu_choice: usize,
    pub max_hourly_usd: f64,
    /// What the pods cost: quoted before they are created, then RunPod's `cost` while they
    /// run; `None` when no run is under way.
    pub price: Option<studio_cloud::Price>,
}

/// A message for the person at the top of the window.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub text: String,
    pub is_error: bool,
}

/// Everything the window shows. Cheap to clone (thumbnails are shared).
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub mode: Mode,
    pub phase: Phase,
    pub camera: Camera,
    pub camera_error: Option<String>,
    pub devices: DevicePanel,
    pub faces: Vec<FaceEntry>,
    pub chosen_face: Option<usize>,
    /// Face mapping: who in the picture wears which face, as indices into `faces` (at most
    /// `MAX_PEOPLE` rows).
    pub people: Vec<PersonRow>,
    /// Shown while a face waits for the face models.
    pub face_models: Option<FaceModelsOffer>,
    /// The person's own mouth is kept over the swapped face.
    pub keep_mouth: bool,
    /// The swapped face takes the room's light (on by default).
    pub match_colours: bool,
    /// What is in front of the face (hands, glasses, a microphone) is kept over the swapped
    /// face, through the occlusion model (off by default).
    pub keep_occluders: bool,
    /// The person's own hair, ears and neck are kept: the swapped face is pasted only where the
    /// face parser sees the face itself (off by default).
    pub keep_hair: bool,
    /// The face enhancer restoring the swapped face (a `models` id), or `None` (the default).
    pub enhancer: Option<String>,
    /// How much of the enhanced face shows, 0 to 100.
    pub enhance_strength: u8,
    /// How often the enhancer's network runs: automatic (the default: the video server
    /// picks the smallest N that keeps up with the camera) or every N frames.
    pub enhance_every: EnhanceEvery,
    /// Every face in the picture is swapped (a bounded number, largest first), not only the
    /// largest (off by default).
    pub all_faces: bool,
    /// The face is swapped at this many times the swapper's size, in tiles (1, 2 or 4; 1 by
    /// default: more costs the swapper 4 or 16 times as much).
    pub pixel_boost: u32,
    /// The swapper the video server runs (a `models` id; `inswapper_128` by default).
    pub swapper: String,
    /// The swappers on offer, each with its licence, the default first.
    pub swappers: Vec<SwapperChoice>,
    pub voices: Vec<VoiceOption>,
    /// Voices added from files, in the order they were added.
    pub voice_files: Vec<VoiceFile>,
    /// Voice files find their pitch with RMVPE (a download, steadier) rather than YIN.
    pub accurate_pitch: bool,
    /// Every voice's pitch and timbre moved by this many semitones: `(key, formant)`.
    pub voice_shift: (f32, f32),
    /// Why the server's voice list is missing, if it is.
    pub voices_message: Option<String>,
    pub chosen_voice: Option<String>,
    /// The voice the audio server refused last (the choice went back to the voice before).
    pub voice_refused: Option<Refusal>,
    pub talk_key: String,
    pub talking: bool,
    /// The own-voice button is held: the voice goes out unconverted.
    pub own_voice: bool,
    pub input_gain_db: f32,
    pub output_gain_db: f32,
    /// Why the talk key only works while the window has focus, when it does.
    pub talk_key_problem: Option<String>,
    pub servers: [ServerCard; 2],
    pub cloud: CloudPanel,
    pub notice: Option<Notice>,
}

impl Snapshot {
    pub fn server(&self, role: Role) -> &ServerCard {
        &self.servers[role_index(role)]
    }

    /// Start is offered (and not Stop).
    pub fn can_start(&self) -> bool {
        matches!(self.phase, Phase::Idle)
    }
}

/// What the window asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Start,
    Stop,
    SetMode(Mode),
    SetCamera(Camera),
    /// Takes effect at the next start (a microphone is opened with the run).
    ChooseMicrophone(Microphone),
    /// Virtual camera on or off, for the next start.
    UseVirtualCamera(bool),
    /// Virtual microphone on or off, for the next start.
    UseVirtualMicrophone(bool),
    /// Hear yourself on this output (`""`: the default one), or not (`None`), from the next
    /// start.
    UseMonitor(Option<String>),
    /// Look for cameras and microphones again.
    RefreshDevices,
    AddFace(PathBuf),
    /// An RVC v2 voice (`.onnx`): sent to the audio server, chosen once it is ready.
    AddVoice(PathBuf),
    /// Voice files sent from now on use RMVPE for pitch (`true`) or YIN.
    AccuratePitch(bool),
    /// Files dropped on the window: images become faces, a Y4M file the camera.
    Dropped(Vec<PathBuf>),
    /// Open the system's file dialog for a face photo or a video file.
    Pick(PickKind),
    /// `None`: no face swap.
    ChooseFace(Option<usize>),
    /// Keep the person's own mouth over the swapped face (natural speech), or not.
    KeepMouth(bool),
    /// Match the swapped face's colours to the room's light, or not.
    MatchColours(bool),
    /// Move every voice's pitch (`key`) and timbre (`formant`) by so many semitones, kept
    /// within what the audio server takes.
    ShiftVoice {
        key: f32,
        formant: f32,
    },
    /// Move every voice's pitch alone, the timbre as it is now (a slider's change: the other
    /// slider's value in the window may be a frame old).
    ShiftVoiceKey(f32),
    /// Move every voice's timbre alone, the pitch as it is now.
    ShiftVoiceFormant(f32),
    /// Keep what is in front of the face over the swapped face, or not.
    KeepOccluders(bool),
    /// Keep the person's own hair, ears and neck over the swapped face, or not.
    KeepHair(bool),
    /// Swap every face in the picture, or only the largest.
    AllFaces(bool),
    /// Face mapping: a new row (the first face not yet a person wears the chosen face).
    AddPerson,
    /// Face mapping: row `row` now has the person in face `person` wear face `wears`.
    SetPerson {
        row: usize,
        person: usize,
        wears: usize,
    },
    /// Face mapping: row `row` goes.
    RemovePerson(usize),
    /// Swap the face at 1, 2 or 4 times the swapper's size (other factors are ignored).
    PixelBoost(u32),
    /// Run this swapper (one of the snapshot's `swappers`; others are ignored).
    ChooseSwapper(String),
    /// Restore the swapped face with this face enhancer (one of `ENHANCER_MODEL_IDS`), or
    /// not.
    Enhancer(Option<String>),
    /// How much of the enhanced face shows, 0 to 100.
    EnhanceStrength(u8),
    /// Run the enhancer's network automatically or every N frames (1 to
    /// [`MAX_ENHANCE_EVERY`]).
    EnhanceEvery(EnhanceEvery),
    ChooseVoice(String),
    Talk(bool),
    /// The own-voice button: held, the voice goes out unconverted.
    OwnVoice(bool),
    /// The voice's gains, in dB: the microphone's before the server, the processed voice's
    /// after it.
    SetGains {
        input_db: f32,
        output_db: f32,
    },
    /// Typed into a password field: a [`Secret`] from there on, never printed.
    SaveApiKey(Secret),
    ChooseGpu(usize),
    SetPriceCap(f64),
    DismissNotice,
    /// Have the video server download the face models (the person read their licence).
    FetchFaceModels,
}

/// What happened outside.
#[derive(Debug, Clone)]
pub enum Event {
    Manager(ManagerEvent),
    /// The role's server is reachable (`true`) or not.
    ServerUp(Role, bool),
    Status {
        status: Box<ServerStatus>,
        at: Instant,
    },
    /// A path's session opened (`true`) or closed; once both are open, media flows.
    Session(Role, bool),
    Latency(Role, f64),
    /// The run ended, by a stop or a failure (its message).
    RunEnded(Result<(), String>),
    CameraFailed(String),
    /// Cameras (what `camera:` takes, name) and microphones found on this computer.
    Devices {
        cameras: Vec<(String, String)>,
        microphones: Vec<String>,
        speakers: Vec<String>,
    },
    /// A device the run could not use, with its fix; the run goes on without it.
    DeviceProblem(String),
    /// The camera went away (what happened) or streams again (`None`).
    CameraState(Option<String>),
    /// The desktop-wide talk key could not start (why); the window's own key still works.
    TalkKeyProblem(String),
    FaceLoaded {
        path: PathBuf,
        result: Result<Arc<Thumbnail>, String>,
    },
    FaceUploaded {
        path: PathBuf,
        result: Result<FaceAdded, FaceRefusal>,
    },
    /// The video server would not start fetching the face models (why).
    FaceModelsRefused(String),
    /// The audio server's answer to a voice file (and why the index beside it was not
    /// used, when one was there and refused).
    VoiceUploaded {
        path: PathBuf,
        result: Result<VoiceAdded, String>,
        index_problem: Option<String>,
    },
    /// Earlier choices that could not be taken back (a face file that is gone), in words.
    ChoicesGone(Vec<String>),
    /// The file dialog closed: the file picked, or `None` when it was cancelled.
    Picked(PickKind, Option<PathBuf>),
    Voices(Result<Vec<VoiceEntry>, String>),
    /// A session's answer to a face or voice it was sent: taken (`refused: None`) or not,
    /// with the server's reason.
    ControlAnswered {
        role: Role,
        control: Control,
        refused: Option<String>,
    },
    ApiKey(ApiKey),
    /// A cloud provisioning or deletion step, with its elapsed time.
    CloudStep(String),
    /// The pods' price became known (quoted, then running).
    CloudPrice(studio_cloud::Price),
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Start both servers and the media path with these settings in force.
    StartRun {
        camera: Camera,
        controls: Vec<(Role, Control)>,
        devices: RunDevices,
    },
    /// The same on two RunPod pods, created for the run and deleted after it.
    StartCloudRun {
        camera: Camera,
        controls: Vec<(Role, Control)>,
        devices: RunDevices,
    },
    /// List the cameras and microphones.
    ListDevices,
    StopRun,
    /// A live setting for the running sessions (and any that reconnect).
    Control(Role, Control),
    SwitchCamera(Camera),
    LoadFace(PathBuf),
    UploadFace(PathBuf),
    /// `POST /v1/voices` on the audio server.
    UploadVoice {
        path: PathBuf,
        pitch: VoiceFilePitch,
    },
    /// `POST /v1/models/{id}` on the video server for each face model.
    FetchFaceModels,
    /// `POST /v1/models/{id}` on the video server for a face mask's optional model (the
    /// occlusion model, the face parser; the server answers at once when it has the model).
    FetchMaskModel(&'static str),
    /// `POST /v1/models/{id}` on the video server for a swapper and the converter it needs
    /// (the server runs it once they are there).
    FetchSwapperModels(Vec<String>),
    /// The system's file dialog; what is picked comes back as [`Event::Picked`].
    PickFile(PickKind),
    SetGains {
        input_db: f32,
        output_db: f32,
    },
    FetchVoices,
    CheckApiKey,
    SaveApiKey(Secret),
}

fn role_index(role: Role) -> usize {
    match role {
        Role::Video => 0,
        Role::Audio => 1,
    }
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// What a file dialog is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickKind {
    Face,
    Video,
    Voice,
}

/// What a dropped file is, by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DroppedKind {
    Face,
    Video,
    Voice,
}

fn dropped_kind(path: &std::path::Path) -> Option<DroppedKind> {
    let extension = path.extension()?.to_str()?.to_ascii_lowercase();
    match extension.as_str() {
        "png" | "jpg" | "jpeg" | "webp" => Some(DroppedKind::Face),
        "y4m" => Some(DroppedKind::Video),
        "onnx" => Some(DroppedKind::Voice),
        _ => None,
    }
}

/// The store. Feed it with [`Store::command`] and [`Store::apply`]; read it with
/// [`Store::snapshot`].
pub struct Store {
    state: Snapshot,
    config_voices: Vec<VoiceOption>,
    /// The face models as the configuration lists them (sizes, licence) for the offer.
    face_model_files: Vec<ModelFile>,
    /// Whether the driver has a client for each role's server ([`Event::ServerUp`]).
    reachable: [bool; 2],
    /// What the running sessions last took: where a refused choice goes back to.
    accepted_voice: Option<String>,
    /// The voice last sent to the running sessions (a voice waiting for its models is not
    /// sent until it is ready).
    sent_voice: Option<String>,
    /// The voice file added last: chosen once the audio server has it.
    wanted_voice_file: Option<PathBuf>,
    accepted_face: Option<String>,
}

impl Store {
    /// A store whose runs use no real device until the person picks them (see
    /// [`Store::with_devices`]).
    pub fn new(config: &Config) -> Store {
        Store::with_devices(config, RunDevices::none())
    }

    /// A store whose runs start with `devices`.
    pub fn with_devices(config: &Config, devices: RunDevices) -> Store {
        let config_voices = voices_from_config(config);
        Store {
            state: Snapshot {
                mode: Mode::LocalGpu,
                phase: Phase::Idle,
                camera: Camera::TestPattern,
                camera_error: None,
                devices: DevicePanel {
                    cameras: Vec::new(),
                    microphones: Vec::new(),
                    speakers: Vec::new(),
                    chosen: devices,
                    problems: Vec::new(),
                    camera_state: None,
                },
                faces: Vec::new(),
                chosen_face: None,
                people: Vec::new(),
                face_models: None,
                keep_mouth: false,
                match_colours: true,
                keep_occluders: false,
                keep_hair: false,
                enhancer: None,
                enhance_strength: DEFAULT_ENHANCE_STRENGTH,
                enhance_every: EnhanceEvery::Auto,
                all_faces: false,
                pixel_boost: 1,
                swapper: DEFAULT_SWAPPER.to_string(),
                swappers: swappers_from_config(config),
                voices: config_voices.clone(),
                voice_files: Vec::new(),
                accurate_pitch: false,
                voice_shift: (0.0, 0.0),
                voices_message: None,
                chosen_voice: None,
                voice_refused: None,
                talk_key: config.talk.key.clone(),
                talking: false,
                own_voice: false,
                input_gain_db: 0.0,
                output_gain_db: 0.0,
                talk_key_problem: None,
                servers: [ServerCard::new(Role::Video), ServerCard::new(Role::Audio)],
                cloud: CloudPanel {
                    api_key: ApiKey::NotChecked,
                    gpu_types: config.cloud.runpod.gpu_types.clone(),
                    gpu_choice: 0,
                    max_hourly_usd: config.cloud.runpod.max_hourly_usd,
                    price: None,
                },
                notice: None,
            },
            config_voices,
            face_model_files: FACE_MODEL_IDS
                .iter()
                .filter_map(|id| {
                    config.models.get(*id).map(|entry| ModelFile {
                        id: (*id).to_string(),
                        bytes: entry.bytes,
                        license: entry.license.clone(),
                    })
                })
                .collect(),
            reachable: [false; 2],
            accepted_voice: None,
            sent_voice: None,
            wanted_voice_file: None,
            accepted_face: None,
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        self.state.clone()
    }

    fn running(&self) -> bool {
        matches!(self.state.phase, Phase::Starting | Phase::Running)
    }

    /// The role's server is ready and the driver can reach it. The two are told apart (the
    /// manager's event and the driver's client), in either order.
    fn server_up(&self, role: Role) -> bool {
        self.reachable[role_index(role)]
            && matches!(
                self.state.servers[role_index(role)].process,
                Process::Ready { .. }
            )
    }

    fn error(&mut self, text: impl Into<String>) {
        self.state.notice = Some(Notice {
            text: text.into(),
            is_error: true,
        });
    }

    fn info(&mut self, text: impl Into<String>) {
        self.state.notice = Some(Notice {
            text: text.into(),
            is_error: false,
        });
    }

    /// The settings a new run starts with.
    fn initial_controls(&mut self) -> Vec<(Role, Control)> {
        let mut controls = vec![(
            Role::Video,
            Control::SetFace {
                face_id: self.chosen_face_id(),
            },
        )];
        if self.state.keep_mouth {
            controls.push((Role::Video, Control::MouthMask { on: true }));
        }
        // The masks and the enhancer, as their models' fetch at each start finds them.
        controls.extend(self.mask_controls().into_iter().map(|c| (Role::Video, c)));
        if self.state.all_faces {
            controls.push((Role::Video, Control::AllFaces { on: true }));
        }
        // Faces already known to the server; the others follow as their uploads end.
        if let Some(pairs) = self.people_pairs().filter(|p| !p.is_empty()) {
            controls.push((Role::Video, Control::MapPeople { pairs }));
        }
        if self.state.swapper != DEFAULT_SWAPPER {
            controls.push((
                Role::Video,
                Control::Swapper {
                    model_id: self.state.swapper.clone(),
                },
            ));
        }
        if self.state.pixel_boost != 1 {
            let factor = self.state.pixel_boost;
            controls.push((Role::Video, Control::PixelBoost { factor }));
        }
        if self.state.enhance_every != EnhanceEvery::Auto {
            controls.push((
                Role::Video,
                Control::EnhanceEvery {
                    frames: self.state.enhance_every,
                },
            ));
        }
        if self.state.enhance_strength != DEFAULT_ENHANCE_STRENGTH {
            controls.push((
                Role::Video,
                Control::EnhancerStrength {
                    strength: self.state.enhance_strength,
                },
            ));
        }
        // On is the server's default: only a change is sent.
        if !self.state.match_colours {
            controls.push((Role::Video, Control::ColourTransfer { on: false }));
        }
        let (key, formant) = self.state.voice_shift;
        if (key, formant) != (0.0, 0.0) {
            controls.push((Role::Audio, Control::VoiceShift { key, formant }));
        }
        // A voice from a file goes once the new server has the file (see `sync_voice`).
        if let Some(voice) = self
            .state
            .chosen_voice
            .clone()
            .filter(|v| self.voice_sendable(v))
        {
            self.sent_voice = Some(voice.clone());
            controls.push((Role::Audio, Control::SetVoice { voice_id: voice }));
        }
        controls.push((
            Role::Audio,
            Control::Talk {
                active: self.state.talking,
            },
        ));
        controls
    }

    /// Whether the audio server can take voice `id` now: a voice file it has not been sent,
    /// or one it lists as not ready (waiting for its models), would be refused.
    fn voice_sendable(&self, id: &str) -> bool {
        let file_unsent = self
            .state
            .voice_files
            .iter()
            .any(|f| f.id.as_deref() == Some(id) && f.upload != VoiceFileUpload::Added);
        let not_ready = self
            .state
            .voices
            .iter()
            .any(|v| v.id() == id && v.ready() == Some(false));
        !file_unsent && !not_ready
    }

    /// Sends the chosen voice to the running sessions once it can be taken and was not sent.
    fn sync_voice(&mut self) -> Vec<Effect> {
        let Some(voice) = self.state.chosen_voice.clone() else {
            return Vec::new();
        };
        if !self.running()
            || self.sent_voice.as_ref() == Some(&voice)
            || !self.voice_sendable(&voice)
        {
            return Vec::new();
        }
        self.sent_voice = Some(voice.clone());
        vec![Effect::Control(
            Role::Audio,
            Control::SetVoice { voice_id: voice },
        )]
    }

    /// Sends the voice files the running audio server does not have yet.
    fn upload_voice_files(&mut self) -> Vec<Effect> {
        if !self.server_up(Role::Audio) {
            return Vec::new();
        }
        let pitch = if self.state.accurate_pitch {
            VoiceFilePitch::Rmvpe
        } else {
            VoiceFilePitch::Yin
        };
        self.state
            .voice_files
            .iter_mut()
            .filter(|f| f.upload == VoiceFileUpload::NotSent)
            .map(|f| {
                f.upload = VoiceFileUpload::Sending;
                Effect::UploadVoice {
                    path: f.path.clone(),
                    pitch,
                }
            })
            .collect()
    }

    /// Whether a voice file the server has is still on its way to ready (waiting for its
    /// models, or its first load and measurement).
    fn voice_files_settling(&self) -> bool {
        self.state.voice_files.iter().any(|f| {
            f.upload == VoiceFileUpload::Added
                && f.id.as_ref().is_some_and(|id| {
                    !self.state.voices.iter().any(|v| match v {
                        VoiceOption::Served(e) => &e.id == id && e.ready && e.convert_ms.is_some(),
                        VoiceOption::Configured { .. } => false,
                    })
                })
        })
    }

    fn chosen_face_id(&self) -> Option<String> {
        let entry = self.state.faces.get(self.state.chosen_face?)?;
        match &entry.upload {
            FaceUpload::Detected { face_id, .. } => Some(face_id.clone()),
            _ => None,
        }
    }

    /// Once the video server has every face model, the offer goes and the faces that waited
    /// for them go again; a model that failed offers the fetch again.
    fn face_models_progress(&mut self) -> Vec<Effect> {
        let Some(offer) = self.state.face_models.as_mut() else {
            return Vec::new();
        };
        let models = &self.state.servers[role_index(Role::Video)].models;
        let state = |id: &str| models.iter().find(|m| m.id == id).map(|m| m.state);
        if FACE_MODEL_IDS
            .iter()
            .all(|id| state(id) == Some(ModelState::Ready))
        {
            self.state.face_models = None;
            for face in &mut self.state.faces {
                if matches!(face.upload, FaceUpload::NeedsModels(_)) {
                    face.upload = FaceUpload::NotSent;
                }
            }
            return self.upload_chosen_face();
        }
        if FACE_MODEL_IDS
            .iter()
            .any(|id| state(id) == Some(ModelState::Failed))
        {
            offer.fetching = false;
        }
        Vec::new()
    }

    /// Upload the faces in use (the chosen one, and those of face mapping) that a video
    /// server can take and that have not gone yet.
    fn upload_chosen_face(&mut self) -> Vec<Effect> {
        if !self.server_up(Role::Video) {
            return Vec::new();
        }
        let mut in_use: Vec<usize> = self.state.chosen_face.into_iter().collect();
        for row in &self.state.people {
            in_use.extend([row.person, row.wears]);
        }
        in_use.sort_unstable();
        in_use.dedup();
        let mut effects = Vec::new();
        for i in in_use {
            let Some(entry) = self.state.faces.get_mut(i) else {
                continue;
            };
            if matches!(entry.image, FaceImage::Loaded(_)) && entry.upload == FaceUpload::NotSent {
                entry.upload = FaceUpload::Sending;
                effects.push(Effect::UploadFace(entry.path.clone()));
            }
        }
        effects
    }

    /// Face mapping as the video server takes it: `None` while a face of a row has no id
    /// from the server yet.
    fn people_pairs(&self) -> Option<Vec<PersonWears>> {
        let id = |i: usize| match &self.state.faces.get(i)?.upload {
            FaceUpload::Detected { face_id, .. } => Some(face_id.clone()),
            _ => None,
        };
        self.state
            .people
            .iter()
            .map(|row| {
                Some(PersonWears {
                    person: id(row.person)?,
                    wears: id(row.wears)?,
                })
            })
            .collect()
    }

    /// After face mapping changed: the faces it needs go up, and once the server knows them
    /// all the mapping goes live.
    fn people_changed(&mut self) -> Vec<Effect> {
        let mut effects = self.upload_chosen_face();
        if let Some(pairs) = self.people_pairs() {
            effects.extend(self.live(Role::Video, Control::MapPeople { pairs }));
        }
        effects
    }

    pub fn command(&mut self, command: Command) -> Vec<Effect> {
        match command {
            Command::Start => self.start(),
            Command::Stop => {
                if self.running() {
                    self.state.phase = Phase::Stopping;
                    self.state.notice = None;
                    vec![Effect::StopRun]
                } else {
                    Vec::new()
                }
            }
            Command::SetMode(mode) => {
                self.state.mode = mode;
                if mode == Mode::Cloud && self.state.cloud.api_key == ApiKey::NotChecked {
                    return vec![Effect::CheckApiKey];
                }
                Vec::new()
            }
            Command::SetCamera(camera) => {
                if camera == self.state.camera {
                    return Vec::new();
                }
                self.state.camera = camera.clone();
                self.state.camera_error = None;
                self.state.devices.camera_state = None;
                if self.running() {
                    vec![Effect::SwitchCamera(camera)]
                } else {
                    Vec::new()
                }
            }
            Command::ChooseMicrophone(microphone) => {
                if let Some(effects) = self.refuse_while_running("the microphone") {
                    return effects;
                }
                self.state.devices.chosen.microphone = microphone;
                Vec::new()
            }
            Command::UseVirtualCamera(on) => {
                if let Some(effects) = self.refuse_while_running("the virtual camera") {
                    return effects;
                }
                self.state.devices.chosen.virtual_camera = on;
                Vec::new()
            }
            Command::UseVirtualMicrophone(on) => {
                if let Some(effects) = self.refuse_while_running("the virtual microphone") {
                    return effects;
                }
                self.state.devices.chosen.virtual_microphone = on;
                Vec::new()
            }
            Command::UseMonitor(output) => {
                if let Some(effects) = self.refuse_while_running("hearing yourself") {
                    return effects;
                }
                if let Some(name) = output.as_deref().filter(|n| is_virtual_microphone(n)) {
                    self.error(format!(
                        "{name} is a virtual microphone: the voice goes there already. Choose \
                         your headphones or speakers to hear yourself."
                    ));
                    return Vec::new();
                }
                self.state.devices.chosen.monitor = output;
                Vec::new()
            }
            Command::RefreshDevices => vec![Effect::ListDevices],
            Command::AddFace(path) => {
                if let Some(i) = self.state.faces.iter().position(|f| f.path == path) {
                    return self.command(Command::ChooseFace(Some(i)));
                }
                self.state.faces.push(FaceEntry {
                    path: path.clone(),
                    image: FaceImage::Loading,
                    upload: FaceUpload::NotSent,
                    refused: None,
                });
                self.state.chosen_face = Some(self.state.faces.len() - 1);
                vec![Effect::LoadFace(path)]
            }
            Command::AddVoice(path) => self.add_voice(path),
            Command::AccuratePitch(on) => {
                self.state.accurate_pitch = on;
                Vec::new()
            }
            Command::Pick(kind) => vec![Effect::PickFile(kind)],
            Command::Dropped(paths) => {
                let mut effects = Vec::new();
                let mut refused = Vec::new();
                for path in paths {
                    match dropped_kind(&path) {
                        Some(DroppedKind::Face) => {
                            effects.extend(self.command(Command::AddFace(path)))
                        }
                        Some(DroppedKind::Video) => effects
                            .extend(self.command(Command::SetCamera(Camera::VideoFile(path)))),
                        Some(DroppedKind::Voice) => {
                            effects.extend(self.command(Command::AddVoice(path)))
                        }
                        None => refused.push(file_name(&path)),
                    }
                }
                if !refused.is_empty() {
                    self.error(format!(
                        "{} cannot be used: drop a face photo (PNG, JPEG or WebP), a Y4M video or an RVC voice (.onnx).",
                        refused.join(", ")
                    ));
                }
                effects
            }
            Command::ChooseFace(choice) => {
                let choice = choice.filter(|&i| i < self.state.faces.len());
                self.state.chosen_face = choice;
                let mut effects = Vec::new();
                if let Some(entry) = choice.and_then(|i| self.state.faces.get_mut(i)) {
                    // A new try: an old refusal no longer speaks for it.
                    entry.refused = None;
                    if matches!(entry.upload, FaceUpload::Failed(_)) {
                        // Choosing it again is the way to try again.
                        entry.upload = FaceUpload::NotSent;
                    }
                }
                effects.extend(self.upload_chosen_face());
                if self.running() && (choice.is_none() || self.chosen_face_id().is_some()) {
                    effects.push(Effect::Control(
                        Role::Video,
                        Control::SetFace {
                            face_id: self.chosen_face_id(),
                        },
                    ));
                }
                effects
            }
            Command::MatchColours(on) => {
                if !self.switch(|s| &mut s.match_colours, on) {
                    return Vec::new();
                }
                self.live(Role::Video, Control::ColourTransfer { on })
            }
            Command::ShiftVoiceKey(key) => {
                let formant = self.state.voice_shift.1;
                self.command(Command::ShiftVoice { key, formant })
            }
            Command::ShiftVoiceFormant(formant) => {
                let key = self.state.voice_shift.0;
                self.command(Command::ShiftVoice { key, formant })
            }
            Command::ShiftVoice { key, formant } => {
                // NaN (a broken slider or file) changes nothing.
                if key.is_nan() || formant.is_nan() {
                    return Vec::new();
                }
                let key = key.clamp(-VOICE_KEY_RANGE, VOICE_KEY_RANGE);
                let formant = formant.clamp(-VOICE_FORMANT_RANGE, VOICE_FORMANT_RANGE);
                if self.state.voice_shift == (key, formant) {
                    return Vec::new();
                }
                self.state.voice_shift = (key, formant);
                self.live(Role::Audio, Control::VoiceShift { key, formant })
            }
            Command::KeepMouth(on) => {
                if !self.switch(|s| &mut s.keep_mouth, on) {
                    return Vec::new();
                }
                self.live(Role::Video, Control::MouthMask { on })
            }
            Command::AllFaces(on) => {
                if !self.switch(|s| &mut s.all_faces, on) {
                    return Vec::new();
                }
                self.live(Role::Video, Control::AllFaces { on })
            }
            Command::AddPerson => {
                let faces = self.state.faces.len();
                if faces < 2 || self.state.people.len() >= MAX_PEOPLE {
                    return Vec::new();
                }
                let taken: Vec<usize> = self.state.people.iter().map(|r| r.person).collect();
                let person = (0..faces).find(|i| !taken.contains(i)).unwrap_or(0);
                let wears = self
                    .state
                    .chosen_face
                    .filter(|&c| c != person)
                    .unwrap_or(if person == 0 { 1 } else { 0 });
                self.state.people.push(PersonRow { person, wears });
                self.people_changed()
            }
            Command::SetPerson { row, person, wears } => {
                let faces = self.state.faces.len();
                let Some(entry) = self.state.people.get_mut(row) else {
                    return Vec::new();
                };
                if person >= faces || wears >= faces || *entry == (PersonRow { person, wears }) {
                    return Vec::new();
                }
                *entry = PersonRow { person, wears };
                self.people_changed()
            }
            Command::RemovePerson(row) => {
                if row >= self.state.people.len() {
                    return Vec::new();
                }
                self.state.people.remove(row);
                self.people_changed()
            }
            Command::ChooseSwapper(id) => {
                if self.state.swapper == id || !self.state.swappers.iter().any(|s| s.id == id) {
                    return Vec::new();
                }
                self.state.swapper = id.clone();
                let mut effects = self.live(
                    Role::Video,
                    Control::Swapper {
                        model_id: id.clone(),
                    },
                );
                if self.reachable[role_index(Role::Video)] {
                    effects.extend(self.fetch_swapper());
                }
                effects
            }
            Command::PixelBoost(factor) => {
                if self.state.pixel_boost == factor
                    || studio_proto::control::check_pixel_boost(factor).is_err()
                {
                    return Vec::new();
                }
                self.state.pixel_boost = factor;
                self.live(Role::Video, Control::PixelBoost { factor })
            }
            Command::KeepOccluders(on) => {
                if !self.switch(|s| &mut s.keep_occluders, on) {
                    return Vec::new();
                }
                self.mask_control(Control::Occlusion { on })
            }
            Command::KeepHair(on) => {
                if !self.switch(|s| &mut s.keep_hair, on) {
                    return Vec::new();
                }
                self.mask_control(Control::RegionMask { on })
            }
            Command::Enhancer(model) => {
                if let Some(id) = &model
                    && !ENHANCER_MODEL_IDS.contains(&id.as_str())
                {
                    self.info(format!("There is no face enhancer {id}."));
                    return Vec::new();
                }
                if self.state.enhancer == model {
                    return Vec::new();
                }
                self.state.enhancer = model.clone();
                self.mask_control(Control::Enhancer { model })
            }
            Command::EnhanceStrength(strength) => {
                let strength = strength.min(100);
                if self.state.enhance_strength == strength {
                    return Vec::new();
                }
                self.state.enhance_strength = strength;
                self.live(Role::Video, Control::EnhancerStrength { strength })
            }
            Command::EnhanceEvery(frames) => {
                let frames = match frames {
                    EnhanceEvery::Auto => EnhanceEvery::Auto,
                    EnhanceEvery::Frames(n) => EnhanceEvery::Frames(n.clamp(1, MAX_ENHANCE_EVERY)),
                };
                if self.state.enhance_every == frames {
                    return Vec::new();
                }
                self.state.enhance_every = frames;
                self.live(Role::Video, Control::EnhanceEvery { frames })
            }
            Command::ChooseVoice(id) => {
                // A choice made now wins over a voice file still on its way.
                self.wanted_voice_file = None;
                self.state.chosen_voice = Some(id);
                self.state.voice_refused = None;
                self.sync_voice()
            }
            Command::SetGains {
                input_db,
                output_db,
            } => {
                let (low, high) = studio_run::levels::GAIN_RANGE_DB;
                let clamp = |db: f32| {
                    if db.is_nan() {
                        0.0
                    } else {
                        db.clamp(low, high)
                    }
                };
                let (input_db, output_db) = (clamp(input_db), clamp(output_db));
                self.state.input_gain_db = input_db;
                self.state.output_gain_db = output_db;
                vec![Effect::SetGains {
                    input_db,
                    output_db,
                }]
            }
            Command::OwnVoice(active) => {
                if self.state.own_voice == active {
                    return Vec::new();
                }
                self.state.own_voice = active;
                self.live(Role::Audio, Control::PassThrough { active })
            }
            Command::Talk(active) => {
                if self.state.talking == active {
                    return Vec::new();
                }
                self.state.talking = active;
                self.live(Role::Audio, Control::Talk { active })
            }
            Command::SaveApiKey(key) => {
                let key = Secret::new(key.expose().trim());
                if key.is_empty() {
                    self.error("The RunPod API key is empty: paste the key from your RunPod account settings.");
                    return Vec::new();
                }
                vec![Effect::SaveApiKey(key)]
            }
            Command::FetchFaceModels => {
                if !self.server_up(Role::Video) {
                    self.error("Start first: the video server downloads the face models.");
                    return Vec::new();
                }
                match self.state.face_models.as_mut() {
                    Some(offer) if !offer.fetching => {
                        offer.fetching = true;
                        vec![Effect::FetchFaceModels]
                    }
                    _ => Vec::new(),
                }
            }
            Command::ChooseGpu(i) => {
                if i < self.state.cloud.gpu_types.len() {
                    self.state.cloud.gpu_choice = i;
                }
                Vec::new()
            }
            Command::SetPriceCap(usd) => {
                if usd.is_finite() && usd > 0.0 {
                    self.state.cloud.max_hourly_usd = usd;
                }
                Vec::new()
            }
            Command::DismissNotice => {
                self.state.notice = None;
                Vec::new()
            }
        }
    }

    fn start(&mut self) -> Vec<Effect> {
        if !self.state.can_start() {
            return Vec::new();
        }
        let cloud = self.state.mode == Mode::Cloud;
        if cloud
            && !matches!(
                self.state.cloud.api_key,
                ApiKey::Stored | ApiKey::FromEnvironment
            )
        {
            self.error(
                "Cloud mode needs a RunPod API key: enter it in the Cloud panel, or switch to Local GPU.",
            );
            return Vec::new();
        }
        self.state.phase = Phase::Starting;
        self.state.notice = None;
        // New servers: nothing is in force on them until they say so.
        self.accepted_voice = None;
        self.accepted_face = None;
        for card in &mut self.state.servers {
            card.reset();
            card.process = Process::Starting;
        }
        self.state.devices.problems.clear();
        self.state.devices.camera_state = None;
        let (camera, controls) = (self.state.camera.clone(), self.initial_controls());
        let devices = self.state.devices.chosen.clone();
        if cloud {
            vec![Effect::StartCloudRun {
                camera,
                controls,
                devices,
            }]
        } else {
            vec![Effect::StartRun {
                camera,
                controls,
                devices,
            }]
        }
    }

    /// The chosen swapper's models for the video server to fetch; none for the default one
    /// (it comes with the face models).
    fn fetch_swapper(&self) -> Option<Effect> {
        let id = &self.state.swapper;
        let converter = studio_proto::config::swapper_converter(id).ok()?;
        (id != DEFAULT_SWAPPER).then(|| {
            Effect::FetchSwapperModels(
                std::iter::once(id.clone())
                    .chain(converter.map(str::to_string))
                    .collect(),
            )
        })
    }

    /// A live setting for the running sessions; nothing while no run is under way (the next
    /// start carries the state).
    fn live(&self, role: Role, control: Control) -> Vec<Effect> {
        if self.running() {
            vec![Effect::Control(role, control)]
        } else {
            Vec::new()
        }
    }

    /// A face mask turned on or off: the control, and when on while the video server answers,
    /// the fetch of its model.
    fn mask_control(&mut self, control: Control) -> Vec<Effect> {
        let fetch = control.needs_model();
        let mut effects = self.live(Role::Video, control);
        if let Some(id) = fetch
            && self.reachable[role_index(Role::Video)]
        {
            effects.push(Effect::FetchMaskModel(id));
        }
        effects
    }

    /// Set the switch `field` of the snapshot to `on`; whether that changed it.
    fn switch(&mut self, field: fn(&mut Snapshot) -> &mut bool, on: bool) -> bool {
        let value = field(&mut self.state);
        let changed = *value != on;
        *value = on;
        changed
    }

    /// The face masks and the enhancer that are on, as their controls (each may need a model).
    fn mask_controls(&self) -> Vec<Control> {
        let mut on = Vec::new();
        if self.state.keep_occluders {
            on.push(Control::Occlusion { on: true });
        }
        if self.state.keep_hair {
            on.push(Control::RegionMask { on: true });
        }
        if let Some(model) = &self.state.enhancer {
            on.push(Control::Enhancer {
                model: Some(model.clone()),
            });
        }
        on
    }

    /// Devices are opened with the run: changing one means stopping first, and saying so.
    fn refuse_while_running(&mut self, what: &str) -> Option<Vec<Effect>> {
        if self.state.can_start() {
            return None;
        }
        self.info(format!("Stop the studio to change {what}."));
        Some(Vec::new())
    }

    pub fn apply(&mut self, event: Event) -> Vec<Effect> {
        match event {
            Event::Manager(event) => self.manager_event(event),
            Event::ServerUp(role, up) => {
                self.reachable[role_index(role)] = up;
                if !up {
                    return Vec::new();
                }
                match role {
                    Role::Video => {
                        let mut effects = self.upload_chosen_face();
                        effects.extend(
                            self.mask_controls()
                                .iter()
                                .filter_map(Control::needs_model)
                                .map(Effect::FetchMaskModel),
                        );
                        effects.extend(self.fetch_swapper());
                        effects
                    }
                    Role::Audio => {
                        let mut effects = vec![Effect::FetchVoices];
                        effects.extend(self.upload_voice_files());
                        effects
                    }
                }
            }
            Event::Status { status, at } => {
                let role = status.role;
                self.status(*status, at);
                if role == Role::Video {
                    self.face_models_progress()
                } else if self.voice_files_settling() {
                    vec![Effect::FetchVoices]
                } else {
                    Vec::new()
                }
            }
            Event::Session(role, open) => {
                self.state.servers[role_index(role)].session_open = open;
                if self.state.phase == Phase::Starting
                    && self.state.servers.iter().all(|c| c.session_open)
                {
                    self.state.phase = Phase::Running;
                }
                Vec::new()
            }
            Event::Latency(role, ms) => {
                self.state.servers[role_index(role)].latency_ms = Some(ms);
                Vec::new()
            }
            Event::CloudStep(text) => {
                // Deleting the pods after Stop is shown too.
                if self.running() || self.state.phase == Phase::Stopping {
                    self.info(format!("Cloud: {text}"));
                }
                Vec::new()
            }
            Event::CloudPrice(price) => {
                if self.running() || self.state.phase == Phase::Stopping {
                    self.state.cloud.price = Some(price);
                }
                Vec::new()
            }
            Event::RunEnded(result) => {
                let was = self.state.phase.clone();
                self.state.phase = Phase::Idle;
                self.state.cloud.price = None;
                self.state.talking = false;
                self.state.devices.camera_state = None;
                for card in &mut self.state.servers {
                    let failed = matches!(card.process, Process::Failed(_));
                    let models = std::mem::take(&mut card.models);
                    card.reset();
                    // Keep what went wrong on screen, and the model states it came from.
                    if failed || result.is_err() {
                        card.models = models;
                    }
                }
                self.sent_voice = None;
                for file in &mut self.state.voice_files {
                    // Nor the voice files.
                    if matches!(
                        file.upload,
                        VoiceFileUpload::Sending | VoiceFileUpload::Added
                    ) {
                        file.upload = VoiceFileUpload::NotSent;
                    }
                }
                for face in &mut self.state.faces {
                    // A new server does not know the faces the old one had.
                    if matches!(
                        face.upload,
                        FaceUpload::Detected { .. } | FaceUpload::Sending
                    ) {
                        face.upload = FaceUpload::NotSent;
                    }
                }
                match (result, was) {
                    (Err(e), Phase::Starting) => {
                        self.error(format!("The studio could not start: {e}"))
                    }
                    (Err(e), Phase::Running) => self.error(format!("The studio stopped: {e}")),
                    _ => {}
                }
                Vec::new()
            }
            Event::CameraFailed(e) => {
                self.state.camera_error = Some(e);
                Vec::new()
            }
            Event::Devices {
                cameras,
                microphones,
                speakers,
            } => {
                let panel = &mut self.state.devices;
                panel.cameras = cameras;
                panel.microphones = microphones;
                panel.speakers = speakers
                    .into_iter()
                    .filter(|s| !is_virtual_microphone(s))
                    .collect();
                Vec::new()
            }
            Event::DeviceProblem(problem) => {
                if !self.state.devices.problems.contains(&problem) {
                    self.state.devices.problems.push(problem);
                }
                Vec::new()
            }
            Event::CameraState(words) => {
                self.state.devices.camera_state = words;
                Vec::new()
            }
            Event::TalkKeyProblem(why) => {
                self.state.talk_key_problem = Some(why);
                Vec::new()
            }
            Event::FaceLoaded { path, result } => {
                let Some(entry) = self.state.faces.iter_mut().find(|f| f.path == path) else {
                    return Vec::new();
                };
                entry.image = match result {
                    Ok(thumbnail) => FaceImage::Loaded(thumbnail),
                    Err(e) => FaceImage::Unreadable(e),
                };
                self.upload_chosen_face()
            }
            Event::FaceUploaded { path, result } => {
                let Some(index) = self.state.faces.iter().position(|f| f.path == path) else {
                    return Vec::new();
                };
                self.state.faces[index].upload = match result {
                    Ok(added) => FaceUpload::Detected {
                        face_id: added.id,
                        face_box: FaceBox::from_bbox(added.bbox),
                    },
                    Err(refusal) if refusal.models_missing => {
                        if self.state.face_models.is_none() {
                            self.state.face_models = Some(FaceModelsOffer {
                                files: self.face_model_files.clone(),
                                fetching: false,
                            });
                        }
                        FaceUpload::NeedsModels(refusal.message)
                    }
                    Err(refusal) => FaceUpload::Failed(refusal.message),
                };
                let mut effects = Vec::new();
                if self.state.chosen_face == Some(index)
                    && self.running()
                    && let Some(face_id) = self.chosen_face_id()
                {
                    effects.push(Effect::Control(
                        Role::Video,
                        Control::SetFace {
                            face_id: Some(face_id),
                        },
                    ));
                }
                let mapped = self
                    .state
                    .people
                    .iter()
                    .any(|r| r.person == index || r.wears == index);
                if mapped && let Some(pairs) = self.people_pairs() {
                    effects.extend(self.live(Role::Video, Control::MapPeople { pairs }));
                }
                effects
            }
            Event::Picked(_, None) => Vec::new(),
            Event::Picked(PickKind::Face, Some(path)) => self.command(Command::AddFace(path)),
            Event::Picked(PickKind::Video, Some(path)) => {
                self.command(Command::SetCamera(Camera::VideoFile(path)))
            }
            Event::Picked(PickKind::Voice, Some(path)) => self.command(Command::AddVoice(path)),
            Event::VoiceUploaded {
                path,
                result,
                index_problem,
            } => {
                let effects = self.voice_uploaded(path.clone(), result);
                if let Some(problem) = index_problem {
                    self.info(format!("{}: {problem}", voice_name(&path)));
                }
                effects
            }
            Event::ChoicesGone(lines) => {
                self.state.notice = Some(Notice {
                    text: lines.join(" "),
                    is_error: false,
                });
                Vec::new()
            }
            Event::FaceModelsRefused(message) => {
                if let Some(offer) = self.state.face_models.as_mut() {
                    offer.fetching = false;
                }
                self.error(message);
                Vec::new()
            }
            Event::Voices(result) => {
                match result {
                    Ok(voices) => {
                        let mut merged: Vec<VoiceOption> =
                            voices.into_iter().map(VoiceOption::Served).collect();
                        for voice in &self.config_voices {
                            if !merged.iter().any(|v| v.id() == voice.id()) {
                                merged.push(voice.clone());
                            }
                        }
                        self.state.voices = merged;
                        self.state.voices_message = None;
                    }
                    Err(e) => self.state.voices_message = Some(e),
                }
                self.sync_voice()
            }
            Event::ControlAnswered {
                role,
                control,
                refused,
            } => self.control_answered(role, control, refused),
            Event::ApiKey(state) => {
                if let ApiKey::KeyringUnavailable(why) = &state {
                    self.error(format!("The API key could not be stored: {why}"));
                } else if state == ApiKey::Stored {
                    self.info("The RunPod API key is saved in this computer's keyring.");
                }
                self.state.cloud.api_key = state;
                Vec::new()
            }
        }
    }

    fn add_voice(&mut self, path: PathBuf) -> Vec<Effect> {
        let is_onnx = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
        if !is_onnx {
            self.error(format!(
                "{} is not a voice file: choose an RVC v2 voice exported as .onnx.",
                file_name(&path)
            ));
            return Vec::new();
        }
        self.wanted_voice_file = Some(path.clone());
        match self.state.voice_files.iter_mut().find(|f| f.path == path) {
            Some(file) => {
                if let (VoiceFileUpload::Added, Some(id)) = (&file.upload, file.id.clone()) {
                    self.wanted_voice_file = None;
                    return self.command(Command::ChooseVoice(id));
                }
                // Adding it again is the way to try again.
                if matches!(file.upload, VoiceFileUpload::Failed(_)) {
                    file.upload = VoiceFileUpload::NotSent;
                }
            }
            None => self.state.voice_files.push(VoiceFile {
                path: path.clone(),
                id: None,
                upload: VoiceFileUpload::NotSent,
            }),
        }
        self.upload_voice_files()
    }

    fn voice_uploaded(&mut self, path: PathBuf, result: Result<VoiceAdded, String>) -> Vec<Effect> {
        let Some(file) = self.state.voice_files.iter_mut().find(|f| f.path == path) else {
            return Vec::new();
        };
        let added = match result {
            Ok(added) => added,
            Err(reason) => {
                let text = format!("The audio server would not take {}: {reason}", file.name());
                file.upload = VoiceFileUpload::Failed(reason);
                self.error(text);
                return Vec::new();
            }
        };
        file.id = Some(added.id.clone());
        file.upload = VoiceFileUpload::Added;
        let served = VoiceOption::Served(added.entry);
        match self.state.voices.iter_mut().find(|v| v.id() == added.id) {
            Some(voice) => *voice = served,
            None => self.state.voices.push(served),
        }
        if self.wanted_voice_file.as_ref() == Some(&path) {
            self.wanted_voice_file = None;
            return self.command(Command::ChooseVoice(added.id));
        }
        self.sync_voice()
    }

    /// A session took a face or voice, or refused it: a refused choice goes back to what
    /// the session wore before, and the reason is kept where the choice was made.
    fn control_answered(
        &mut self,
        role: Role,
        control: Control,
        refused: Option<String>,
    ) -> Vec<Effect> {
        match (control, refused) {
            (Control::SetVoice { voice_id }, None) => {
                if self
                    .state
                    .voice_refused
                    .as_ref()
                    .is_some_and(|r| r.id == voice_id)
                {
                    self.state.voice_refused = None;
                }
                self.accepted_voice = Some(voice_id);
                Vec::new()
            }
            (Control::SetVoice { voice_id }, Some(reason)) => {
                let was_chosen = self.state.chosen_voice.as_deref() == Some(voice_id.as_str());
                self.state.voice_refused = Some(Refusal {
                    id: voice_id,
                    reason,
                });
                if !was_chosen {
                    // Another voice was chosen since: that choice stands.
                    return Vec::new();
                }
                self.state.chosen_voice = self.accepted_voice.clone();
                match (&self.state.chosen_voice, self.running()) {
                    (Some(previous), true) => {
                        self.sent_voice = Some(previous.clone());
                        vec![Effect::Control(
                            role,
                            Control::SetVoice {
                                voice_id: previous.clone(),
                            },
                        )]
                    }
                    _ => Vec::new(),
                }
            }
            (Control::SetFace { face_id }, None) => {
                if let Some(entry) = self.face_with_id(face_id.as_deref()) {
                    entry.refused = None;
                }
                self.accepted_face = face_id;
                Vec::new()
            }
            (Control::SetFace { face_id }, Some(reason)) => {
                let Some(index) = self.face_index(face_id.as_deref()) else {
                    return Vec::new();
                };
                self.state.faces[index].refused = Some(reason);
                if self.state.chosen_face != Some(index) {
                    return Vec::new();
                }
                let previous = self.accepted_face.clone();
                self.state.chosen_face = self.face_index(previous.as_deref());
                self.live(role, Control::SetFace { face_id: previous })
            }
            (
                Control::Talk { .. }
                | Control::PassThrough { .. }
                | Control::MouthMask { .. }
                | Control::ColourTransfer { .. }
                | Control::Occlusion { .. }
                | Control::AllFaces { .. }
                | Control::RegionMask { .. }
                | Control::MapPeople { .. }
                | Control::PixelBoost { .. }
                | Control::Swapper { .. }
                | Control::Enhancer { .. }
                | Control::EnhancerStrength { .. }
                | Control::EnhanceEvery { .. }
                | Control::VoiceShift { .. },
                _,
            ) => Vec::new(),
        }
    }

    /// The face the video server knows by `face_id`.
    fn face_index(&self, face_id: Option<&str>) -> Option<usize> {
        let face_id = face_id?;
        self.state.faces.iter().position(
            |f| matches!(&f.upload, FaceUpload::Detected { face_id: id, .. } if id == face_id),
        )
    }

    fn face_with_id(&mut self, face_id: Option<&str>) -> Option<&mut FaceEntry> {
        let index = self.face_index(face_id)?;
        self.state.faces.get_mut(index)
    }

    fn manager_event(&mut self, event: ManagerEvent) -> Vec<Effect> {
        let running = self.running();
        let card_of = |role| role_index(role);
        match event {
            ManagerEvent::Starting { role, .. } if running => {
                self.state.servers[card_of(role)].process = Process::Starting;
            }
            ManagerEvent::Ready { role, pid, .. } if running => {
                self.state.servers[card_of(role)].process = Process::Ready { pid };
                // The driver's client may have come first (`ServerUp`): what waited for both
                // goes now.
                return match role {
                    Role::Video => self.upload_chosen_face(),
                    Role::Audio => self.upload_voice_files(),
                };
            }
            ManagerEvent::StartFailed { role, error } if running => {
                let text = format!("The {role} server could not start: {error}");
                self.state.servers[card_of(role)].process = Process::Failed(error);
                self.error(text);
            }
            ManagerEvent::Exited { role, status, .. } if running => {
                let text = format!(
                    "The {role} server stopped unexpectedly ({status}). The studio is starting it again."
                );
                self.state.servers[card_of(role)].process = Process::Restarting {
                    after: Duration::ZERO,
                    reason: status,
                };
                self.error(text);
            }
            ManagerEvent::Restarting { role, after } if running => {
                let card = &mut self.state.servers[card_of(role)];
                let reason = match &card.process {
                    Process::Restarting { reason, .. } | Process::Failed(reason) => reason.clone(),
                    _ => String::new(),
                };
                card.process = Process::Restarting { after, reason };
            }
            _ => {}
        }
        Vec::new()
    }

    fn status(&mut self, status: ServerStatus, at: Instant) {
        let card = &mut self.state.servers[role_index(status.role)];
        card.engine = Some(status.engine.clone());
        card.backend = Some(status.backend.clone());
        card.device = Some(status.device.clone());
        card.process_ms = (status.load.processed_total > 0).then_some(status.load.process_ms_mean);
        let total = status.load.processed_total;
        if let Some((then, before)) = card.last_total {
            let seconds = at.saturating_duration_since(then).as_secs_f64();
            if seconds >= 0.25 && total >= before {
                card.rate_per_s = Some((total - before) as f64 / seconds);
                card.last_total = Some((at, total));
            }
        } else {
            card.last_total = Some((at, total));
        }
        card.enhancer = status
            .sessions
            .iter()
            .filter(|s| s.state == SessionState::Open)
            .find_map(|s| s.enhancer.clone());
        let role = status.role;
        card.models = status
            .models
            .into_iter()
            .map(|m| ModelView {
                id: m.id,
                state: m.state,
                bytes_done: m.bytes_done,
                bytes_total: m.bytes_total,
                error: m.error,
            })
            .collect();
        let failed: Vec<String> = card
            .models
            .iter()
            .filter(|m| m.state == ModelState::Failed)
            .map(|m| match &m.error {
                Some(e) => format!("{}: {e}", m.id),
                None => m.id.clone(),
            })
            .collect();
        if !failed.is_empty() {
            self.error(format!(
                "The {role} server could not get a model it needs ({}).",
                failed.join("; ")
            ));
        }
    }
}

/// The voices listed in the configuration, before any server has been asked.
/// A swapper on offer in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwapperChoice {
    /// The `models` id.
    pub id: String,
    /// Its licence, as the configuration states it (with its converter's, if it needs one).
    pub license: String,
}

/// The default swapper and those of `SWAPPER_MODELS` the configuration lists (with their
/// converter).
fn swappers_from_config(config: &Config) -> Vec<SwapperChoice> {
    let listed = |id: &str| config.models.get(id).map(|e| e.license.clone());
    std::iter::once((DEFAULT_SWAPPER, None))
        .chain(studio_proto::config::SWAPPER_MODELS)
        .filter_map(|(id, converter)| {
            let mut license = listed(id)?;
            if let Some(c) = converter {
                license = format!("{license}; {c}: {}", listed(c)?);
            }
            Some(SwapperChoice {
                id: id.to_string(),
                license,
            })
        })
        .collect()
}

fn voices_from_config(config: &Config) -> Vec<VoiceOption> {
    config
        .voices
        .iter()
        .map(|(id, entry)| VoiceOption::Configured {
            id: id.clone(),
            name: entry.name.clone(),
            kind: VoiceKind::from(&entry.kind),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use studio_proto::api::{Load, ModelStatus};
    use studio_proto::config::{OCCLUSION_MODEL_ID, PARSER_MODEL_ID};

    /// A loaded face's thumbnail of one pixel, for a photo `side` pixels square.
    fn one_pixel_thumbnail(side: u32) -> Arc<Thumbnail> {
        Arc::new(Thumbnail {
            width: 1,
            height: 1,
            rgba: vec![0; 4],
            image_width: side,
            image_height: side,
        })
    }

    fn store() -> Store {
        Store::new(&Config::defaults().unwrap())
    }

    fn status(role: Role, models: Vec<ModelStatus>, processed: u64) -> Box<ServerStatus> {
        Box::new(ServerStatus {
            role,
            version: "0.1.0".into(),
            engine: "identity".into(),
            backend: "none".into(),
            device: "cpu".into(),
            models,
            sessions: Vec::new(),
            load: Load {
                process_ms_mean: 0.5,
                processed_total: processed,
            },
            uptime_s: 1.0,
        })
    }

    fn model(id: &str, state: ModelState, done: u64, error: Option<&str>) -> ModelStatus {
        ModelStatus {
            id: id.into(),
            state,
            bytes_done: done,
            bytes_total: Some(1000),
            error: error.map(str::to_string),
            rate_bytes_per_s: None,
            eta_s: None,
            sha256: None,
            trust: None,
        }
    }

    #[test]
    fn start_carries_the_chosen_settings_and_stop_returns_to_idle() {
        let mut store = store();
        store.command(Command::ChooseVoice("robot".into()));
        let effects = store.command(Command::Start);
        assert_eq!(
            effects,
            [Effect::StartRun {
                camera: Camera::TestPattern,
                controls: vec![
                    (Role::Video, Control::SetFace { face_id: None }),
                    (
                        Role::Audio,
                        Control::SetVoice {
                            voice_id: "robot".into()
                        }
                    ),
                    (Role::Audio, Control::Talk { active: false }),
                ],
                devices: RunDevices::none(),
            }]
        );
        assert_eq!(store.snapshot().phase, Phase::Starting);
        assert!(store.command(Command::Start).is_empty(), "no second run");
        store.apply(Event::Session(Role::Video, true));
        assert_eq!(store.snapshot().phase, Phase::Starting);
        store.apply(Event::Session(Role::Audio, true));
        assert_eq!(store.snapshot().phase, Phase::Running);
        assert_eq!(store.command(Command::Stop), [Effect::StopRun]);
        store.apply(Event::RunEnded(Ok(())));
        assert_eq!(store.snapshot().phase, Phase::Idle);
        assert_eq!(store.snapshot().notice, None);
    }

    #[test]
    fn devices_chosen_before_start_go_with_the_run_and_stay_while_it_runs() {
        let mut store = Store::with_devices(&Config::defaults().unwrap(), RunDevices::everyday());
        assert_eq!(
            store.command(Command::RefreshDevices),
            [Effect::ListDevices]
        );
        store.apply(Event::Devices {
            cameras: vec![("/dev/video0".into(), "HD Webcam".into())],
            microphones: vec!["USB Mic".into()],
            speakers: vec!["Headphones".into(), "CABLE Input (VB-Audio)".into()],
        });
        assert_eq!(store.snapshot().devices.speakers, ["Headphones"]);
        // The voice never goes into a virtual microphone a second time.
        store.command(Command::UseMonitor(Some("CABLE Input (VB-Audio)".into())));
        assert_eq!(store.snapshot().devices.chosen.monitor, None);
        assert!(store.snapshot().notice.is_some_and(|n| n.is_error));
        store.command(Command::UseMonitor(Some("Headphones".into())));
        assert_eq!(store.snapshot().devices.microphones, ["USB Mic"]);
        store.command(Command::ChooseMicrophone(Microphone::Named(
            "USB Mic".into(),
        )));
        store.command(Command::UseVirtualCamera(false));
        let effects = store.command(Command::Start);
        let [Effect::StartRun { devices, .. }] = effects.as_slice() else {
            panic!("{effects:?}");
        };
        assert_eq!(
            devices,
            &RunDevices {
                microphone: Microphone::Named("USB Mic".into()),
                virtual_camera: false,
                virtual_microphone: true,
                monitor: Some("Headphones".into()),
            }
        );
        // Devices open with the run: no change until it stops, and the person is told why.
        assert!(
            store
                .command(Command::ChooseMicrophone(Microphone::TestTone))
                .is_empty()
        );
        assert!(store.command(Command::UseVirtualCamera(true)).is_empty());
        let snapshot = store.snapshot();
        assert_eq!(snapshot.devices.chosen, *devices);
        assert!(
            snapshot
                .notice
                .is_some_and(|n| n.text.contains("Stop the studio")),
            "the refusal is explained"
        );
        store.apply(Event::RunEnded(Ok(())));
        store.command(Command::UseVirtualCamera(true));
        assert!(store.snapshot().devices.chosen.virtual_camera);
    }

    #[test]
    fn device_problems_and_an_unplugged_camera_show_until_the_next_start() {
        let mut store = store();
        store.command(Command::Start);
        let problem = "No virtual camera: the v4l2loopback module is not loaded. Install it";
        store.apply(Event::DeviceProblem(problem.into()));
        store.apply(Event::DeviceProblem(problem.into()));
        store.apply(Event::CameraState(Some("the camera was unplugged".into())));
        let snapshot = store.snapshot();
        assert_eq!(snapshot.devices.problems, [problem], "told once");
        assert_eq!(
            snapshot.devices.camera_state.as_deref(),
            Some("the camera was unplugged")
        );
        store.apply(Event::CameraState(None));
        assert_eq!(store.snapshot().devices.camera_state, None, "back");
        store.apply(Event::RunEnded(Ok(())));
        assert_eq!(store.snapshot().devices.problems, [problem], "kept to read");
        store.command(Command::Start);
        assert!(
            store.snapshot().devices.problems.is_empty(),
            "a new run, a new check"
        );
    }

    #[test]
    fn a_failed_download_is_shown_per_model_with_its_bytes_and_in_plain_words() {
        let mut store = store();
        store.command(Command::Start);
        let at = Instant::now();
        store.apply(Event::Status {
            status: status(
                Role::Video,
                vec![
                    model("detector", ModelState::Downloading, 250, None),
                    model("swapper", ModelState::Pending, 0, None),
                ],
                0,
            ),
            at,
        });
        let card = store.snapshot().servers[0].clone();
        assert_eq!(card.models[0].state, ModelState::Downloading);
        assert_eq!(card.models[0].fraction(), Some(0.25));
        assert_eq!(card.models[1].state, ModelState::Pending);

        store.apply(Event::Status {
            status: status(
                Role::Video,
                vec![
                    model("detector", ModelState::Ready, 1000, None),
                    model(
                        "swapper",
                        ModelState::Failed,
                        400,
                        Some("checksum mismatch"),
                    ),
                ],
                0,
            ),
            at,
        });
        let snapshot = store.snapshot();
        assert_eq!(snapshot.servers[0].models[1].state, ModelState::Failed);
        assert_eq!(snapshot.servers[0].models[1].bytes_done, 400);
        let notice = snapshot.notice.unwrap();
        assert!(notice.is_error);
        assert!(
            notice.text.contains("swapper: checksum mismatch"),
            "{notice:?}"
        );
    }

    #[test]
    fn rate_comes_from_two_statuses_and_settings_change_live_while_running() {
        let mut store = store();
        store.command(Command::Start);
        let t0 = Instant::now();
        store.apply(Event::Status {
            status: status(Role::Video, vec![], 100),
            at: t0,
        });
        store.apply(Event::Status {
            status: status(Role::Video, vec![], 130),
            at: t0 + Duration::from_secs(1),
        });
        assert_eq!(store.snapshot().servers[0].rate_per_s, Some(30.0));

        assert_eq!(
            store.command(Command::ChooseVoice("deep".into())),
            [Effect::Control(
                Role::Audio,
                Control::SetVoice {
                    voice_id: "deep".into()
                }
            )]
        );
        assert_eq!(
            store.command(Command::Talk(true)),
            [Effect::Control(Role::Audio, Control::Talk { active: true })]
        );
        assert_eq!(
            store.command(Command::SetCamera(Camera::VideoFile("a.y4m".into()))),
            [Effect::SwitchCamera(Camera::VideoFile("a.y4m".into()))]
        );
    }

    #[test]
    fn mapped_faces_go_up_and_the_mapping_goes_live_once_the_server_knows_them() {
        let mut store = store();
        let (me, ada, bob) = (
            PathBuf::from("/faces/me.png"),
            PathBuf::from("/faces/ada.png"),
            PathBuf::from("/faces/bob.png"),
        );
        for path in [&me, &ada, &bob] {
            store.command(Command::AddFace(path.clone()));
            store.apply(Event::FaceLoaded {
                path: path.clone(),
                result: Ok(one_pixel_thumbnail(10)),
            });
        }
        store.command(Command::ChooseFace(Some(1)));
        // Me (face 0) wears Ada (the chosen face); then Bob instead.
        assert!(store.command(Command::AddPerson).is_empty(), "not running");
        assert_eq!(
            store.snapshot().people,
            [PersonRow {
                person: 0,
                wears: 1
            }]
        );
        store.command(Command::SetPerson {
            row: 0,
            person: 0,
            wears: 2,
        });
        assert!(
            store
                .command(Command::SetPerson {
                    row: 0,
                    person: 9,
                    wears: 2
                })
                .is_empty(),
            "no such face"
        );
        store.command(Command::Start);
        store.apply(Event::Manager(ManagerEvent::Ready {
            role: Role::Video,
            pid: 1,
            url: String::new(),
        }));
        // Every face in use goes up: the chosen one and both of the row.
        let mut uploads = store.apply(Event::ServerUp(Role::Video, true));
        uploads.sort_by_key(|e| format!("{e:?}"));
        assert_eq!(
            uploads,
            [
                Effect::UploadFace(ada.clone()),
                Effect::UploadFace(bob.clone()),
                Effect::UploadFace(me.clone())
            ]
        );
        let added = |id: &str| {
            Ok(FaceAdded {
                id: id.into(),
                bbox: [10.0, 12.0, 60.0, 80.0],
                faces: 1,
                warning: None,
            })
        };
        // The mapping waits for both of its faces.
        let effects = store.apply(Event::FaceUploaded {
            path: me.clone(),
            result: added("f-me"),
        });
        assert!(effects.is_empty(), "{effects:?}");
        let pairs = vec![PersonWears {
            person: "f-me".into(),
            wears: "f-bob".into(),
        }];
        assert_eq!(
            store.apply(Event::FaceUploaded {
                path: bob.clone(),
                result: added("f-bob"),
            }),
            [Effect::Control(
                Role::Video,
                Control::MapPeople {
                    pairs: pairs.clone()
                }
            )]
        );
        // The last row gone: mapping off.
        assert_eq!(
            store.command(Command::RemovePerson(0)),
            [Effect::Control(
                Role::Video,
                Control::MapPeople { pairs: Vec::new() }
            )]
        );
        assert!(store.command(Command::RemovePerson(0)).is_empty());
        // Rows need two faces and stop at the bound.
        for _ in 0..MAX_PEOPLE + 2 {
            store.command(Command::AddPerson);
        }
        assert_eq!(store.snapshot().people.len(), MAX_PEOPLE);
    }

    #[test]
    fn a_face_is_uploaded_once_a_video_server_runs_and_then_set_live() {
        let mut store = store();
        let path = PathBuf::from("/faces/ada.png");
        assert_eq!(
            store.command(Command::AddFace(path.clone())),
            [Effect::LoadFace(path.clone())]
        );
        let thumbnail = one_pixel_thumbnail(10);
        // Not running: nothing to upload to yet.
        assert!(
            store
                .apply(Event::FaceLoaded {
                    path: path.clone(),
                    result: Ok(thumbnail)
                })
                .is_empty()
        );
        store.command(Command::Start);
        store.apply(Event::Manager(ManagerEvent::Ready {
            role: Role::Video,
            pid: 1,
            url: String::new(),
        }));
        assert_eq!(
            store.apply(Event::ServerUp(Role::Video, true)),
            [Effect::UploadFace(path.clone())]
        );
        let effects = store.apply(Event::FaceUploaded {
            path: path.clone(),
            result: Ok(FaceAdded {
                id: "f1".into(),
                bbox: [10.0, 12.0, 60.0, 80.0],
                faces: 1,
                warning: None,
            }),
        });
        assert_eq!(
            effects,
            [Effect::Control(
                Role::Video,
                Control::SetFace {
                    face_id: Some("f1".into())
                }
            )]
        );
        // The server's refusal is kept beside the face, and choosing it again retries.
        store.apply(Event::FaceUploaded {
            path: path.clone(),
            result: Err(FaceRefusal::other("no face found in the image")),
        });
        assert_eq!(
            store.snapshot().faces[0].upload,
            FaceUpload::Failed("no face found in the image".into())
        );
        assert_eq!(
            store.command(Command::ChooseFace(Some(0))),
            [Effect::UploadFace(path)]
        );
    }

    #[test]
    fn a_face_waiting_for_its_models_offers_the_fetch_and_goes_again_once_they_are_ready() {
        let mut store = store();
        let path = PathBuf::from("/faces/ada.png");
        store.command(Command::AddFace(path.clone()));
        let thumbnail = one_pixel_thumbnail(10);
        store.apply(Event::FaceLoaded {
            path: path.clone(),
            result: Ok(thumbnail),
        });
        // Nothing to fetch before a face needs the models.
        assert!(store.command(Command::FetchFaceModels).is_empty());
        store.command(Command::Start);
        store.apply(Event::Manager(ManagerEvent::Ready {
            role: Role::Video,
            pid: 1,
            url: String::new(),
        }));
        store.apply(Event::ServerUp(Role::Video, true));
        store.apply(Event::FaceUploaded {
            path: path.clone(),
            result: Err(FaceRefusal {
                message: "the face models are not on this server yet".into(),
                models_missing: true,
            }),
        });
        let snapshot = store.snapshot();
        assert!(matches!(
            snapshot.faces[0].upload,
            FaceUpload::NeedsModels(_)
        ));
        let offer = snapshot.face_models.expect("the fetch is offered");
        // The configuration's three files, their sizes and their licence.
        let ids: Vec<&str> = offer.files.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, FACE_MODEL_IDS);
        assert!(offer.total_bytes().is_some_and(|b| b > 700_000_000));
        assert!(offer.licenses()[0].contains("non-commercial research use only"));
        assert!(!offer.fetching);

        assert_eq!(
            store.command(Command::FetchFaceModels),
            [Effect::FetchFaceModels]
        );
        assert!(
            store.command(Command::FetchFaceModels).is_empty(),
            "asked once"
        );
        // Halfway: still waiting; one model failed: the button comes back.
        let half = FACE_MODEL_IDS
            .iter()
            .map(|id| model(id, ModelState::Downloading, 500, None))
            .collect();
        assert!(
            store
                .apply(Event::Status {
                    status: status(Role::Video, half, 0),
                    at: Instant::now(),
                })
                .is_empty()
        );
        assert!(store.snapshot().face_models.is_some_and(|o| o.fetching));
        let failed = vec![
            model("det_10g", ModelState::Failed, 0, Some("checksum mismatch")),
            model("w600k_r50", ModelState::Ready, 1000, None),
            model("inswapper_128", ModelState::Downloading, 700, None),
        ];
        store.apply(Event::Status {
            status: status(Role::Video, failed, 0),
            at: Instant::now(),
        });
        assert!(store.snapshot().face_models.is_some_and(|o| !o.fetching));
        assert_eq!(
            store.command(Command::FetchFaceModels),
            [Effect::FetchFaceModels]
        );
        // All ready: the offer goes and the chosen face is sent again.
        let ready = FACE_MODEL_IDS
            .iter()
            .map(|id| model(id, ModelState::Ready, 1000, None))
            .collect();
        assert_eq!(
            store.apply(Event::Status {
                status: status(Role::Video, ready, 0),
                at: Instant::now(),
            }),
            [Effect::UploadFace(path)]
        );
        assert_eq!(store.snapshot().face_models, None);
        assert_eq!(store.snapshot().faces[0].upload, FaceUpload::Sending);
    }

    #[test]
    fn the_face_goes_once_the_server_is_both_ready_and_reachable_in_either_order() {
        for reachable_first in [false, true] {
            let mut store = store();
            let path = PathBuf::from("/faces/ada.png");
            store.command(Command::AddFace(path.clone()));
            store.apply(Event::FaceLoaded {
                path: path.clone(),
                result: Ok(one_pixel_thumbnail(1)),
            });
            store.command(Command::Start);
            let ready = Event::Manager(ManagerEvent::Ready {
                role: Role::Video,
                pid: 1,
                url: String::new(),
            });
            let reachable = Event::ServerUp(Role::Video, true);
            let (first, second) = if reachable_first {
                (reachable, ready)
            } else {
                (ready, reachable)
            };
            assert!(store.apply(first).is_empty(), "not both yet");
            assert_eq!(
                store.apply(second),
                [Effect::UploadFace(path)],
                "reachable first: {reachable_first}"
            );
        }
    }

    #[test]
    fn the_own_voice_button_reaches_the_audio_server_while_running() {
        let mut store = store();
        // Idle: remembered, nothing sent.
        assert!(store.command(Command::OwnVoice(true)).is_empty());
        assert!(store.snapshot().own_voice);
        store.command(Command::OwnVoice(false));
        store.command(Command::Start);
        assert_eq!(
            store.command(Command::OwnVoice(true)),
            [Effect::Control(
                Role::Audio,
                Control::PassThrough { active: true }
            )]
        );
        assert!(store.command(Command::OwnVoice(true)).is_empty(), "once");
        assert_eq!(
            store.command(Command::OwnVoice(false)),
            [Effect::Control(
                Role::Audio,
                Control::PassThrough { active: false }
            )]
        );
    }

    #[test]
    fn each_voice_slider_moves_its_own_value_only() {
        let mut store = store();
        store.command(Command::ShiftVoiceKey(7.0));
        store.command(Command::ShiftVoiceFormant(-1.5));
        assert_eq!(store.snapshot().voice_shift, (7.0, -1.5));
        store.command(Command::ShiftVoiceKey(-3.0));
        assert_eq!(store.snapshot().voice_shift, (-3.0, -1.5));
        store.command(Command::ShiftVoiceFormant(f32::NAN));
        assert_eq!(
            store.snapshot().voice_shift,
            (-3.0, -1.5),
            "NaN changes nothing"
        );
    }

    #[test]
    fn a_voice_shift_goes_with_the_start_and_live_to_the_audio_server_within_range() {
        let mut store = store();
        assert!(
            store
                .command(Command::ShiftVoice {
                    key: 12.0,
                    formant: 9.0
                })
                .is_empty()
        );
        assert_eq!(
            store.snapshot().voice_shift,
            (12.0, 2.0),
            "the formant kept to ±2"
        );
        let Some(Effect::StartRun { controls, .. }) = store.command(Command::Start).pop() else {
            panic!("no start");
        };
        assert!(controls.contains(&(
            Role::Audio,
            Control::VoiceShift {
                key: 12.0,
                formant: 2.0
            }
        )));
        assert_eq!(
            store.command(Command::ShiftVoice {
                key: -3.0,
                formant: 0.0
            }),
            [Effect::Control(
                Role::Audio,
                Control::VoiceShift {
                    key: -3.0,
                    formant: 0.0
                }
            )]
        );
        let again = Command::ShiftVoice {
            key: -3.0,
            formant: 0.0,
        };
        assert!(store.command(again).is_empty(), "once");
        let broken = Command::ShiftVoice {
            key: f32::NAN,
            formant: 0.0,
        };
        assert!(store.command(broken).is_empty());
        assert_eq!(store.snapshot().voice_shift, (-3.0, 0.0));
    }

    #[test]
    fn keeping_the_mouth_goes_with_the_start_and_live_to_the_video_server() {
        let mut store = store();
        assert!(store.command(Command::KeepMouth(true)).is_empty());
        let Some(Effect::StartRun { controls, .. }) = store.command(Command::Start).pop() else {
            panic!("no start");
        };
        assert!(controls.contains(&(Role::Video, Control::MouthMask { on: true })));
        assert_eq!(
            store.command(Command::KeepMouth(false)),
            [Effect::Control(
                Role::Video,
                Control::MouthMask { on: false }
            )]
        );
        assert!(store.command(Command::KeepMouth(false)).is_empty(), "once");
    }

    #[test]
    fn swapping_every_face_goes_with_the_start_and_live_to_the_video_server() {
        let mut store = store();
        assert!(
            !store.snapshot().all_faces,
            "the largest face alone by default"
        );
        assert!(store.command(Command::AllFaces(true)).is_empty());
        let Some(Effect::StartRun { controls, .. }) = store.command(Command::Start).pop() else {
            panic!("no start");
        };
        assert!(controls.contains(&(Role::Video, Control::AllFaces { on: true })));
        assert_eq!(
            store.command(Command::AllFaces(false)),
            [Effect::Control(
                Role::Video,
                Control::AllFaces { on: false }
            )]
        );
        assert!(store.command(Command::AllFaces(false)).is_empty(), "once");
    }

    #[test]
    fn the_enhancer_goes_with_the_start_and_live_and_has_its_model_fetched() {
        let mut store = store();
        assert_eq!(store.snapshot().enhancer, None, "off by default");
        assert_eq!(store.snapshot().enhance_strength, 80, "FaceFusion's blend");
        assert!(
            store
                .command(Command::Enhancer(Some("codeformer".into())))
                .is_empty()
        );
        assert_eq!(store.snapshot().enhancer, None, "not one of ours");
        assert!(
            store
                .command(Command::Enhancer(Some("gpen_bfr_256".into())))
                .is_empty()
        );
        assert!(store.command(Command::EnhanceStrength(60)).is_empty());
        assert_eq!(
            store.snapshot().enhance_every,
            EnhanceEvery::Auto,
            "automatic by default"
        );
        assert!(
            store
                .command(Command::EnhanceEvery(EnhanceEvery::Frames(9)))
                .is_empty()
        );
        assert_eq!(
            store.snapshot().enhance_every,
            EnhanceEvery::Frames(MAX_ENHANCE_EVERY)
        );
        let Some(Effect::StartRun { controls, .. }) = store.command(Command::Start).pop() else {
            panic!("no start");
        };
        let chosen = Control::Enhancer {
            model: Some("gpen_bfr_256".into()),
        };
        assert!(controls.contains(&(Role::Video, chosen.clone())));
        assert!(controls.contains(&(Role::Video, Control::EnhancerStrength { strength: 60 })));
        assert!(controls.contains(&(
            Role::Video,
            Control::EnhanceEvery {
                frames: EnhanceEvery::Frames(MAX_ENHANCE_EVERY)
            }
        )));
        assert!(
            store
                .apply(Event::ServerUp(Role::Video, true))
                .contains(&Effect::FetchMaskModel("gpen_bfr_256"))
        );
        assert_eq!(
            store.command(Command::EnhanceStrength(90)),
            [Effect::Control(
                Role::Video,
                Control::EnhancerStrength { strength: 90 }
            )]
        );
        assert_eq!(
            store.command(Command::Enhancer(Some("gfpgan_1.4".into()))),
            [
                Effect::Control(
                    Role::Video,
                    Control::Enhancer {
                        model: Some("gfpgan_1.4".into())
                    }
                ),
                Effect::FetchMaskModel("gfpgan_1.4")
            ]
        );
        assert_eq!(
            store.command(Command::Enhancer(None)),
            [Effect::Control(
                Role::Video,
                Control::Enhancer { model: None }
            )]
        );
    }

    #[test]
    fn keeping_hair_goes_with_the_start_and_live_and_has_the_parser_fetched() {
        let mut store = store();
        assert!(!store.snapshot().keep_hair, "off by default");
        assert!(store.command(Command::KeepHair(true)).is_empty());
        let Some(Effect::StartRun { controls, .. }) = store.command(Command::Start).pop() else {
            panic!("no start");
        };
        assert!(controls.contains(&(Role::Video, Control::RegionMask { on: true })));
        // At each start, once the video server answers.
        assert!(
            store
                .apply(Event::ServerUp(Role::Video, true))
                .contains(&Effect::FetchMaskModel(PARSER_MODEL_ID))
        );
        assert_eq!(
            store.command(Command::KeepHair(false)),
            [Effect::Control(
                Role::Video,
                Control::RegionMask { on: false }
            )]
        );
        assert!(store.command(Command::KeepHair(false)).is_empty(), "once");
        assert_eq!(
            store.command(Command::KeepHair(true)),
            [
                Effect::Control(Role::Video, Control::RegionMask { on: true }),
                Effect::FetchMaskModel(PARSER_MODEL_ID)
            ]
        );
    }

    #[test]
    fn keeping_occluders_goes_with_the_start_and_live_to_the_video_server() {
        let mut store = store();
        assert!(!store.snapshot().keep_occluders, "off by default");
        assert!(store.command(Command::KeepOccluders(true)).is_empty());
        let Some(Effect::StartRun { controls, .. }) = store.command(Command::Start).pop() else {
            panic!("no start");
        };
        assert!(controls.contains(&(Role::Video, Control::Occlusion { on: true })));
        assert_eq!(
            store.command(Command::KeepOccluders(false)),
            [Effect::Control(
                Role::Video,
                Control::Occlusion { on: false }
            )]
        );
        assert!(
            store.command(Command::KeepOccluders(false)).is_empty(),
            "once"
        );
    }

    #[test]
    fn the_swapper_is_inswapper_by_default_and_a_chosen_one_is_sent_and_fetched() {
        let mut store = store();
        let snapshot = store.snapshot();
        assert_eq!(snapshot.swapper, "inswapper_128", "a calm default");
        let ids: Vec<&str> = snapshot.swappers.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids[0], "inswapper_128");
        assert!(ids.contains(&"hyperswap_1a_256") && ids.contains(&"simswap_unofficial_512"));
        let simswap = &snapshot.swappers[ids
            .iter()
            .position(|i| *i == "simswap_unofficial_512")
            .unwrap()];
        assert!(
            simswap.license.contains("crossface_simswap"),
            "{}",
            simswap.license
        );
        assert!(
            store
                .command(Command::ChooseSwapper("roop".into()))
                .is_empty()
        );
        assert_eq!(store.snapshot().swapper, "inswapper_128");
        assert!(
            store
                .command(Command::ChooseSwapper("simswap_unofficial_512".into()))
                .is_empty()
        );
        assert!(store.initial_controls().contains(&(
            Role::Video,
            Control::Swapper {
                model_id: "simswap_unofficial_512".into()
            }
        )));
        // Once the video server is reachable, it is asked to fetch the swapper and converter.
        let effects = store.apply(Event::ServerUp(Role::Video, true));
        assert!(effects.contains(&Effect::FetchSwapperModels(vec![
            "simswap_unofficial_512".into(),
            "crossface_simswap".into()
        ])));
    }

    #[test]
    fn pixel_boost_is_one_by_default_sent_live_and_at_each_start() {
        let mut store = store();
        assert_eq!(store.snapshot().pixel_boost, 1, "a calm default");
        assert!(
            store.command(Command::PixelBoost(3)).is_empty(),
            "not a boost"
        );
        assert!(
            store.command(Command::PixelBoost(2)).is_empty(),
            "nothing runs yet"
        );
        assert_eq!(store.snapshot().pixel_boost, 2);
        let controls = store.initial_controls();
        assert!(controls.contains(&(Role::Video, Control::PixelBoost { factor: 2 })));
        store.command(Command::PixelBoost(1));
        assert!(
            !store
                .initial_controls()
                .iter()
                .any(|(_, c)| matches!(c, Control::PixelBoost { .. })),
            "the server's default is not sent"
        );
    }

    #[test]
    fn keeping_occluders_has_the_video_server_fetch_the_occlusion_model() {
        let mut store = store();
        assert!(store.command(Command::KeepOccluders(true)).is_empty());
        store.command(Command::Start);
        // At each start, once the video server answers.
        assert!(
            store
                .apply(Event::ServerUp(Role::Video, true))
                .contains(&Effect::FetchMaskModel(OCCLUSION_MODEL_ID))
        );
        assert!(store.command(Command::KeepOccluders(false)).len() == 1);
        // Turned on while it runs: the control and the fetch.
        assert_eq!(
            store.command(Command::KeepOccluders(true)),
            [
                Effect::Control(Role::Video, Control::Occlusion { on: true }),
                Effect::FetchMaskModel(OCCLUSION_MODEL_ID)
            ]
        );
    }

    #[test]
    fn gains_are_kept_within_their_range_and_passed_on() {
        let mut store = store();
        assert_eq!(
            store.command(Command::SetGains {
                input_db: 40.0,
                output_db: f32::NAN
            }),
            [Effect::SetGains {
                input_db: 24.0,
                output_db: 0.0
            }]
        );
        let snapshot = store.snapshot();
        assert_eq!(
            (snapshot.input_gain_db, snapshot.output_gain_db),
            (24.0, 0.0)
        );
    }

    #[test]
    fn a_file_dialog_is_asked_for_and_what_it_picks_is_used() {
        let mut store = store();
        assert_eq!(
            store.command(Command::Pick(PickKind::Face)),
            [Effect::PickFile(PickKind::Face)]
        );
        assert!(store.apply(Event::Picked(PickKind::Face, None)).is_empty());
        let photo = PathBuf::from("/home/sam/ada.webp");
        assert_eq!(
            store.apply(Event::Picked(PickKind::Face, Some(photo.clone()))),
            [Effect::LoadFace(photo)]
        );
        let clip = PathBuf::from("/home/sam/clip.y4m");
        store.apply(Event::Picked(PickKind::Video, Some(clip.clone())));
        assert_eq!(store.snapshot().camera, Camera::VideoFile(clip));
    }

    #[test]
    fn cloud_mode_with_a_key_starts_on_pods_and_shows_each_step() {
        let mut store = store();
        store.command(Command::SetMode(Mode::Cloud));
        store.apply(Event::ApiKey(ApiKey::Stored));
        let effects = store.command(Command::Start);
        assert!(
            matches!(effects.as_slice(), [Effect::StartCloudRun { .. }]),
            "{effects:?}"
        );
        assert_eq!(store.snapshot().phase, Phase::Starting);
        store.apply(Event::CloudStep(
            "[   2.0 s] creating the video pod on NVIDIA L4 ($0.43/h)".into(),
        ));
        let notice = store.snapshot().notice.unwrap();
        assert!(!notice.is_error);
        assert!(notice.text.contains("creating the video pod"), "{notice:?}");
        let quoted = studio_cloud::Price::Quoted {
            hourly_usd: 0.86,
            gpu: "NVIDIA L4".into(),
        };
        store.apply(Event::CloudPrice(quoted.clone()));
        assert_eq!(store.snapshot().cloud.price, Some(quoted));
        let running = studio_cloud::Price::Running { hourly_usd: 0.88 };
        store.apply(Event::CloudPrice(running.clone()));
        assert_eq!(store.snapshot().cloud.price, Some(running));
        store.apply(Event::RunEnded(Err(
            "RunPod says the account balance is too low to start a pod (Your balance is too low). Add funds at runpod.io, then start again.".into(),
        )));
        let snapshot = store.snapshot();
        assert_eq!(snapshot.cloud.price, None, "no pod runs any more");
        let notice = snapshot.notice.unwrap();
        assert!(notice.is_error);
        assert!(
            notice.text.contains("Your balance is too low"),
            "{notice:?}"
        );
    }

    #[test]
    fn cloud_mode_says_plainly_what_it_needs_and_starts_nothing() {
        let mut store = store();
        assert_eq!(
            store.command(Command::SetMode(Mode::Cloud)),
            [Effect::CheckApiKey]
        );
        store.apply(Event::ApiKey(ApiKey::Missing));
        assert!(store.command(Command::Start).is_empty());
        let snapshot = store.snapshot();
        assert_eq!(snapshot.phase, Phase::Idle);
        assert!(
            snapshot
                .notice
                .unwrap()
                .text
                .starts_with("Cloud mode needs a RunPod API key")
        );
        assert!(
            store
                .command(Command::SaveApiKey(Secret::new("  ")))
                .is_empty()
        );
        let save = Command::SaveApiKey(Secret::new(" rk_123 "));
        assert!(
            !format!("{save:?}").contains("rk_123"),
            "the key stays out of logs"
        );
        assert_eq!(
            store.command(save),
            [Effect::SaveApiKey(Secret::new("rk_123"))]
        );
    }

    #[test]
    fn a_face_answer_is_read_as_corners_and_a_voice_list_merges_with_the_configuration() {
        let mut store = store();
        let path = PathBuf::from("/faces/ada.png");
        store.command(Command::AddFace(path.clone()));
        // The server's answer as it goes over the wire: `bbox` is `[x1, y1, x2, y2]`.
        let answer: FaceAdded =
            serde_json::from_str(r#"{"id": "f", "bbox": [100.0, 40.0, 260.0, 240.0], "faces": 1}"#)
                .unwrap();
        store.apply(Event::FaceUploaded {
            path,
            result: Ok(answer),
        });
        let FaceUpload::Detected { face_id, face_box } = &store.snapshot().faces[0].upload else {
            panic!("{:?}", store.snapshot().faces[0].upload);
        };
        assert_eq!(face_id, "f");
        assert_eq!(
            *face_box,
            FaceBox {
                x1: 100.0,
                y1: 40.0,
                x2: 260.0,
                y2: 240.0
            }
        );
        assert_eq!((face_box.width(), face_box.height()), (160.0, 200.0));

        let list: studio_proto::api::VoiceList = serde_json::from_str(
            r#"{"voices": [{"id": "ada", "name": "Ada", "kind": "neural", "latency_ms": 120.0,
                "block_ms": 80.0, "context_ms": 400.0, "crossfade_ms": 20.0, "ready": false,
                "problem": "model file ada.onnx is missing"}]}"#,
        )
        .unwrap();
        store.apply(Event::Voices(Ok(list.voices)));
        let voices = store.snapshot().voices;
        assert_eq!(voices[0].id(), "ada");
        assert_eq!(voices[0].kind(), VoiceKind::Neural);
        assert_eq!(voices[0].ready(), Some(false));
        // Configured voices the server did not list stay offered, readiness unknown.
        assert!(voices.len() > 1);
        assert!(voices[1..].iter().all(|v| v.ready().is_none()));
    }

    fn running_store() -> Store {
        let mut store = store();
        store.command(Command::Start);
        store.apply(Event::Session(Role::Video, true));
        store.apply(Event::Session(Role::Audio, true));
        assert_eq!(store.snapshot().phase, Phase::Running);
        store
    }

    fn answered(control: Control, refused: Option<&str>) -> Event {
        let role = match control {
            Control::SetFace { .. } => Role::Video,
            _ => Role::Audio,
        };
        Event::ControlAnswered {
            role,
            control,
            refused: refused.map(str::to_string),
        }
    }

    fn set_voice(id: &str) -> Control {
        Control::SetVoice {
            voice_id: id.into(),
        }
    }

    #[test]
    fn a_refused_voice_goes_back_to_the_voice_the_server_took_before_and_says_why() {
        let mut store = running_store();
        store.command(Command::ChooseVoice("robot".into()));
        store.apply(answered(set_voice("robot"), None));
        store.command(Command::ChooseVoice("ghost".into()));
        let effects = store.apply(answered(
            set_voice("ghost"),
            Some("unknown voice \"ghost\""),
        ));
        // The session still wears robot; the run's settings say so again.
        assert_eq!(effects, [Effect::Control(Role::Audio, set_voice("robot"))]);
        let snapshot = store.snapshot();
        assert_eq!(snapshot.chosen_voice.as_deref(), Some("robot"));
        assert_eq!(
            snapshot.voice_refused,
            Some(Refusal {
                id: "ghost".into(),
                reason: "unknown voice \"ghost\"".into()
            })
        );
        // A refusal that comes after another choice leaves that choice alone.
        store.command(Command::ChooseVoice("deep".into()));
        assert_eq!(
            store.snapshot().voice_refused,
            None,
            "a new choice, a new answer"
        );
        assert!(
            store
                .apply(answered(set_voice("ghost"), Some("late")))
                .is_empty()
        );
        assert_eq!(store.snapshot().chosen_voice.as_deref(), Some("deep"));
    }

    #[test]
    fn a_refused_face_goes_back_to_the_face_worn_before_and_is_marked() {
        let mut store = running_store();
        let thumbnail = one_pixel_thumbnail(10);
        for (i, name) in ["a.png", "b.png"].into_iter().enumerate() {
            let path = PathBuf::from(name);
            store.command(Command::AddFace(path.clone()));
            store.apply(Event::FaceLoaded {
                path: path.clone(),
                result: Ok(thumbnail.clone()),
            });
            store.apply(Event::FaceUploaded {
                path,
                result: Ok(FaceAdded {
                    id: format!("f{i}"),
                    bbox: [1.0, 1.0, 5.0, 5.0],
                    faces: 1,
                    warning: None,
                }),
            });
        }
        let set_face = |id: &str| Control::SetFace {
            face_id: Some(id.into()),
        };
        store.apply(answered(set_face("f0"), None));
        store.command(Command::ChooseFace(Some(1)));
        let effects = store.apply(answered(
            set_face("f1"),
            Some("the face engine is not ready"),
        ));
        assert_eq!(effects, [Effect::Control(Role::Video, set_face("f0"))]);
        let snapshot = store.snapshot();
        assert_eq!(snapshot.chosen_face, Some(0));
        assert_eq!(
            snapshot.faces[1].refused.as_deref(),
            Some("the face engine is not ready")
        );
        assert_eq!(snapshot.faces[0].refused, None);
        // Trying it again clears the old refusal until the server answers.
        store.command(Command::ChooseFace(Some(1)));
        assert_eq!(store.snapshot().faces[1].refused, None);
    }

    /// The enhancer's rate is automatic unless the person picks one, goes back to automatic
    /// live, and the video server's word on the rate it runs at reaches the video card as a
    /// short line (only while automatic).
    #[test]
    fn the_enhancers_rate_is_automatic_or_chosen_and_its_pace_is_shown() {
        let mut store = store();
        store.command(Command::Enhancer(Some("gfpgan_1.4".into())));
        let Some(Effect::StartRun { controls, .. }) = store.command(Command::Start).pop() else {
            panic!("no start");
        };
        assert!(
            !controls
                .iter()
                .any(|(_, c)| matches!(c, Control::EnhanceEvery { .. })),
            "automatic is the server's default: nothing to send"
        );
        assert_eq!(
            store.command(Command::EnhanceEvery(EnhanceEvery::Frames(2))),
            [Effect::Control(
                Role::Video,
                Control::EnhanceEvery {
                    frames: EnhanceEvery::Frames(2)
                }
            )]
        );
        assert_eq!(
            store.command(Command::EnhanceEvery(EnhanceEvery::Auto)),
            [Effect::Control(
                Role::Video,
                Control::EnhanceEvery {
                    frames: EnhanceEvery::Auto
                }
            )]
        );
        assert!(
            store
                .command(Command::EnhanceEvery(EnhanceEvery::Auto))
                .is_empty(),
            "no change, nothing sent"
        );

        let pace = EnhancerPace {
            every: 2,
            automatic: true,
            fps: 30.0,
            limit: None,
        };
        let session = |state, enhancer| studio_proto::api::SessionStatus {
            id: "s".into(),
            transport: studio_proto::api::TransportKind::Raw,
            state,
            frames_in: 0,
            frames_out: 0,
            frames_dropped: 0,
            samples_in: 0,
            samples_out: 0,
            converted_blocks: 0,
            settings: Default::default(),
            queue_drops: Default::default(),
            enhancer,
        };
        let mut with = status(Role::Video, Vec::new(), 10);
        with.sessions = vec![
            session(SessionState::Closed, None),
            session(SessionState::Open, Some(pace.clone())),
        ];
        store.apply(Event::Status {
            status: with,
            at: Instant::now(),
        });
        let card = &store.snapshot().servers[role_index(Role::Video)];
        assert_eq!(card.enhancer.as_ref(), Some(&pace));
        assert_eq!(
            enhancer_pace_text(&pace).as_deref(),
            Some("Enhancer: every 2nd frame to keep 30 fps.")
        );
        let every = EnhancerPace {
            every: 1,
            ..pace.clone()
        };
        assert_eq!(
            enhancer_pace_text(&every).as_deref(),
            Some("Enhancer: every frame, keeping 30 fps.")
        );
        let slow = EnhancerPace {
            every: 30,
            limit: Some(
                "between its runs frames take 80 ms, more than the 33 ms a 30 fps camera allows"
                    .into(),
            ),
            ..pace.clone()
        };
        assert_eq!(
            enhancer_pace_text(&slow).as_deref(),
            Some(
                "Enhancer: every 30th frame; between its runs frames take 80 ms, more than the 33 ms a 30 fps camera allows."
            )
        );
        let chosen = EnhancerPace {
            automatic: false,
            ..pace
        };
        assert_eq!(enhancer_pace_text(&chosen), None, "the person knows");
        assert_eq!(
            [1, 2, 3, 4, 11, 12, 13, 21, 22, 23].map(ordinal),
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd"
            ]
        );

        store.apply(Event::Status {
            status: status(Role::Video, Vec::new(), 20),
            at: Instant::now(),
        });
        let card = &store.snapshot().servers[role_index(Role::Video)];
        assert_eq!(card.enhancer, None, "no session, no pace");
    }
}
