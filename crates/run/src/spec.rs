//! What a run is asked to do. The command line and the window both describe their run as a
//! [`RunSpec`]; what follows from the choices (ICE-TCP for cloud pods, which servers, which
//! outputs) is decided here, once, for both.

use crate::controls::LiveControls;
use crate::faces::FacePhoto;
use crate::manager::ManagerOptions;
use crate::session_transport::SessionTransport;
use crate::session_transport::Transport;
use crate::tap::RunTap;
use std::sync::Arc;
use std::time::Duration;
use studio_cloud::{Progress, Secret};
use studio_media::input::{AudioInput, VideoInput};
use studio_media::output::{AudioOut, VideoOut};
use studio_transport::webrtc::{IceMode, WebRtcOptions};

/// One run: its sources, outputs, live settings, transport and servers.
pub struct RunSpec {
    pub video_in: VideoInput,
    pub audio_in: AudioInput,
    /// When `audio_in` is a microphone that cannot open, the test tone stands in and the tap
    /// is told why (the window starts on a computer without a microphone); otherwise the run
    /// fails.
    pub microphone_fallback: bool,
    /// Capture this long; `None` runs until the sources end or the run is cancelled.
    pub seconds: Option<f64>,
    /// Where the processed media goes: at most one file per kind, and devices. A device that
    /// cannot open fails the run, before any server starts.
    pub video_out: Vec<VideoOut>,
    pub audio_out: Vec<AudioOut>,
    /// This system's virtual camera and microphone (the window's switches). One that cannot
    /// open is told to the tap and left out; the run goes on.
    pub virtual_camera: bool,
    pub virtual_microphone: bool,
    /// Where a virtual device's output goes instead when this system has none (the console
    /// studio): files in a folder, bounded.
    pub device_fallback: Option<DeviceFallback>,
    /// Hear yourself: the processed voice also plays on this output device (`""` is the
    /// default output). One that cannot open is told to the tap and left out.
    pub monitor: Option<String>,
    /// Live settings: set before the run to start with them, change them while it runs.
    pub controls: Arc<LiveControls>,
    /// The voice's input and output gains and the input's level, live.
    pub levels: Arc<crate::levels::AudioLevels>,
    /// Hold the faster path so video and audio leave with the same delay (off only to
    /// diagnose).
    pub lip_sync: bool,
    /// The face to wear: uploaded to every video server the run connects to.
    pub face: Option<Arc<FacePhoto>>,
    /// Face mapping: each person (a photo of someone the camera shows) with the face they
    /// wear, uploaded to every video server the run connects to.
    pub people: Vec<(Arc<FacePhoto>, Arc<FacePhoto>)>,
    /// When a video server has no face models, have it download them (their licence accepted
    /// by whoever set this) instead of running without the face.
    pub fetch_face_models: bool,
    /// A voice from a file: sent to every audio server the run connects to, and chosen once
    /// the server has its shared models.
    pub voice_file: Option<Arc<crate::voice_file::VoiceFile>>,
    /// How sessions travel.
    pub transport: Transport,
    /// ICE over UDP or TCP for WebRTC; cloud pods always get TCP (see
    /// [`RunSpec::session_transport`]).
    pub ice: IceMode,
    pub servers: Servers,
    /// Print a status line this often (the console studio).
    pub status_every: Option<Duration>,
    /// For a window: previews, latency, manager events, camera switching, device problems.
    pub tap: Option<RunTap>,
}

/// Files that stand in for the virtual camera and microphone: the first `video_seconds` of the
/// processed video (`processed.y4m`) and the first `audio_seconds` of the processed voice
/// (`processed.wav`) in `dir`, so a file cannot grow for as long as the run lasts.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceFallback {
    pub dir: std::path::PathBuf,
    pub video_seconds: f64,
    pub audio_seconds: f64,
}

impl DeviceFallback {
    pub fn video_file(&self) -> std::path::PathBuf {
        self.dir.join("processed.y4m")
    }

    pub fn audio_file(&self) -> std::path::PathBuf {
        self.dir.join("processed.wav")
    }
}

/// Where the servers come from.
pub enum Servers {
    /// Two processes on this computer, started, watched and restarted by the run.
    Local(ManagerOptions),
    /// Two RunPod pods, created for the run with `key` and deleted after it, whatever happens;
    /// each provisioning step goes to `on_step`.
    Cloud {
        key: Secret,
        on_step: Arc<dyn Fn(&Progress) + Send + Sync>,
    },
}

impl RunSpec {
    /// A run from the test pattern and tone to nowhere on `servers`: the fields a caller does
    /// not set keep these values.
    pub fn new(servers: Servers) -> RunSpec {
        RunSpec {
            video_in: VideoInput::Test,
            audio_in: AudioInput::Tone(440.0),
            microphone_fallback: false,
            seconds: None,
            video_out: Vec::new(),
            audio_out: Vec::new(),
            virtual_camera: false,
            virtual_microphone: false,
            controls: Arc::new(LiveControls::new()),
            levels: Arc::default(),
            lip_sync: true,
            face: None,
            people: Vec::new(),
            voice_file: None,
            fetch_face_models: false,
            device_fallback: None,
            monitor: None,
            transport: Transport::Raw,
            ice: IceMode::Udp,
            servers,
            status_every: None,
            tap: None,
        }
    }

    pub fn is_cloud(&self) -> bool {
        matches!(self.servers, Servers::Cloud { .. })
    }

    /// How every session of the run travels. RunPod pods have no UDP: in the cloud, WebRTC
    /// goes over ICE-TCP whatever was asked.
    pub fn session_transport(&self, fps: f32) -> SessionTransport {
        match self.transport {
            Transport::Raw => SessionTransport::Raw,
            Transport::Webrtc => SessionTransport::WebRtc(WebRtcOptions {
                ice: if self.is_cloud() {
                    IceMode::Tcp
                } else {
                    self.ice
                },
                fps,
                ..Default::default()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> Servers {
        let config = studio_proto::config::Config::defaults().unwrap();
        Servers::Local(ManagerOptions {
            server_binary: "studio-server".into(),
            config_file: None,
            restart: config.servers.restart.clone(),
            inject_delay: Default::default(),
        })
    }

    fn cloud() -> Servers {
        Servers::Cloud {
            key: Secret::new("key"),
            on_step: Arc::new(|_: &Progress| {}),
        }
    }

    #[test]
    fn cloud_pods_get_webrtc_over_ice_tcp_whatever_was_asked() {
        let mut spec = RunSpec::new(cloud());
        spec.transport = Transport::Webrtc;
        spec.ice = IceMode::Udp;
        assert_eq!(spec.session_transport(30.0).name(), "webrtc-tcp");
        // The raw transport stays raw: it reaches pods on this computer (the fake API).
        spec.transport = Transport::Raw;
        assert_eq!(spec.session_transport(30.0).name(), "raw");
    }

    #[test]
    fn local_servers_get_the_ice_mode_asked_for() {
        let mut spec = RunSpec::new(local());
        spec.transport = Transport::Webrtc;
        assert_eq!(spec.session_transport(30.0).name(), "webrtc-udp");
        spec.ice = IceMode::Tcp;
        assert_eq!(spec.session_transport(30.0).name(), "webrtc-tcp");
        spec.transport = Transport::Raw;
        assert_eq!(spec.session_transport(30.0).name(), "raw");
    }
}
