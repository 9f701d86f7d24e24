//! One WebRTC peer as a sans-IO state machine, either end: str0m's `Rtc` plus what our
//! sessions add — H.264 decoding and Opus both ways, capture time carried in the RTP
//! timestamp, PLI on broken pictures, Opus FEC/PLC over gaps, the video bitrate from the
//! bandwidth estimate, and the data channel's controls, acks and status.
//!
//! It never touches a socket, a thread or a clock: the caller feeds [`Input`]s with the
//! current time and drains [`Output`]s (packets to send, when to call again, media and
//! messages for the local side, and work for the H.264 encoder, which runs elsewhere because
//! it is slow). The driver module runs it on tokio; tests run it on synthetic time.

use super::bitrate::BitrateControl;
use super::codec::{Encoded, INITIAL_VIDEO_BPS, OPUS_RATE};
use super::media_in::{AudioReceiver, VideoIn, VideoReceiver};
use super::media_out::AudioSender;
use super::rtp_time::{ClockRate, SentLog, capture_to_rtp, rtp_to_capture};
use super::signal::{CHANNEL_LABEL, ChannelMessage};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use str0m::bwe::{Bitrate, BweKind};
use str0m::change::{SdpOffer, SdpPendingOffer};
use str0m::channel::ChannelId;
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, KeyframeRequestKind, MediaKind, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive, Transmit};
use str0m::{Event, IceConnectionState, Rtc, RtcConfig};
use studio_media::{AudioBlock, I420Image, VideoFrame};
use studio_proto::control::{Control, ControlAck};

/// How often a server reports its status on the data channel.
pub const STATUS_EVERY: Duration = Duration::from_secs(1);
/// A session that cannot connect within this long gives up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Data channel messages kept while the channel is not open yet; older ones are dropped.
const CHANNEL_BACKLOG: usize = 256;

/// The session settings both ends share: H.264 and Opus only, and the bandwidth estimate on,
/// starting at the encoder's initial bitrate.
pub fn rtc_config() -> RtcConfig {
    RtcConfig::new()
        .clear_codecs()
        .enable_h264(true)
        .enable_opus(true, false)
        .enable_bwe(Some(Bitrate::kbps(u64::from(INITIAL_VIDEO_BPS) / 1000)))
}

/// The app's end: it makes the offer, so it names the tracks, and it remembers what it sent so
/// that what comes back keeps its sequence numbers and exact capture times.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub video: Mid,
    pub audio: Mid,
}

impl ClientConfig {
    /// Add the client's tracks (video and audio, both ways) and the data channel to `rtc`'s
    /// offer; the offer to send, what accepts the answer, and the peer's configuration.
    pub fn offer(rtc: &mut Rtc) -> Option<(SdpOffer, SdpPendingOffer, ClientConfig)> {
        let mut change = rtc.sdp_api();
        let video = change.add_media(MediaKind::Video, Direction::SendRecv, None, None, None);
        let audio = change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        change.add_channel(CHANNEL_LABEL.to_string());
        let (offer, pending) = change.apply()?;
        Some((offer, pending, ClientConfig { video, audio }))
    }
}

/// A server's end: it learns the tracks from the offer and reports its figures.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub status_every: Duration,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            status_every: STATUS_EVERY,
        }
    }
}

/// Which end a peer is.
#[derive(Debug, Clone)]
pub enum Role {
    Client(ClientConfig),
    Server(ServerConfig),
}

/// What the local side hands a peer to send.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    Video(VideoFrame),
    Audio(AudioBlock),
    /// App → server: a live setting.
    Control {
        seq: u64,
        control: Control,
    },
    /// Server → app: the answer to a control.
    Ack(ControlAck),
}

/// Something for the peer to act on, with the time it happened.
pub enum Input<'a> {
    /// A UDP datagram or an ICE-TCP frame that arrived.
    Receive {
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        data: &'a [u8],
    },
    /// Time passed (the last [`Output::Timeout`] came due).
    Timeout,
    /// Media or a message from the local side.
    Send(Outgoing),
    /// An access unit back from the H.264 encoder.
    Encoded(Encoded),
    /// An ICE-TCP connection now stands for this local passive candidate.
    TcpCandidate(SocketAddr),
}

/// What arrived for the local side.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    Video(VideoFrame),
    Audio(AudioBlock),
    /// Server side: a live setting from the app.
    Control {
        seq: u64,
        control: Control,
    },
    /// Client side: the server's answer to a control.
    Ack(ControlAck),
    /// Client side: the server's figures.
    Status(serde_json::Value),
}

/// What the peer wants done.
#[derive(Debug)]
pub enum Output {
    /// Send this packet.
    Transmit(Transmit),
    /// Nothing more until this time (or another input): then feed [`Input::Timeout`].
    Timeout(Instant),
    /// ICE and DTLS are up: media flows from now on.
    Connected,
    Received(Received),
    /// Encode this picture (newest wins) and hand it back as [`Input::Encoded`].
    Encode {
        ticks: u64,
        image: I420Image,
    },
    /// The next encoded picture must be a keyframe (the far end asked).
    ForceKeyframe,
    /// Encode at this bitrate from now on (the bandwidth estimate moved).
    VideoBitrate(u32),
    /// The session is over, and why; every later poll says the same.
    Closed(String),
}

/// A peer's figures, as counted so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeerFigures {
    pub connected: bool,
    pub frames_sent: u64,
    pub frames_received: u64,
    /// Keyframe requests (PLI) this peer sent.
    pub keyframes_requested: u64,
    /// Keyframe requests the far end sent.
    pub keyframes_sent: u64,
    pub audio_packets_received: u64,
    pub samples_concealed: u64,
    pub video_bitrate_bps: u64,
}

/// A negotiated track: its mid, and the payload type once looked up.
struct Track {
    mid: Mid,
    pt: Option<Pt>,
}

/// What only one end does.
enum RoleState {
    Client {
        sent_video: SentLog,
        sent_audio: SentLog,
    },
    Server {
        status_every: Duration,
        next_status: Instant,
    },
}

/// The data channel, and what waits for it to open.
#[derive(Default)]
struct Channel {
    id: Option<ChannelId>,
    backlog: VecDeque<String>,
}

/// One WebRTC peer; see the module documentation.
pub struct Peer {
    rtc: Rtc,
    role: RoleState,
    video: Option<Track>,
    audio: Option<Track>,
    channel: Channel,
    video_in: VideoReceiver,
    audio_in: AudioReceiver,
    audio_out: AudioSender,
    bitrate: BitrateControl,
    figures: PeerFigures,
    /// Media numbered in arrival order when it is not the client's own coming back.
    received_video: u64,
    received_audio: u64,
    started: Instant,
    /// The time of the latest input: the clock for work that str0m's events start.
    now: Instant,
    outputs: VecDeque<Output>,
    closed: Option<String>,
}

impl Peer {
    /// A peer around an `Rtc` whose offer or answer is done, starting at `now`.
    pub fn new(rtc: Rtc, role: Role, now: Instant) -> Peer {
        let (role, video, audio) = match role {
            Role::Client(config) => (
                RoleState::Client {
                    sent_video: SentLog::default(),
                    sent_audio: SentLog::default(),
                },
                Some(Track {
                    mid: config.video,
                    pt: None,
                }),
                Some(Track {
                    mid: config.audio,
                    pt: None,
                }),
            ),
            Role::Server(config) => (
                RoleState::Server {
                    status_every: config.status_every,
                    next_status: now + config.status_every,
                },
                None,
                None,
            ),
        };
        let bitrate = BitrateControl::default();
        Peer {
            rtc,
            role,
            video,
            audio,
            channel: Channel::default(),
            video_in: VideoReceiver::new(),
            audio_in: AudioReceiver::new(),
            audio_out: AudioSender::new(),
            figures: PeerFigures {
                video_bitrate_bps: u64::from(bitrate.bitrate()),
                ..PeerFigures::default()
            },
            bitrate,
            received_video: 0,
            received_audio: 0,
            started: now,
            now,
            outputs: VecDeque::new(),
            closed: None,
        }
    }

    /// The figures so far.
    pub fn figures(&self) -> &PeerFigures {
        &self.figures
    }

    /// Whether local media can go out now (connected, with a track to carry it); until then
    /// the caller keeps it, so the local side feels the wait.
    pub fn wants_media(&self) -> bool {
        self.figures.connected && (self.video.is_some() || self.audio.is_some())
    }

    /// Whether the session is over.
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// End the session from this side (the far end is told if it can be).
    pub fn close(&mut self, reason: &str) {
        if self.closed.is_none() {
            self.rtc.disconnect();
            self.closed = Some(reason.to_string());
        }
    }

    /// Feed one input that happened at `now`.
    pub fn handle_input(&mut self, input: Input<'_>, now: Instant) {
        if self.closed.is_some() {
            return;
        }
        self.now = self.now.max(now);
        match input {
            Input::Receive {
                proto,
                source,
                destination,
                data,
            } => {
                let Ok(contents) = data.try_into() else {
                    return;
                };
                let receive = Receive {
                    proto,
                    source,
                    destination,
                    contents,
                };
                if let Err(e) = self.rtc.handle_input(str0m::Input::Receive(now, receive)) {
                    tracing::debug!("dropped an unreadable packet: {e}");
                }
            }
            Input::Timeout => {
                if let Err(e) = self.rtc.handle_input(str0m::Input::Timeout(now)) {
                    self.close(&format!("WebRTC failed: {e}"));
                    return;
                }
            }
            Input::Send(outgoing) => self.send(outgoing, now),
            Input::Encoded(encoded) => self.write_video(encoded, now),
            Input::TcpCandidate(local) => self.add_tcp_candidate(local),
        }
        self.tick(now);
    }

    /// The next thing to do; [`Output::Timeout`] once there is nothing until then.
    pub fn poll_output(&mut self) -> Output {
        loop {
            if let Some(output) = self.outputs.pop_front() {
                return output;
            }
            if let Some(reason) = &self.closed {
                return Output::Closed(reason.clone());
            }
            match self.rtc.poll_output() {
                Ok(str0m::Output::Transmit(transmit)) => return Output::Transmit(transmit),
                Ok(str0m::Output::Timeout(at)) => {
                    if !self.rtc.is_alive() {
                        self.close("the peer closed the session");
                        continue;
                    }
                    return Output::Timeout(self.own_deadline().map_or(at, |own| own.min(at)));
                }
                Ok(str0m::Output::Event(event)) => self.on_event(event),
                Err(e) => self.close(&format!("WebRTC failed: {e}")),
            }
        }
    }

    /// The earliest time this peer itself must act: the connect deadline, the next status.
    fn own_deadline(&self) -> Option<Instant> {
        let connect = (!self.figures.connected).then(|| self.started + CONNECT_TIMEOUT);
        let status = match &self.role {
            RoleState::Server { next_status, .. } if self.channel.id.is_some() => {
                Some(*next_status)
            }
            _ => None,
        };
        connect.into_iter().chain(status).min()
    }

    /// What is due at `now` besides str0m's own work.
    fn tick(&mut self, now: Instant) {
        if !self.figures.connected && now >= self.started + CONNECT_TIMEOUT {
            self.close(&format!("no WebRTC connection within {CONNECT_TIMEOUT:?}"));
            return;
        }
        let RoleState::Server {
            status_every,
            next_status,
        } = &mut self.role
        else {
            return;
        };
        if now < *next_status || self.channel.id.is_none() {
            return;
        }
        *next_status = now + *status_every;
        let f = &self.figures;
        let status = serde_json::json!({
            "uptime_s": now.saturating_duration_since(self.started).as_secs_f64(),
            "frames_received": f.frames_received,
            "frames_sent": f.frames_sent,
            "keyframes_requested": f.keyframes_requested,
            "samples_concealed": f.samples_concealed,
            "video_bitrate_bps": f.video_bitrate_bps,
        });
        self.send_channel(&ChannelMessage::Status(status));
    }

    fn add_tcp_candidate(&mut self, local: SocketAddr) {
        if let Ok(candidate) = str0m::Candidate::builder()
            .tcp()
            .host(local)
            .tcptype(str0m::net::TcpType::Passive)
            .build()
        {
            // A second add of the same address is ignored by str0m.
            let _ = self.rtc.add_local_candidate(candidate);
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.close("the WebRTC connection was lost");
            }
            Event::Connected => {
                self.figures.connected = true;
                self.outputs.push_back(Output::Connected);
            }
            Event::MediaAdded(added) => {
                let track = Some(Track {
                    mid: added.mid,
                    pt: None,
                });
                match added.kind {
                    MediaKind::Video => self.video = track,
                    MediaKind::Audio => self.audio = track,
                }
            }
            Event::ChannelOpen(id, label) => {
                tracing::debug!("data channel {label:?} open");
                self.channel.id = Some(id);
                while let Some(text) = self.channel.backlog.pop_front() {
                    self.write_channel(text);
                }
            }
            Event::ChannelData(data) => self.on_channel(&data.data),
            Event::ChannelClose(_) => self.channel.id = None,
            Event::MediaData(data) => {
                let wire = data.time.numer() as u32;
                if self.video.as_ref().is_some_and(|t| t.mid == data.mid) {
                    self.on_video(wire, data.contiguous, &data.data, data.mid);
                } else if self.audio.as_ref().is_some_and(|t| t.mid == data.mid) {
                    self.on_audio(wire, &data.data);
                }
            }
            Event::KeyframeRequest(_) => {
                self.figures.keyframes_sent += 1;
                self.outputs.push_back(Output::ForceKeyframe);
            }
            Event::EgressBitrateEstimate(estimate) => {
                let bps = match estimate {
                    BweKind::Twcc { estimate, .. } | BweKind::Remb { estimate, .. } => estimate,
                    _ => return,
                };
                if let Some(new) = self.bitrate.on_estimate(bps.as_u64(), self.now) {
                    self.figures.video_bitrate_bps = u64::from(new);
                    self.outputs.push_back(Output::VideoBitrate(new));
                }
            }
            Event::Closed => self.close("the peer closed the session"),
            _ => {}
        }
    }

    fn on_channel(&mut self, data: &[u8]) {
        let message: ChannelMessage = match serde_json::from_slice(data) {
            Ok(message) => message,
            Err(e) => {
                tracing::warn!("unreadable data channel message: {e}");
                return;
            }
        };
        let received = match (&self.role, message) {
            (RoleState::Server { .. }, ChannelMessage::Control { seq, control }) => {
                Received::Control { seq, control }
            }
            (RoleState::Client { .. }, ChannelMessage::Ack(ack)) => Received::Ack(ack),
            (RoleState::Client { .. }, ChannelMessage::Status(status)) => Received::Status(status),
            (_, other) => {
                tracing::debug!("ignored data channel message {other:?}");
                return;
            }
        };
        self.outputs.push_back(Output::Received(received));
    }

    fn on_video(&mut self, wire: u32, contiguous: bool, data: &[u8], mid: Mid) {
        let (ticks, image) = match self.video_in.receive(wire, contiguous, data) {
            VideoIn::Picture { ticks, image } => (ticks, image),
            VideoIn::NeedKeyframe => {
                self.request_keyframe(mid, self.now);
                return;
            }
            VideoIn::Nothing => return,
        };
        self.figures.frames_received += 1;
        let returned = match &mut self.role {
            RoleState::Client { sent_video, .. } => sent_video.take(ticks),
            RoleState::Server { .. } => None,
        };
        let (seq, capture) =
            returned.unwrap_or((self.received_video, rtp_to_capture(ticks, ClockRate::VIDEO)));
        self.received_video += 1;
        let frame = VideoFrame {
            seq,
            capture,
            image,
        };
        self.outputs
            .push_back(Output::Received(Received::Video(frame)));
    }

    fn request_keyframe(&mut self, mid: Mid, now: Instant) {
        if !self.video_in.may_request_keyframe(now) {
            return;
        }
        let Some(mut writer) = self.rtc.writer(mid) else {
            return;
        };
        if writer.is_request_keyframe_possible(KeyframeRequestKind::Pli)
            && writer
                .request_keyframe(None, KeyframeRequestKind::Pli)
                .is_ok()
        {
            self.video_in.keyframe_requested(now);
            self.figures.keyframes_requested += 1;
        }
    }

    fn on_audio(&mut self, wire: u32, data: &[u8]) {
        self.figures.audio_packets_received += 1;
        let blocks = self.audio_in.receive(wire, data);
        self.figures.samples_concealed = self.audio_in.concealed_samples();
        for (ticks, samples) in blocks {
            let returned = match &mut self.role {
                RoleState::Client { sent_audio, .. } => sent_audio.take(ticks),
                RoleState::Server { .. } => None,
            };
            let (seq, capture) =
                returned.unwrap_or((self.received_audio, rtp_to_capture(ticks, ClockRate::AUDIO)));
            self.received_audio += 1;
            let block = AudioBlock {
                seq,
                capture,
                sample_rate: OPUS_RATE,
                samples,
            };
            self.outputs
                .push_back(Output::Received(Received::Audio(block)));
        }
    }

    fn send(&mut self, outgoing: Outgoing, now: Instant) {
        match outgoing {
            Outgoing::Video(frame) => self.send_video(frame),
            Outgoing::Audio(block) => self.send_audio(block, now),
            Outgoing::Control { seq, control } => {
                self.send_channel(&ChannelMessage::Control { seq, control })
            }
            Outgoing::Ack(ack) => self.send_channel(&ChannelMessage::Ack(ack)),
        }
    }

    fn send_channel(&mut self, message: &ChannelMessage) {
        let Ok(text) = serde_json::to_string(message) else {
            return;
        };
        self.write_channel(text);
    }

    fn write_channel(&mut self, text: String) {
        let Some(id) = self.channel.id else {
            if self.channel.backlog.len() >= CHANNEL_BACKLOG {
                self.channel.backlog.pop_front();
                tracing::warn!("data channel not open; the oldest waiting message was dropped");
            }
            self.channel.backlog.push_back(text);
            return;
        };
        if let Some(mut channel) = self.rtc.channel(id) {
            match channel.write(false, text.as_bytes()) {
                Ok(true) => {}
                _ => tracing::debug!("data channel full; a message was not sent"),
            }
        }
    }

    /// The track's mid and payload type, looked up once the track is negotiated.
    fn pt_for(&mut self, kind: MediaKind) -> Option<(Mid, Pt)> {
        let (track, codec) = match kind {
            MediaKind::Video => (&mut self.video, Codec::H264),
            MediaKind::Audio => (&mut self.audio, Codec::Opus),
        };
        let track = track.as_mut()?;
        if let Some(pt) = track.pt {
            return Some((track.mid, pt));
        }
        let pt = self
            .rtc
            .writer(track.mid)?
            .payload_params()
            .find(|p| p.spec().codec == codec)
            .map(|p| p.pt())?;
        track.pt = Some(pt);
        Some((track.mid, pt))
    }

    fn send_video(&mut self, frame: VideoFrame) {
        // Nothing to encode for until the video track is negotiated.
        if self.pt_for(MediaKind::Video).is_none() {
            return;
        }
        let ticks = capture_to_rtp(frame.capture, ClockRate::VIDEO);
        if let RoleState::Client { sent_video, .. } = &mut self.role {
            sent_video.remember(ticks, frame.seq, frame.capture);
        }
        self.outputs.push_back(Output::Encode {
            ticks,
            image: frame.image,
        });
    }

    /// An encoded picture is back from the encoder: send it.
    fn write_video(&mut self, encoded: Encoded, now: Instant) {
        let Some((mid, pt)) = self.pt_for(MediaKind::Video) else {
            return;
        };
        let Some(writer) = self.rtc.writer(mid) else {
            return;
        };
        let time = MediaTime::new(encoded.ticks, Frequency::NINETY_KHZ);
        if let Err(e) = writer.write(pt, now, time, encoded.data) {
            tracing::debug!("video not sent: {e}");
            return;
        }
        self.figures.frames_sent += 1;
    }

    fn send_audio(&mut self, block: AudioBlock, now: Instant) {
        if block.sample_rate != OPUS_RATE {
            tracing::warn!(
                "audio at {} Hz cannot go over WebRTC (48 kHz only)",
                block.sample_rate
            );
            return;
        }
        let ticks = capture_to_rtp(block.capture, ClockRate::AUDIO);
        if let RoleState::Client { sent_audio, .. } = &mut self.role {
            sent_audio.remember(ticks, block.seq, block.capture);
        }
        for (at, frame) in self.audio_out.frames(ticks, &block.samples) {
            self.write_audio(at, &frame, now);
        }
    }

    fn write_audio(&mut self, ticks: u64, frame: &[f32], now: Instant) {
        let Some((mid, pt)) = self.pt_for(MediaKind::Audio) else {
            return;
        };
        let Some(data) = self.audio_out.encode(frame) else {
            return;
        };
        let Some(writer) = self.rtc.writer(mid) else {
            return;
        };
        let time = MediaTime::new(ticks, Frequency::FORTY_EIGHT_KHZ);
        if let Err(e) = writer.write(pt, now, time, data) {
            tracing::debug!("audio not sent: {e}");
        }
    }
}
