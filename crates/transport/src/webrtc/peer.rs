//! One WebRTC peer, either end: str0m's `Rtc` (the sans-IO core) driven by a tokio task that
//! owns the sockets, encodes what the local side sends (H.264, Opus) and decodes what arrives,
//! with each frame's capture time carried in its RTP timestamp.

use super::codec::{AudioDecoder, AudioEncoder, OPUS_RATE, VideoDecoder, is_opus_frame};
use super::encoder_thread::{Encoded, EncoderThread};
use super::net::{Arrival, Net};
use super::signal::ChannelMessage;
use crate::mailbox::{Mailbox, Work};
use crate::raw::SessionEvent;
use crate::wire::Message;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use str0m::channel::ChannelId;
use str0m::format::Codec;
use str0m::media::{Frequency, KeyframeRequestKind, MediaKind, MediaTime, Mid, Pt};
use str0m::net::Receive;
use str0m::{Event, IceConnectionState, Input, Output, Rtc};
use studio_media::{AudioBlock, Timestamp, VideoFrame};
use tokio::sync::{mpsc, watch};

/// Keyframe requests are repeated no more often than this while a picture is broken.
const PLI_INTERVAL: Duration = Duration::from_millis(150);
/// Longest gap in received audio that is concealed; longer ones are a pause, not a loss.
const MAX_CONCEAL_SAMPLES: u64 = OPUS_RATE as u64 / 5;
/// How often a server reports its status on the data channel.
const STATUS_EVERY: Duration = Duration::from_secs(1);
/// A session that cannot connect within this long gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Capture time (µs) to an RTP timestamp in `rate` ticks per second.
pub fn capture_to_rtp(capture: Timestamp, rate: u64) -> u64 {
    capture.0 * rate / 1_000_000
}

/// An RTP timestamp back to the capture time; rounding up makes the round trip exact.
pub fn rtp_to_capture(ticks: u64, rate: u64) -> Timestamp {
    Timestamp((ticks * 1_000_000).div_ceil(rate))
}

/// Figures a peer keeps, readable while it runs.
#[derive(Debug, Default)]
pub struct PeerStats {
    pub connected: std::sync::atomic::AtomicBool,
    pub frames_sent: AtomicU64,
    pub frames_received: AtomicU64,
    pub keyframes_requested: AtomicU64,
    pub keyframes_sent: AtomicU64,
    pub audio_packets_received: AtomicU64,
    pub samples_concealed: AtomicU64,
    pub video_bitrate_bps: AtomicU64,
    pub udp_packets_dropped: AtomicU64,
    /// `udp` or `tcp` once connected.
    pub transport: Mutex<Option<String>>,
    /// Last status the server sent on the data channel (client side).
    pub server_status: Mutex<Option<serde_json::Value>>,
    /// When each decoded video frame arrived.
    pub video_arrivals: Mutex<Vec<Instant>>,
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
        events: mpsc::UnboundedSender<SessionEvent>,
    },
}

struct Track {
    mid: Mid,
    pt: Option<Pt>,
}

/// Everything a peer's task owns besides the sockets.
pub struct Peer {
    rtc: Rtc,
    local: Local,
    stats: Arc<PeerStats>,
    video: Option<Track>,
    audio: Option<Track>,
    channel: Option<ChannelId>,
    pending_channel: VecDeque<String>,
    /// `None` only if its thread could not start (then no video is sent, and it is logged).
    video_encoder: Option<EncoderThread>,
    video_decoder: Option<VideoDecoder>,
    audio_encoder: Option<AudioEncoder>,
    audio_decoder: Option<AudioDecoder>,
    /// Samples waiting to fill an Opus frame when a block is not a legal frame size.
    audio_pending: Vec<f32>,
    audio_pending_ticks: u64,
    next_audio_ticks: Option<u64>,
    waiting_keyframe: bool,
    last_pli: Option<Instant>,
    /// Client: what was sent, by RTP time, so what comes back keeps its sequence number.
    sent_video: VecDeque<(u64, u64, Timestamp)>,
    sent_audio: VecDeque<(u64, u64, Timestamp)>,
    received_video: u64,
    received_audio: u64,
    started: Instant,
    last_status: Instant,
}

impl Peer {
    pub fn new(rtc: Rtc, local: Local, stats: Arc<PeerStats>, fps: f32) -> Peer {
        let now = Instant::now();
        Peer {
            rtc,
            local,
            stats,
            video: None,
            audio: None,
            channel: None,
            pending_channel: VecDeque::new(),
            video_encoder: EncoderThread::start(fps)
                .map_err(|e| tracing::error!("no H.264 encoder thread: {e}"))
                .ok(),
            video_decoder: None,
            audio_encoder: None,
            audio_decoder: None,
            audio_pending: Vec::new(),
            audio_pending_ticks: 0,
            next_audio_ticks: None,
            waiting_keyframe: true,
            last_pli: None,
            sent_video: VecDeque::new(),
            sent_audio: VecDeque::new(),
            received_video: 0,
            received_audio: 0,
            started: now,
            last_status: now,
        }
    }

    /// The client names its tracks when it builds the offer; a server learns them from it.
    pub fn set_tracks(&mut self, video: Mid, audio: Mid) {
        self.video = Some(Track {
            mid: video,
            pt: None,
        });
        self.audio = Some(Track {
            mid: audio,
            pt: None,
        });
    }

    fn is_server(&self) -> bool {
        matches!(self.local, Local::Server { .. })
    }

    /// Run until the session ends; returns why.
    pub async fn run(mut self, mut net: Net, mut cancel: watch::Receiver<bool>) -> String {
        let reason = self.drive(&mut net, &mut cancel).await;
        self.rtc.disconnect();
        match &self.local {
            Local::Server { inbox, .. } => inbox.close(),
            Local::Client { outbox, events } => {
                outbox.close();
                let _ = events.send(SessionEvent::Closed {
                    reason: reason.clone(),
                });
            }
        }
        reason
    }

    async fn drive(&mut self, net: &mut Net, cancel: &mut watch::Receiver<bool>) -> String {
        let connect_deadline = Instant::now() + CONNECT_TIMEOUT;
        loop {
            let deadline = loop {
                match self.rtc.poll_output() {
                    Ok(Output::Timeout(at)) => break at,
                    Ok(Output::Transmit(t)) => net.send(t).await,
                    Ok(Output::Event(event)) => {
                        if let Some(reason) = self.on_event(event) {
                            return reason;
                        }
                    }
                    Err(e) => return format!("WebRTC failed: {e}"),
                }
            };
            if !self.rtc.is_alive() {
                return "the peer closed the session".into();
            }
            let connected = self.stats.connected.load(Ordering::Relaxed);
            if !connected && Instant::now() > connect_deadline {
                return format!("no WebRTC connection within {CONNECT_TIMEOUT:?}");
            }
            if let Some(loss) = net.loss() {
                self.stats
                    .udp_packets_dropped
                    .store(loss.dropped, Ordering::Relaxed);
            }
            let wait = deadline.min(Instant::now() + Duration::from_millis(100));
            let now_work = connected && self.has_tracks();
            tokio::select! {
                _ = tokio::time::sleep_until(wait.into()) => {
                    if let Err(e) = self.rtc.handle_input(Input::Timeout(Instant::now())) {
                        return format!("WebRTC failed: {e}");
                    }
                    self.maybe_send_status();
                }
                arrival = net.arrivals.recv() => {
                    let Some(arrival) = arrival else { return "the sockets closed".into() };
                    if net.keep(&arrival) {
                        self.receive(arrival);
                    }
                }
                connection = net.conns.recv() => {
                    if let Some(connection) = connection {
                        self.add_tcp_candidate(connection.local);
                        net.adopt(connection);
                    }
                }
                encoded = next_encoded(&mut self.video_encoder) => self.write_video(encoded),
                item = next_local(&mut self.local), if now_work => match item {
                    Some(LocalItem::Work(work)) => self.send_local(work),
                    Some(LocalItem::Ack(ack)) => self.send_channel(&ChannelMessage::Ack(ack)),
                    None => return "the session was closed".into(),
                },
                _ = cancel.changed() => return "the session was closed".into(),
            }
        }
    }

    fn has_tracks(&self) -> bool {
        self.video.is_some() || self.audio.is_some()
    }

    fn add_tcp_candidate(&mut self, local: std::net::SocketAddr) {
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

    fn receive(&mut self, arrival: Arrival) {
        let Ok(contents) = arrival.data.as_slice().try_into() else {
            return;
        };
        let input = Input::Receive(
            arrival.at,
            Receive {
                proto: arrival.proto,
                source: arrival.source,
                destination: arrival.destination,
                contents,
            },
        );
        if let Err(e) = self.rtc.handle_input(input) {
            tracing::debug!("dropped an unreadable packet: {e}");
        }
    }

    fn on_event(&mut self, event: Event) -> Option<String> {
        match event {
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                return Some("the WebRTC connection was lost".into());
            }
            Event::Connected => {
                self.stats.connected.store(true, Ordering::Relaxed);
                tracing::info!("WebRTC connected");
            }
            Event::MediaAdded(added) => {
                let track = Track {
                    mid: added.mid,
                    pt: None,
                };
                match added.kind {
                    MediaKind::Video => self.video = Some(track),
                    MediaKind::Audio => self.audio = Some(track),
                }
            }
            Event::ChannelOpen(id, label) => {
                tracing::debug!("data channel {label:?} open");
                self.channel = Some(id);
                while let Some(text) = self.pending_channel.pop_front() {
                    self.write_channel(text);
                }
            }
            Event::ChannelData(data) => self.on_channel(&data.data),
            Event::ChannelClose(_) => self.channel = None,
            Event::MediaData(data) => {
                let is_video = self.video.as_ref().is_some_and(|t| t.mid == data.mid);
                let is_audio = self.audio.as_ref().is_some_and(|t| t.mid == data.mid);
                if is_video {
                    self.on_video(data.time.numer(), data.contiguous, &data.data, data.mid);
                } else if is_audio {
                    self.on_audio(data.time.numer(), &data.data);
                }
            }
            Event::KeyframeRequest(_) => {
                if let Some(encoder) = &self.video_encoder {
                    encoder.request_keyframe();
                }
                self.stats.keyframes_sent.fetch_add(1, Ordering::Relaxed);
            }
            Event::EgressBitrateEstimate(estimate) => {
                let bps = match estimate {
                    str0m::bwe::BweKind::Twcc { estimate, .. } => estimate.as_u64(),
                    str0m::bwe::BweKind::Remb { estimate, .. } => estimate.as_u64(),
                    _ => return None,
                };
                if let Some(encoder) = &self.video_encoder {
                    encoder.set_target_bitrate(bps);
                    self.stats
                        .video_bitrate_bps
                        .store(encoder.bitrate() as u64, Ordering::Relaxed);
                }
            }
            Event::Closed => return Some("the peer closed the session".into()),
            _ => {}
        }
        None
    }

    fn on_channel(&mut self, data: &[u8]) {
        let message: ChannelMessage = match serde_json::from_slice(data) {
            Ok(message) => message,
            Err(e) => {
                tracing::warn!("unreadable data channel message: {e}");
                return;
            }
        };
        match (&self.local, message) {
            (Local::Server { inbox, .. }, ChannelMessage::Control { seq, control }) => {
                inbox.put_control(seq, control)
            }
            (Local::Client { events, .. }, ChannelMessage::Ack(ack)) => {
                let _ = events.send(SessionEvent::ControlAck(ack));
            }
            (Local::Client { .. }, ChannelMessage::Status(status)) => {
                if let Ok(mut slot) = self.stats.server_status.lock() {
                    *slot = Some(status);
                }
            }
            (_, other) => tracing::debug!("ignored data channel message {other:?}"),
        }
    }

    fn request_keyframe(&mut self, mid: Mid) {
        let now = Instant::now();
        if self.last_pli.is_some_and(|at| now - at < PLI_INTERVAL) {
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
            self.last_pli = Some(now);
            self.stats
                .keyframes_requested
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    fn on_video(&mut self, ticks: u64, contiguous: bool, data: &[u8], mid: Mid) {
        if !contiguous {
            self.waiting_keyframe = true;
        }
        let keyframe = contains_idr(data);
        if self.waiting_keyframe && !keyframe {
            self.request_keyframe(mid);
            return;
        }
        if self.video_decoder.is_none() {
            match VideoDecoder::new() {
                Ok(decoder) => self.video_decoder = Some(decoder),
                Err(e) => {
                    tracing::warn!("{e}");
                    return;
                }
            }
        }
        let Some(decoder) = self.video_decoder.as_mut() else {
            return;
        };
        let image = match decoder.decode(data) {
            Ok(Some(image)) => image,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!("{e}; asking for a keyframe");
                self.waiting_keyframe = true;
                self.request_keyframe(mid);
                return;
            }
        };
        if keyframe {
            self.waiting_keyframe = false;
        }
        self.stats.frames_received.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut arrivals) = self.stats.video_arrivals.lock() {
            arrivals.push(Instant::now());
        }
        let (seq, capture) = match take_sent(&mut self.sent_video, ticks) {
            Some(found) => found,
            None => (self.received_video, rtp_to_capture(ticks, 90_000)),
        };
        self.received_video += 1;
        let frame = VideoFrame {
            seq,
            capture,
            image,
        };
        match &self.local {
            Local::Server { inbox, .. } => {
                inbox.put_video(frame);
            }
            Local::Client { events, .. } => {
                let _ = events.send(SessionEvent::Video(frame));
            }
        }
    }

    fn on_audio(&mut self, ticks: u64, data: &[u8]) {
        self.stats
            .audio_packets_received
            .fetch_add(1, Ordering::Relaxed);
        if self.audio_decoder.is_none() {
            match AudioDecoder::new() {
                Ok(decoder) => self.audio_decoder = Some(decoder),
                Err(e) => {
                    tracing::warn!("{e}");
                    return;
                }
            }
        }
        let Some(decoder) = self.audio_decoder.as_mut() else {
            return;
        };
        let mut blocks = Vec::new();
        if let Some(expected) = self.next_audio_ticks
            && ticks > expected
            && ticks - expected <= MAX_CONCEAL_SAMPLES
        {
            // Lost packets: conceal them frame by frame so each keeps its place.
            let frame = decoder_frame_len(data).unwrap_or(960) as u64;
            let mut at = expected;
            while at < ticks {
                let n = frame.min(ticks - at);
                let samples = decoder.conceal(n as usize, data);
                blocks.push((at, samples));
                at += n;
            }
        } else if self
            .next_audio_ticks
            .is_some_and(|expected| ticks < expected)
        {
            return; // late duplicate
        }
        match decoder.decode(data) {
            Ok(samples) => blocks.push((ticks, samples)),
            Err(e) => {
                tracing::debug!("{e}");
                return;
            }
        }
        self.stats
            .samples_concealed
            .store(decoder.concealed_samples, Ordering::Relaxed);
        for (at, samples) in blocks {
            self.next_audio_ticks = Some(at + samples.len() as u64);
            let (seq, capture) = match take_sent(&mut self.sent_audio, at) {
                Some(found) => found,
                None => (self.received_audio, rtp_to_capture(at, OPUS_RATE as u64)),
            };
            self.received_audio += 1;
            let block = AudioBlock {
                seq,
                capture,
                sample_rate: OPUS_RATE,
                samples,
            };
            match &self.local {
                Local::Server { inbox, .. } => inbox.put_audio(block),
                Local::Client { events, .. } => {
                    let _ = events.send(SessionEvent::Audio(block));
                }
            }
        }
    }

    fn send_local(&mut self, work: Work) {
        match work {
            Work::Video(frame) => self.send_video(frame),
            Work::Audio(block) => self.send_audio(block),
            Work::Control { seq, control } => {
                self.send_channel(&ChannelMessage::Control { seq, control })
            }
        }
    }

    fn send_channel(&mut self, message: &ChannelMessage) {
        let Ok(text) = serde_json::to_string(message) else {
            return;
        };
        if self.channel.is_some() {
            self.write_channel(text);
        } else {
            self.pending_channel.push_back(text);
        }
    }

    fn write_channel(&mut self, text: String) {
        let Some(id) = self.channel else {
            self.pending_channel.push_back(text);
            return;
        };
        if let Some(mut channel) = self.rtc.channel(id) {
            match channel.write(false, text.as_bytes()) {
                Ok(true) => {}
                _ => tracing::debug!("data channel full; a message was not sent"),
            }
        }
    }

    fn maybe_send_status(&mut self) {
        if !self.is_server() || self.last_status.elapsed() < STATUS_EVERY || self.channel.is_none()
        {
            return;
        }
        self.last_status = Instant::now();
        let s = &self.stats;
        let status = serde_json::json!({
            "uptime_s": self.started.elapsed().as_secs_f64(),
            "frames_received": s.frames_received.load(Ordering::Relaxed),
            "frames_sent": s.frames_sent.load(Ordering::Relaxed),
            "keyframes_requested": s.keyframes_requested.load(Ordering::Relaxed),
            "samples_concealed": s.samples_concealed.load(Ordering::Relaxed),
            "video_bitrate_bps": self.video_encoder.as_ref().map_or(0, EncoderThread::bitrate),
        });
        self.send_channel(&ChannelMessage::Status(status));
    }

    fn pt_for(&mut self, video: bool) -> Option<(Mid, Pt)> {
        let track = if video { &self.video } else { &self.audio };
        let mid = track.as_ref()?.mid;
        if let Some(pt) = track.as_ref()?.pt {
            return Some((mid, pt));
        }
        let want = if video { Codec::H264 } else { Codec::Opus };
        let writer = self.rtc.writer(mid)?;
        let pt = writer
            .payload_params()
            .find(|p| p.spec().codec == want)
            .map(|p| p.pt())?;
        let track = if video {
            &mut self.video
        } else {
            &mut self.audio
        };
        if let Some(track) = track.as_mut() {
            track.pt = Some(pt);
        }
        Some((mid, pt))
    }

    fn send_video(&mut self, frame: VideoFrame) {
        // Nothing to encode for until the video track is negotiated.
        if self.pt_for(true).is_none() {
            return;
        }
        let ticks = capture_to_rtp(frame.capture, 90_000);
        if !self.is_server() {
            remember(&mut self.sent_video, ticks, frame.seq, frame.capture);
        }
        if let Some(encoder) = &self.video_encoder {
            encoder.submit(ticks, frame.image);
        }
    }

    /// An encoded frame is back from the encoder thread: send it.
    fn write_video(&mut self, encoded: Encoded) {
        let Some((mid, pt)) = self.pt_for(true) else {
            return;
        };
        let Some(writer) = self.rtc.writer(mid) else {
            return;
        };
        let time = MediaTime::new(encoded.ticks, Frequency::NINETY_KHZ);
        if let Err(e) = writer.write(pt, Instant::now(), time, encoded.data) {
            tracing::debug!("video not sent: {e}");
            return;
        }
        self.stats.frames_sent.fetch_add(1, Ordering::Relaxed);
    }

    fn send_audio(&mut self, block: AudioBlock) {
        if block.sample_rate != OPUS_RATE {
            tracing::warn!(
                "audio at {} Hz cannot go over WebRTC (48 kHz only)",
                block.sample_rate
            );
            return;
        }
        let ticks = capture_to_rtp(block.capture, OPUS_RATE as u64);
        if !self.is_server() {
            remember(&mut self.sent_audio, ticks, block.seq, block.capture);
        }
        if self.audio_pending.is_empty() && is_opus_frame(block.samples.len()) {
            self.write_audio(ticks, &block.samples);
            return;
        }
        // Blocks of other sizes are cut into 20 ms frames.
        if self.audio_pending.is_empty() {
            self.audio_pending_ticks = ticks;
        }
        self.audio_pending.extend_from_slice(&block.samples);
        while self.audio_pending.len() >= 960 {
            let frame: Vec<f32> = self.audio_pending.drain(..960).collect();
            let at = self.audio_pending_ticks;
            self.write_audio(at, &frame);
            self.audio_pending_ticks += 960;
        }
    }

    fn write_audio(&mut self, ticks: u64, samples: &[f32]) {
        let Some((mid, pt)) = self.pt_for(false) else {
            return;
        };
        if self.audio_encoder.is_none() {
            match AudioEncoder::new() {
                Ok(encoder) => self.audio_encoder = Some(encoder),
                Err(e) => {
                    tracing::warn!("{e}");
                    return;
                }
            }
        }
        let Some(encoder) = self.audio_encoder.as_mut() else {
            return;
        };
        let data = match encoder.encode(samples) {
            Ok(data) => data.to_vec(),
            Err(e) => {
                tracing::warn!("{e}");
                return;
            }
        };
        let Some(writer) = self.rtc.writer(mid) else {
            return;
        };
        let time = MediaTime::new(ticks, Frequency::FORTY_EIGHT_KHZ);
        if let Err(e) = writer.write(pt, Instant::now(), time, data) {
            tracing::debug!("audio not sent: {e}");
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

/// What the local side hands a peer to send.
enum LocalItem {
    Work(Work),
    Ack(studio_proto::control::ControlAck),
}

/// The next thing the local side wants sent.
async fn next_local(local: &mut Local) -> Option<LocalItem> {
    match local {
        Local::Client { outbox, .. } => outbox.next().await.map(LocalItem::Work),
        Local::Server { outgoing, .. } => loop {
            match outgoing.recv().await? {
                Message::Video(frame) => return Some(LocalItem::Work(Work::Video(frame))),
                Message::Audio(block) => return Some(LocalItem::Work(Work::Audio(block))),
                Message::ControlAck(ack) => return Some(LocalItem::Ack(ack)),
                _ => continue,
            }
        },
    }
}

fn remember(sent: &mut VecDeque<(u64, u64, Timestamp)>, ticks: u64, seq: u64, capture: Timestamp) {
    sent.push_back((ticks, seq, capture));
    while sent.len() > 1024 {
        sent.pop_front();
    }
}

fn take_sent(sent: &mut VecDeque<(u64, u64, Timestamp)>, ticks: u64) -> Option<(u64, Timestamp)> {
    while let Some(&(t, seq, capture)) = sent.front() {
        if t < ticks {
            sent.pop_front();
            continue;
        }
        if t == ticks {
            sent.pop_front();
            return Some((seq, capture));
        }
        return None;
    }
    None
}

/// Samples per frame of an Opus packet at 48 kHz.
fn decoder_frame_len(packet: &[u8]) -> Option<usize> {
    opus::packet::get_samples_per_frame(packet, OPUS_RATE).ok()
}

/// Whether an Annex B access unit holds an IDR slice (NAL type 5).
pub fn contains_idr(access_unit: &[u8]) -> bool {
    openh264::nal_units(access_unit).any(|nal| {
        let header = nal
            .iter()
            .position(|&b| b != 0)
            .and_then(|i| nal.get(i + 1));
        header.is_some_and(|h| h & 0x1f == 5)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_times_survive_the_rtp_clock_exactly() {
        for us in [0u64, 1, 11, 33_333, 66_666, 1_000_000, 3_600_000_123] {
            for rate in [90_000u64, 48_000] {
                let ticks = capture_to_rtp(Timestamp(us), rate);
                let back = rtp_to_capture(ticks, rate);
                assert_eq!(capture_to_rtp(back, rate), ticks, "{us} µs at {rate}");
                assert!(back.0.abs_diff(us) * rate < 1_000_000, "{us} µs at {rate}");
            }
        }
    }

    #[test]
    fn returned_media_finds_its_sequence_number() {
        let mut sent = VecDeque::new();
        for seq in 0..5u64 {
            remember(&mut sent, seq * 3000, seq, Timestamp(seq * 33_333));
        }
        assert_eq!(take_sent(&mut sent, 6000), Some((2, Timestamp(66_666))));
        // Earlier entries are forgotten once a later one came back.
        assert_eq!(take_sent(&mut sent, 3000), None);
        assert_eq!(take_sent(&mut sent, 12_000), Some((4, Timestamp(133_332))));
    }
}
