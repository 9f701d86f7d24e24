//! The tokio task around one [`Peer`]: it owns the sockets ([`Net`]), the timer and the H.264
//! encoder thread, feeds the peer what happens and carries out what it asks, and publishes its
//! figures in [`PeerStats`].

use super::codec::Encoded;
use super::encoder_thread::EncoderThread;
use super::net::Net;
use super::peer::{Input, Outgoing, Output, Peer, Received};
use crate::mailbox::{Mailbox, Work};
use crate::raw::SessionEvent;
use crate::wire::Message;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{mpsc, watch};

/// Figures a peer keeps, readable while it runs.
#[derive(Debug, Default)]
pub struct PeerStats {
    pub connected: AtomicBool,
    pub frames_sent: AtomicU64,
    pub frames_received: AtomicU64,
    pub keyframes_requested: AtomicU64,
    pub keyframes_sent: AtomicU64,
    pub audio_packets_received: AtomicU64,
    pub samples_concealed: AtomicU64,
    pub video_bitrate_bps: AtomicU64,
    pub udp_packets_dropped: AtomicU64,
    /// Packets to the peer dropped because its ICE-TCP connection's send queue was full.
    pub tcp_packets_dropped: AtomicU64,
    /// Received items dropped because the app had not read a whole queue of them (client).
    pub events_dropped: AtomicU64,
    /// `udp` or `tcp` once connected.
    pub transport: Mutex<Option<String>>,
    /// Last status the server sent on the data channel (client side).
    pub server_status: Mutex<Option<serde_json::Value>>,
    /// When the loss hook's plan started (its bursts are counted from here).
    pub loss_start: Mutex<Option<Instant>>,
}

/// The local side of a peer.
pub enum Local {
    /// A server: arrivals go into the engine's inbox; the engine's results come back.
    Server {
        inbox: Arc<Mailbox>,
        outgoing: mpsc::Receiver<Message>,
    },
    /// The app: what it sends waits in the outbox; what comes back goes out as events.
    Client {
        outbox: Arc<Mailbox>,
        events: mpsc::Sender<SessionEvent>,
    },
}

/// A peer with what it runs on besides the sockets.
pub struct PeerTask {
    peer: Peer,
    local: Local,
    stats: Arc<PeerStats>,
    /// `None` only if its thread could not start (then no video is sent, and it is logged).
    encoder: Option<EncoderThread>,
}

impl PeerTask {
    /// `fps` is the frame rate the encoder is told to expect.
    pub fn new(peer: Peer, local: Local, stats: Arc<PeerStats>, fps: f32) -> PeerTask {
        let encoder = EncoderThread::start(fps)
            .map_err(|e| tracing::error!("no H.264 encoder thread: {e}"))
            .ok();
        PeerTask {
            peer,
            local,
            stats,
            encoder,
        }
    }

    /// Run until the session ends; returns why.
    pub async fn run(mut self, mut net: Net, mut cancel: watch::Receiver<bool>) -> String {
        let reason = self.drive(&mut net, &mut cancel).await;
        self.peer.close(&reason);
        match &self.local {
            Local::Server { inbox, .. } => inbox.close(),
            Local::Client { outbox, events } => {
                outbox.close();
                // Waits for room: the app learns of the end after what came before it.
                let _ = events
                    .send(SessionEvent::Closed {
                        reason: reason.clone(),
                    })
                    .await;
            }
        }
        reason
    }

    async fn drive(&mut self, net: &mut Net, cancel: &mut watch::Receiver<bool>) -> String {
        loop {
            let deadline = loop {
                match self.peer.poll_output() {
                    Output::Timeout(at) => break at,
                    Output::Transmit(transmit) => net.send(transmit).await,
                    Output::Closed(reason) => return reason,
                    other => self.carry_out(other),
                }
            };
            self.publish(net);
            let media = self.peer.wants_media();
            tokio::select! {
                _ = tokio::time::sleep_until(deadline.into()) => {
                    self.peer.handle_input(Input::Timeout, Instant::now());
                }
                arrival = net.arrivals.recv() => {
                    let Some(arrival) = arrival else { return "the sockets closed".into() };
                    if net.keep(&arrival) {
                        let input = Input::Receive {
                            proto: arrival.proto,
                            source: arrival.source,
                            destination: arrival.destination,
                            data: &arrival.data,
                        };
                        self.peer.handle_input(input, arrival.at);
                    }
                }
                connection = net.conns.recv() => {
                    if let Some(connection) = connection {
                        let input = Input::TcpCandidate(connection.local);
                        self.peer.handle_input(input, Instant::now());
                        net.adopt(connection);
                    }
                }
                encoded = next_encoded(&mut self.encoder) => {
                    self.peer.handle_input(Input::Encoded(encoded), Instant::now());
                }
                item = next_local(&mut self.local), if media => match item {
                    Some(outgoing) => self.peer.handle_input(Input::Send(outgoing), Instant::now()),
                    None => return "the session was closed".into(),
                },
                _ = cancel.changed() => return "the session was closed".into(),
            }
        }
    }

    /// Everything the peer asks besides packets and time.
    fn carry_out(&mut self, output: Output) {
        match output {
            Output::Connected => tracing::info!("WebRTC connected"),
            Output::Received(received) => self.deliver(received),
            Output::Encode { ticks, image } => {
                if let Some(encoder) = &self.encoder {
                    encoder.submit(ticks, image);
                }
            }
            Output::ForceKeyframe => {
                if let Some(encoder) = &self.encoder {
                    encoder.request_keyframe();
                }
            }
            Output::VideoBitrate(bps) => {
                if let Some(encoder) = &self.encoder {
                    encoder.set_bitrate(bps);
                }
            }
            Output::Transmit(_) | Output::Timeout(_) | Output::Closed(_) => {}
        }
    }

    /// Gives the app what arrived; when the app has fallen a whole queue behind, what arrives
    /// is dropped and counted instead of piling up.
    fn hand_over(&self, events: &mpsc::Sender<SessionEvent>, event: SessionEvent) {
        if let Err(mpsc::error::TrySendError::Full(_)) = events.try_send(event) {
            self.stats.events_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn deliver(&self, received: Received) {
        match (&self.local, received) {
            (Local::Server { inbox, .. }, Received::Video(frame)) => {
                inbox.put_video(frame);
            }
            (Local::Server { inbox, .. }, Received::Audio(block)) => inbox.put_audio(block),
            (Local::Server { inbox, .. }, Received::Control { seq, control }) => {
                inbox.put_control(seq, control)
            }
            (Local::Client { events, .. }, Received::Video(frame)) => {
                self.hand_over(events, SessionEvent::Video(frame));
            }
            (Local::Client { events, .. }, Received::Audio(block)) => {
                self.hand_over(events, SessionEvent::Audio(block));
            }
            (Local::Client { events, .. }, Received::Ack(ack)) => {
                self.hand_over(events, SessionEvent::ControlAck(ack));
            }
            (Local::Client { .. }, Received::Status(status)) => {
                if let Ok(mut slot) = self.stats.server_status.lock() {
                    *slot = Some(status);
                }
            }
            (_, other) => tracing::debug!("nothing on this side takes {other:?}"),
        }
    }

    fn publish(&self, net: &Net) {
        let f = self.peer.figures();
        let s = &self.stats;
        s.connected.store(f.connected, Ordering::Relaxed);
        s.frames_sent.store(f.frames_sent, Ordering::Relaxed);
        s.frames_received
            .store(f.frames_received, Ordering::Relaxed);
        s.keyframes_requested
            .store(f.keyframes_requested, Ordering::Relaxed);
        s.keyframes_sent.store(f.keyframes_sent, Ordering::Relaxed);
        s.audio_packets_received
            .store(f.audio_packets_received, Ordering::Relaxed);
        s.samples_concealed
            .store(f.samples_concealed, Ordering::Relaxed);
        s.video_bitrate_bps
            .store(f.video_bitrate_bps, Ordering::Relaxed);
        s.tcp_packets_dropped
            .store(net.tcp_send_dropped(), Ordering::Relaxed);
        if let Some(loss) = net.loss() {
            s.udp_packets_dropped.store(loss.dropped, Ordering::Relaxed);
        }
    }
}

/// The next frame back from the encoder thread; pending forever without one.
async fn next_encoded(encoder: &mut Option<EncoderThread>) -> Encoded {
    match encoder {
        Some(encoder) => encoder.next().await,
        None => std::future::pending().await,
    }
}

/// The next thing the local side wants sent; `None` once it has closed.
async fn next_local(local: &mut Local) -> Option<Outgoing> {
    match local {
        Local::Client { outbox, .. } => outbox.next().await.map(|work| match work {
            Work::Video(frame) => Outgoing::Video(frame),
            Work::Audio(block) => Outgoing::Audio(block),
            Work::Control { seq, control } => Outgoing::Control { seq, control },
        }),
        Local::Server { outgoing, .. } => loop {
            match outgoing.recv().await? {
                Message::Video(frame) => return Some(Outgoing::Video(frame)),
                Message::Audio(block) => return Some(Outgoing::Audio(block)),
                Message::ControlAck(ack) => return Some(Outgoing::Ack(ack)),
                _ => continue,
            }
        },
    }
}
