//! The app end of a WebRTC session: build the offer (H.264 and Opus both ways, one data
//! channel), take the server's answer, connect over UDP or ICE-TCP, and hand back the same
//! [`SessionHandle`] a raw session gives. Carrying the offer to the server is signalling, the
//! HTTP client's job (`studio-client`): this module never speaks HTTP.

use super::driver::{Local, PeerStats, PeerTask};
use super::net::{LossGate, LossPlan, Net};
use super::peer::{ClientConfig, Peer, Role, rtc_config};
use crate::TransportError;
use crate::mailbox::Mailbox;
use crate::raw::SessionHandle;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::net::TcpType;
use str0m::{Candidate, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

/// Which ICE transport the app offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IceMode {
    /// UDP host candidates (lowest latency; not on RunPod).
    #[default]
    Udp,
    /// ICE-TCP only: the app connects to the server's passive TCP candidate.
    Tcp,
}

impl std::str::FromStr for IceMode {
    type Err = String;
    fn from_str(s: &str) -> Result<IceMode, String> {
        match s {
            "udp" => Ok(IceMode::Udp),
            "tcp" => Ok(IceMode::Tcp),
            other => Err(format!("ICE transport is udp or tcp, not {other:?}")),
        }
    }
}

/// How to open a WebRTC session.
#[derive(Debug, Clone, Default)]
pub struct WebRtcOptions {
    pub ice: IceMode,
    /// With [`IceMode::Tcp`]: connect here whatever the answer advertises (a pod's public
    /// `ip:port`, e.g. from `RUNPOD_PUBLIC_IP` and its mapped TCP port).
    pub tcp_address: Option<SocketAddr>,
    /// Frame rate the encoder is told to expect.
    pub fps: f32,
    /// Test hook: drop UDP packets in both directions.
    pub loss: Option<LossPlan>,
}

/// An open WebRTC session from the app's side.
pub struct WebRtcSession {
    /// The server's id for it (for `DELETE /v1/sessions/{id}`).
    pub id: String,
    /// The `Location` the server answered with.
    pub location: String,
    pub handle: SessionHandle,
    pub stats: Arc<PeerStats>,
}

/// How long [`PendingSession::connect`] waits for ICE and DTLS to complete.
const CONNECT_WAIT: Duration = Duration::from_secs(15);

/// An offer made, waiting for the server's answer.
pub struct PendingSession {
    rtc: Rtc,
    pending: SdpPendingOffer,
    tracks: ClientConfig,
    udp: Option<UdpSocket>,
    active_local: Option<SocketAddr>,
    options: WebRtcOptions,
    server: SocketAddr,
}

/// Make the SDP offer for a server at `server` (the signalling host, or the forced ICE-TCP
/// address): the offer to post, and the session waiting for the answer.
pub async fn offer(
    server: SocketAddr,
    options: &WebRtcOptions,
) -> Result<(String, PendingSession), TransportError> {
    let local_ip = local_ip_towards(server)?;
    let mut rtc = rtc_config().build(Instant::now());

    let mut udp = None;
    let mut active_local = None;
    match options.ice {
        IceMode::Udp => {
            let socket =
                UdpSocket::bind((local_ip, 0))
                    .await
                    .map_err(|source| TransportError::Io {
                        what: format!("a UDP port on {local_ip}"),
                        source,
                    })?;
            let addr = socket.local_addr().map_err(|source| TransportError::Io {
                what: "the session's UDP port".into(),
                source,
            })?;
            let candidate = Candidate::host(addr, "udp")
                .map_err(|e| TransportError::Protocol(format!("UDP candidate {addr}: {e}")))?;
            rtc.add_local_candidate(candidate);
            udp = Some(socket);
        }
        IceMode::Tcp => {
            // Active candidates carry the discard port: the real one is the connection's.
            let addr = SocketAddr::new(local_ip, 9);
            let candidate = Candidate::builder()
                .tcp()
                .host(addr)
                .tcptype(TcpType::Active)
                .build()
                .map_err(|e| TransportError::Protocol(format!("TCP candidate {addr}: {e}")))?;
            rtc.add_local_candidate(candidate);
            active_local = Some(addr);
        }
    }

    let Some((offer, pending, tracks)) = ClientConfig::offer(&mut rtc) else {
        return Err(TransportError::Protocol("no SDP offer was made".into()));
    };
    let session = PendingSession {
        rtc,
        pending,
        tracks,
        udp,
        active_local,
        options: options.clone(),
        server,
    };
    Ok((offer.to_sdp_string(), session))
}

impl PendingSession {
    /// Take the server's SDP answer and connect. `id` and `location` are what the server
    /// named the session; on failure the caller tells the server to forget it.
    pub async fn connect(
        self,
        answer_sdp: &str,
        id: String,
        location: String,
    ) -> Result<WebRtcSession, TransportError> {
        let PendingSession {
            mut rtc,
            pending,
            tracks,
            udp,
            active_local,
            options,
            server,
        } = self;
        let answer = SdpAnswer::from_sdp_string(answer_sdp)
            .map_err(|e| TransportError::Protocol(format!("the server's SDP answer: {e}")))?;
        rtc.sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| TransportError::Protocol(format!("the server's SDP answer: {e}")))?;
        if let (IceMode::Tcp, Some(forced)) = (options.ice, options.tcp_address) {
            let candidate = Candidate::builder()
                .tcp()
                .host(forced)
                .tcptype(TcpType::Passive)
                .build()
                .map_err(|e| TransportError::Protocol(format!("TCP address {forced}: {e}")))?;
            rtc.add_remote_candidate(candidate);
        }

        let outbox = Arc::new(Mailbox::new());
        let (events_tx, events) = mpsc::channel(crate::raw::SESSION_EVENTS_DEPTH);
        let stats = Arc::new(PeerStats::default());
        let fps = if options.fps > 0.0 { options.fps } else { 30.0 };
        let peer = PeerTask::new(
            Peer::new(rtc, Role::Client(tracks), Instant::now()),
            Local::Client {
                outbox: outbox.clone(),
                events: events_tx,
            },
            stats.clone(),
            fps,
        );
        let mut net = Net::new(udp, active_local);
        if let Some(plan) = options.loss.clone() {
            let start = Instant::now();
            net.set_loss(LossGate::new(plan, 0x5eed, start));
            if let Ok(mut slot) = stats.loss_start.lock() {
                *slot = Some(start);
            }
        }
        let (cancel_tx, cancel) = watch::channel(false);
        let driver = tokio::spawn(async move {
            let reason = peer.run(net, cancel).await;
            drop(cancel_tx);
            reason
        });

        let deadline = tokio::time::Instant::now() + CONNECT_WAIT;
        while !stats.connected.load(Ordering::Relaxed) {
            if driver.is_finished() {
                let reason = driver.await.unwrap_or_else(|e| e.to_string());
                return Err(TransportError::Protocol(format!(
                    "the WebRTC session did not connect: {reason}"
                )));
            }
            if tokio::time::Instant::now() > deadline {
                driver.abort();
                return Err(TransportError::Timeout(format!(
                    "no WebRTC connection to {server} within {CONNECT_WAIT:?} ({:?})",
                    options.ice
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if let Ok(mut transport) = stats.transport.lock() {
            *transport = Some(
                match options.ice {
                    IceMode::Udp => "udp",
                    IceMode::Tcp => "tcp",
                }
                .into(),
            );
        }
        Ok(WebRtcSession {
            id,
            location,
            handle: SessionHandle::from_parts(outbox, events),
            stats,
        })
    }
}

/// The local address the system would use to reach `server` (no packet is sent).
fn local_ip_towards(server: SocketAddr) -> Result<IpAddr, TransportError> {
    let io = |source| TransportError::Io {
        what: format!("a route to {server}"),
        source,
    };
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").map_err(io)?;
    socket.connect(server).map_err(io)?;
    Ok(socket.local_addr().map_err(io)?.ip())
}
