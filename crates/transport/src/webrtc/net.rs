//! The sockets under one WebRTC peer: a UDP socket for host candidates and ICE-TCP
//! connections (RFC 4571 framed), with a test hook that drops UDP packets.

use super::framing::{decode_frame, encode_frame};
use bytes::BytesMut;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use str0m::net::{Protocol, Transmit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;

/// One packet that arrived, for `Rtc::handle_input`.
pub struct Arrival {
    pub proto: Protocol,
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub data: Vec<u8>,
    pub at: Instant,
}

/// An ICE-TCP connection handed to a peer, with bytes already read from it.
pub struct TcpConnection {
    pub stream: TcpStream,
    pub buffered: BytesMut,
    /// The local candidate address this connection stands for (what str0m sees as the
    /// destination of what arrives on it).
    pub local: SocketAddr,
    /// Its place among the listener's connections (passive ICE-TCP), given back when the
    /// connection ends.
    pub ticket: Option<super::admission::Ticket>,
}

/// Packets one ICE-TCP connection may have waiting for its socket; beyond, new ones are
/// dropped (and counted) rather than queued: a peer that stops reading cannot grow memory,
/// and media that late is useless anyway.
pub const TCP_SEND_QUEUE: usize = 512;

/// Drops UDP packets in both directions, to test recovery: a steady random share, plus
/// bursts where everything is lost.
#[derive(Debug, Clone, PartialEq)]
pub struct LossPlan {
    /// Percent of packets dropped at random (0 to 100).
    pub percent: f64,
    /// Every `burst_every`, drop everything for `burst_len` (`None`: no bursts).
    pub burst_every: Option<Duration>,
    pub burst_len: Duration,
}

/// The sans-IO decision behind [`LossPlan`]: a seeded generator and the plan's clock.
pub struct LossGate {
    plan: LossPlan,
    state: u64,
    start: Instant,
    pub dropped: u64,
}

impl LossGate {
    pub fn new(plan: LossPlan, seed: u64, start: Instant) -> LossGate {
        LossGate {
            plan,
            state: seed | 1,
            start,
            dropped: 0,
        }
    }

    /// Whether the packet at `now` is lost.
    pub fn drops(&mut self, now: Instant) -> bool {
        let in_burst = self.plan.burst_every.is_some_and(|every| {
            let phase =
                now.saturating_duration_since(self.start).as_nanos() % every.as_nanos().max(1);
            phase
                >= every
                    .as_nanos()
                    .saturating_sub(self.plan.burst_len.as_nanos())
        });
        // xorshift64*: fast, seeded, good enough for a loss pattern.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let draw =
            (self.state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
        let lost = in_burst || draw * 100.0 < self.plan.percent;
        if lost {
            self.dropped += 1;
        }
        lost
    }

    /// The start of every burst so far, for tests that check recovery after each one.
    pub fn burst_ends_before(&self, now: Instant) -> Vec<Instant> {
        let Some(every) = self.plan.burst_every else {
            return Vec::new();
        };
        let mut ends = Vec::new();
        let mut end = self.start + every;
        while end <= now {
            ends.push(end);
            end += every;
        }
        ends
    }
}

/// The sockets of one peer.
pub struct Net {
    udp: Option<Arc<UdpSocket>>,
    udp_local: Option<SocketAddr>,
    arrivals_tx: mpsc::Sender<Arrival>,
    pub arrivals: mpsc::Receiver<Arrival>,
    conns_tx: mpsc::Sender<TcpConnection>,
    pub conns: mpsc::Receiver<TcpConnection>,
    writers: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
    connecting: HashSet<SocketAddr>,
    /// Active ICE-TCP: the local candidate that outgoing connections stand for.
    active_local: Option<SocketAddr>,
    loss: Option<LossGate>,
    /// Packets dropped because a connection's send queue was full.
    tcp_send_dropped: u64,
}

impl Net {
    pub fn new(udp: Option<UdpSocket>, active_local: Option<SocketAddr>) -> Net {
        let (arrivals_tx, arrivals) = mpsc::channel(1024);
        let (conns_tx, conns) = mpsc::channel(16);
        let udp_local = udp.as_ref().and_then(|u| u.local_addr().ok());
        let udp = udp.map(Arc::new);
        if let (Some(socket), Some(local)) = (udp.clone(), udp_local) {
            let tx = arrivals_tx.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 2048];
                loop {
                    let Ok((n, source)) = socket.recv_from(&mut buf).await else {
                        break;
                    };
                    let arrival = Arrival {
                        proto: Protocol::Udp,
                        source,
                        destination: local,
                        data: buf[..n].to_vec(),
                        at: Instant::now(),
                    };
                    if tx.send(arrival).await.is_err() {
                        break;
                    }
                }
            });
        }
        Net {
            udp,
            udp_local,
            arrivals_tx,
            arrivals,
            conns_tx,
            conns,
            writers: HashMap::new(),
            connecting: HashSet::new(),
            active_local,
            loss: None,
            tcp_send_dropped: 0,
        }
    }

    pub fn set_loss(&mut self, gate: LossGate) {
        self.loss = Some(gate);
    }

    pub fn loss(&self) -> Option<&LossGate> {
        self.loss.as_ref()
    }

    /// Where new ICE-TCP connections for this peer are handed in.
    pub fn connection_sender(&self) -> mpsc::Sender<TcpConnection> {
        self.conns_tx.clone()
    }

    /// Packets dropped because an ICE-TCP connection's send queue was full.
    pub fn tcp_send_dropped(&self) -> u64 {
        self.tcp_send_dropped
    }

    pub fn udp_local(&self) -> Option<SocketAddr> {
        self.udp_local
    }

    /// Whether an arriving packet passes the loss hook.
    pub fn keep(&mut self, arrival: &Arrival) -> bool {
        match (&mut self.loss, arrival.proto) {
            (Some(gate), Protocol::Udp) => !gate.drops(arrival.at),
            _ => true,
        }
    }

    /// Start reading and writing an ICE-TCP connection.
    pub fn adopt(&mut self, connection: TcpConnection) {
        let Ok(peer) = connection.stream.peer_addr() else {
            return;
        };
        let _ = connection.stream.set_nodelay(true);
        self.connecting.remove(&peer);
        let (mut read, mut write) = connection.stream.into_split();
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(TCP_SEND_QUEUE);
        self.writers.insert(peer, tx);
        tokio::spawn(async move {
            let mut out = BytesMut::new();
            while let Some(packet) = rx.recv().await {
                out.clear();
                if encode_frame(&packet, &mut out).is_err() {
                    continue;
                }
                if write.write_all(&out).await.is_err() {
                    break;
                }
            }
        });
        let arrivals = self.arrivals_tx.clone();
        let local = connection.local;
        let mut buf = connection.buffered;
        let ticket = connection.ticket;
        tokio::spawn(async move {
            // The connection's place is held while it is read.
            let _ticket = ticket;
            loop {
                while let Some(frame) = decode_frame(&mut buf) {
                    let arrival = Arrival {
                        proto: Protocol::Tcp,
                        source: peer,
                        destination: local,
                        data: frame.to_vec(),
                        at: Instant::now(),
                    };
                    if arrivals.send(arrival).await.is_err() {
                        return;
                    }
                }
                buf.reserve(64 * 1024);
                match read.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        });
    }

    /// Send what str0m asked for; a TCP packet to a peer not connected yet starts an
    /// active connection (it is lost meanwhile; ICE retransmits).
    pub async fn send(&mut self, transmit: Transmit) {
        match transmit.proto {
            Protocol::Udp => {
                if let Some(gate) = &mut self.loss
                    && gate.drops(Instant::now())
                {
                    return;
                }
                if let Some(udp) = &self.udp {
                    let _ = udp.send_to(&transmit.contents, transmit.destination).await;
                }
            }
            Protocol::Tcp => {
                let destination = transmit.destination;
                if let Some(writer) = self.writers.get(&destination) {
                    match writer.try_send(transmit.contents.to_vec()) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => self.tcp_send_dropped += 1,
                        Err(mpsc::error::TrySendError::Closed(_)) => {
                            self.writers.remove(&destination);
                        }
                    }
                    return;
                }
                let Some(local) = self.active_local else {
                    return;
                };
                if !self.connecting.insert(destination) {
                    return;
                }
                let conns = self.conns_tx.clone();
                tokio::spawn(async move {
                    let connect = TcpStream::connect(destination);
                    match tokio::time::timeout(Duration::from_secs(5), connect).await {
                        Ok(Ok(stream)) => {
                            let _ = conns
                                .send(TcpConnection {
                                    stream,
                                    buffered: BytesMut::new(),
                                    local,
                                    ticket: None,
                                })
                                .await;
                        }
                        _ => tracing::debug!("ICE-TCP connection to {destination} failed"),
                    }
                });
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loss_gate_drops_the_planned_share_and_everything_in_bursts() {
        let start = Instant::now();
        let mut gate = LossGate::new(
            LossPlan {
                percent: 5.0,
                burst_every: Some(Duration::from_secs(2)),
                burst_len: Duration::from_millis(200),
            },
            42,
            start,
        );
        // Outside bursts: about 5% of 20 000 packets.
        let mut lost = 0;
        for i in 0..20_000u64 {
            let at = start + Duration::from_micros(i * 50); // the first second, no burst
            lost += gate.drops(at) as u32;
        }
        assert!((800..1200).contains(&lost), "lost {lost} of 20000");
        // Inside a burst (1.8 s to 2.0 s): all.
        assert!((0..100).all(|i| gate.drops(start + Duration::from_millis(1_850 + i))));
        assert_eq!(
            gate.burst_ends_before(start + Duration::from_millis(4_100))
                .len(),
            2
        );
    }
}
