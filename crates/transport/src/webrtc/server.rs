//! The server end of WebRTC sessions: answers SDP offers, listens for ICE-TCP on one shared
//! port (routing each new connection to its session by the STUN username), and hands each
//! session to the engine as a [`ServerConnection`], like a raw session.

use super::admission::{Admission, AdmissionLimits};
use super::driver::{Local, PeerStats, PeerTask};
use super::framing::{peek_frame, receiver_ufrag};
use super::net::{Net, TcpConnection};
use super::peer::{Peer, Role, ServerConfig};
use crate::TransportError;
use crate::mailbox::Mailbox;
use crate::raw::ServerConnection;
use bytes::BytesMut;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use str0m::bwe::Bitrate;
use str0m::change::SdpOffer;
use str0m::net::TcpType;
use str0m::{Candidate, IceCreds, RtcConfig};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch};

/// Frames that may wait for the network on the way back before the engine slows down.
const OUTGOING_DEPTH: usize = 4;
/// How long a new ICE-TCP connection has to send its first STUN request.
const FIRST_PACKET_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a server's WebRTC sessions listen and what they advertise.
#[derive(Debug, Clone, PartialEq)]
pub struct WebRtcServerConfig {
    /// The address the server's sockets bind (the HTTP host); unspecified means every
    /// interface, advertised as the one with the default route.
    pub bind_ip: IpAddr,
    /// The address clients reach this machine at, when it is not an interface's own (a pod
    /// behind NAT): advertised besides the local ones.
    pub public_ip: Option<IpAddr>,
    /// The one TCP port for ICE-TCP (0: any free port).
    pub ice_tcp_port: u16,
    /// Frame rate the encoder is told to expect.
    pub fps: f32,
    /// How many ICE-TCP connections may wait for their first packet, and come from one
    /// address (the port is public in a pod).
    pub admission: AdmissionLimits,
}

/// The first and longest pause after a failed `accept()` on the ICE-TCP port.
const ACCEPT_BACKOFF_START: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

type Routes = Arc<Mutex<HashMap<String, mpsc::Sender<TcpConnection>>>>;

/// Accepts WebRTC sessions for one server.
pub struct WebRtcServer {
    config: WebRtcServerConfig,
    /// The concrete address host candidates carry.
    host_ip: IpAddr,
    ice_tcp: SocketAddr,
    routes: Routes,
}

/// An answered session: the SDP to return, the connection for the engine, its figures.
pub struct AcceptedSession {
    pub answer: String,
    pub connection: ServerConnection,
    pub stats: Arc<PeerStats>,
}

impl WebRtcServer {
    /// Bind the ICE-TCP port and start routing its connections.
    pub async fn start(config: WebRtcServerConfig) -> Result<Arc<WebRtcServer>, TransportError> {
        let listener = TcpListener::bind((config.bind_ip, config.ice_tcp_port))
            .await
            .map_err(|source| TransportError::Io {
                what: format!(
                    "the ICE-TCP port {}:{}",
                    config.bind_ip, config.ice_tcp_port
                ),
                source,
            })?;
        let ice_tcp = listener.local_addr().map_err(|source| TransportError::Io {
            what: "the ICE-TCP port".into(),
            source,
        })?;
        let host_ip = if config.bind_ip.is_unspecified() {
            default_route_ip().unwrap_or(IpAddr::from([127, 0, 0, 1]))
        } else {
            config.bind_ip
        };
        let routes: Routes = Arc::default();
        let admission = Admission::new(config.admission);
        tokio::spawn(route_connections(listener, routes.clone(), admission));
        tracing::info!(%ice_tcp, %host_ip, public = ?config.public_ip, "WebRTC sessions ready");
        Ok(Arc::new(WebRtcServer {
            config,
            host_ip,
            ice_tcp,
            routes,
        }))
    }

    /// The ICE-TCP address as bound.
    pub fn ice_tcp_address(&self) -> SocketAddr {
        self.ice_tcp
    }

    /// Answer an SDP offer and start the session.
    pub async fn accept_offer(&self, offer_sdp: &str) -> Result<AcceptedSession, TransportError> {
        let offer = SdpOffer::from_sdp_string(offer_sdp)
            .map_err(|e| TransportError::Protocol(format!("the SDP offer: {e}")))?;
        let creds = IceCreds::new();
        let mut rtc = RtcConfig::new()
            .clear_codecs()
            .enable_h264(true)
            .enable_opus(true, false)
            .enable_bwe(Some(Bitrate::kbps(
                super::codec::INITIAL_VIDEO_BPS as u64 / 1000,
            )))
            .set_local_ice_credentials(creds.clone())
            .build(Instant::now());

        let udp =
            UdpSocket::bind((self.host_ip, 0))
                .await
                .map_err(|source| TransportError::Io {
                    what: format!("a UDP port on {}", self.host_ip),
                    source,
                })?;
        let udp_local = udp.local_addr().map_err(|source| TransportError::Io {
            what: "the session's UDP port".into(),
            source,
        })?;
        let tcp_port = self.ice_tcp.port();
        let mut candidates = vec![
            Candidate::host(udp_local, "udp"),
            passive_tcp(SocketAddr::new(self.host_ip, tcp_port)),
        ];
        if let Some(public) = self.config.public_ip.filter(|ip| *ip != self.host_ip) {
            candidates.push(passive_tcp(SocketAddr::new(public, tcp_port)));
            candidates.push(Candidate::host(
                SocketAddr::new(public, udp_local.port()),
                "udp",
            ));
        }
        for candidate in candidates {
            match candidate {
                Ok(c) => {
                    rtc.add_local_candidate(c);
                }
                Err(e) => tracing::warn!("candidate left out: {e}"),
            }
        }
        let answer = rtc.sdp_api().accept_offer(offer).map_err(|e| {
            TransportError::Protocol(format!("the SDP offer cannot be answered: {e}"))
        })?;

        let inbox = Arc::new(Mailbox::new());
        let (outgoing, outgoing_rx) = mpsc::channel(OUTGOING_DEPTH);
        let stats = Arc::new(PeerStats::default());
        let peer = PeerTask::new(
            Peer::new(rtc, Role::Server(ServerConfig::default()), Instant::now()),
            Local::Server {
                inbox: inbox.clone(),
                outgoing: outgoing_rx,
            },
            stats.clone(),
            self.config.fps,
        );
        let net = Net::new(Some(udp), None);
        lock(&self.routes).insert(creds.ufrag.clone(), net.connection_sender());
        let (cancel_tx, cancel) = watch::channel(false);
        let routes = self.routes.clone();
        let driver = tokio::spawn(async move {
            let reason = peer.run(net, cancel).await;
            tracing::info!("WebRTC session ended: {reason}");
            lock(&routes).remove(&creds.ufrag);
            drop(cancel_tx);
        });
        Ok(AcceptedSession {
            answer: answer.to_sdp_string(),
            connection: ServerConnection::from_task(inbox, outgoing, driver),
            stats,
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn passive_tcp(addr: SocketAddr) -> Result<Candidate, str0m::error::IceError> {
    Candidate::builder()
        .tcp()
        .host(addr)
        .tcptype(TcpType::Passive)
        .build()
}

/// The address of the interface with the default route (no packet is sent).
pub fn default_route_ip() -> Option<IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    socket.local_addr().ok().map(|a| a.ip())
}

/// Accept ICE-TCP connections and hand each to the session its first STUN request names.
/// Connections beyond the admission limits are closed at once; a failing `accept()` (no
/// descriptors left) pauses the loop instead of spinning.
async fn route_connections(listener: TcpListener, routes: Routes, admission: Admission) {
    let mut backoff = ACCEPT_BACKOFF_START;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(pair) => {
                backoff = ACCEPT_BACKOFF_START;
                pair
            }
            Err(e) => {
                tracing::warn!("ICE-TCP accept failed: {e}; pausing {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                continue;
            }
        };
        let ticket = match admission.admit(peer.ip()) {
            Ok(ticket) => ticket,
            Err(why) => {
                tracing::debug!(%peer, ?why, "ICE-TCP connection refused");
                continue;
            }
        };
        let routes = routes.clone();
        tokio::spawn(route_one(stream, peer, routes, ticket));
    }
}

/// Reads a new connection's first packet and hands the connection to its session.
async fn route_one(
    mut stream: tokio::net::TcpStream,
    peer: SocketAddr,
    routes: Routes,
    mut ticket: super::admission::Ticket,
) {
    let mut buf = BytesMut::with_capacity(2048);
    let first = tokio::time::timeout(FIRST_PACKET_TIMEOUT, async {
        loop {
            // Looked at in place: a packet trickled a byte at a time costs no copies.
            if let Some(packet) = peek_frame(&buf) {
                return Some(receiver_ufrag(packet).map(str::to_string));
            }
            match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    })
    .await;
    let Ok(Some(Some(ufrag))) = first else {
        tracing::debug!(%peer, "ICE-TCP connection without a STUN username; closed");
        return;
    };
    let route = lock(&routes).get(&ufrag).cloned();
    let (Some(route), Ok(local)) = (route, stream.local_addr()) else {
        tracing::debug!(%peer, "ICE-TCP connection for no known session; closed");
        return;
    };
    ticket.routed();
    // A session that is not taking connections is not waited for.
    if route
        .try_send(TcpConnection {
            stream,
            buffered: buf,
            local,
            ticket: Some(ticket),
        })
        .is_err()
    {
        tracing::debug!(%peer, "ICE-TCP connection for a session that takes no more; closed");
    }
}
