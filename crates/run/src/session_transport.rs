//! Which transport a run's sessions use (`--transport raw|webrtc`, `--ice udp|tcp`), and
//! opening a session with it.

use serde::Serialize;
use studio_client::{ClientError, ServerClient};
use studio_transport::SessionHandle;
use studio_transport::webrtc::{IceMode, WebRtcOptions};

/// How a session reaches a server: the seam where the WebRTC transport plugs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Same-host raw sessions: servers on this computer (local mode, or the fake RunPod API).
    Raw,
    /// WebRTC with ICE-TCP to the pod's public IP and port: what real RunPod pods need.
    Webrtc,
}

/// The transport for every session of a run.
#[derive(Debug, Clone, Default)]
pub enum SessionTransport {
    /// Same-host raw frames (the default for local servers).
    #[default]
    Raw,
    /// WebRTC with H.264 and Opus, over UDP or ICE-TCP.
    WebRtc(WebRtcOptions),
}

impl SessionTransport {
    /// `raw` or `webrtc` with its ICE mode.
    pub fn parse(name: &str, ice: IceMode, fps: f32) -> Result<SessionTransport, String> {
        match name {
            "raw" => Ok(SessionTransport::Raw),
            "webrtc" => Ok(SessionTransport::WebRtc(WebRtcOptions {
                ice,
                fps,
                ..Default::default()
            })),
            other => Err(format!("transport is raw or webrtc, not {other:?}")),
        }
    }

    /// The name the report uses: `raw`, `webrtc-udp` or `webrtc-tcp`.
    pub fn name(&self) -> &'static str {
        match self {
            SessionTransport::Raw => "raw",
            SessionTransport::WebRtc(o) if o.ice == IceMode::Tcp => "webrtc-tcp",
            SessionTransport::WebRtc(_) => "webrtc-udp",
        }
    }

    /// Open one session: its server-side id and the handle.
    pub async fn open(
        &self,
        client: &ServerClient,
    ) -> Result<(String, SessionHandle), ClientError> {
        match self {
            SessionTransport::Raw => {
                let (offer, handle) = client.open_raw_session().await?;
                Ok((offer.id, handle))
            }
            SessionTransport::WebRtc(options) => {
                let session = client.open_webrtc_session(options).await?;
                Ok((session.id, session.handle))
            }
        }
    }
}
