//! What a window needs to watch a run live: the newest camera and processed frames, each
//! path's latency, the manager's events, and a camera that can be switched mid-run.

use crate::manager::{ManagerEvent, ServerInfo, ServerManager};
use std::sync::Arc;
use studio_media::VideoFrame;
use studio_media::input::VideoInput;
use studio_proto::Role;
use studio_proto::control::Control;
use tokio::sync::{mpsc, watch};

/// Something the run reports to whoever watches it.
#[derive(Debug, Clone)]
pub enum TapEvent {
    Manager(ManagerEvent),
    /// The role's current server: `None` while it is (re)starting or after it stopped.
    Server(Role, Option<ServerInfo>),
    /// A session opened (`true`) or closed (`false`).
    Session(Role, bool),
    /// Capture-to-return latency of the newest frame or block, milliseconds.
    Latency(Role, f64),
    /// The camera could not be switched; the previous one stays.
    CameraFailed(String),
    /// The camera went away (what happened, in words) or streams again (`None`).
    CameraState(Option<String>),
    /// A device the run asked for could not be used and was left out or stood in for; the
    /// sentence says why and what to do.
    DeviceProblem(String),
    /// A session answered a face or voice it was sent: taken, or refused with the reason.
    ControlAnswered {
        role: Role,
        control: Control,
        refused: Option<String>,
    },
}

/// The newest frame of each side: sharing is cheap (one `Arc`), older frames are simply
/// replaced, so a slow window never holds up the media path.
#[derive(Clone)]
pub struct Previews {
    pub camera: watch::Receiver<Option<Arc<VideoFrame>>>,
    pub processed: watch::Receiver<Option<Arc<VideoFrame>>>,
}

/// Handed to [`crate::run`] through `RunSpec::tap`.
#[derive(Clone)]
pub struct RunTap {
    camera: watch::Sender<Option<Arc<VideoFrame>>>,
    processed: watch::Sender<Option<Arc<VideoFrame>>>,
    events: mpsc::UnboundedSender<TapEvent>,
    /// Switch the camera: each new value replaces the run's video source from its next frame.
    pub video_input: Option<watch::Receiver<VideoInput>>,
}

impl RunTap {
    /// A tap, the previews it fills, and the receiving end of its events.
    pub fn new(
        video_input: Option<watch::Receiver<VideoInput>>,
    ) -> (RunTap, Previews, mpsc::UnboundedReceiver<TapEvent>) {
        let (camera, camera_rx) = watch::channel(None);
        let (processed, processed_rx) = watch::channel(None);
        let (events, events_rx) = mpsc::unbounded_channel();
        (
            RunTap {
                camera,
                processed,
                events,
                video_input,
            },
            Previews {
                camera: camera_rx,
                processed: processed_rx,
            },
            events_rx,
        )
    }

    /// Previews that follow this tap (for a window opened after the run started).
    pub fn previews(&self) -> Previews {
        Previews {
            camera: self.camera.subscribe(),
            processed: self.processed.subscribe(),
        }
    }

    pub(crate) fn camera_frame(&self, frame: &VideoFrame) {
        // Cloning a frame costs one copy of its pixels; skip it while nobody looks.
        if self.camera.receiver_count() > 0 {
            self.camera.send_replace(Some(Arc::new(frame.clone())));
        }
    }

    pub(crate) fn processed_frame(&self, frame: &VideoFrame) {
        if self.processed.receiver_count() > 0 {
            self.processed.send_replace(Some(Arc::new(frame.clone())));
        }
    }

    pub(crate) fn send(&self, event: TapEvent) {
        let _ = self.events.send(event);
    }

    /// Forward the manager's events and each role's current server until the manager stops.
    pub(crate) fn watch_manager(&self, manager: &ServerManager) {
        let mut events = manager.subscribe();
        let tap = self.clone();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => tap.send(TapEvent::Manager(event)),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        for role in Role::ALL {
            let mut server = manager.server(role);
            let tap = self.clone();
            tokio::spawn(async move {
                loop {
                    let info = server.borrow_and_update().clone();
                    tap.send(TapEvent::Server(role, info));
                    if server.changed().await.is_err() {
                        tap.send(TapEvent::Server(role, None));
                        break;
                    }
                }
            });
        }
    }
}
