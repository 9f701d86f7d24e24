//! The WebRTC peer on synthetic time: an app-side and a server-side core connected in memory
//! through a simulated link (delay, capacity, loss), with the real str0m, openh264 and libopus
//! underneath. No sockets, no threads, no sleeps: the same run gives the same packets.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use str0m::Candidate;
use str0m::net::Transmit;
use studio_media::{AudioBlock, I420Image, Timestamp, VideoFrame};
use studio_proto::control::{Control, ControlAck};
use studio_transport::webrtc::bitrate::REBUILD_INTERVAL;
use studio_transport::webrtc::codec::{Encoded, INITIAL_VIDEO_BPS, VideoEncoder};
use studio_transport::webrtc::media_in::PLI_INTERVAL;
use studio_transport::webrtc::net::{LossGate, LossPlan};
use studio_transport::webrtc::peer::{
    CONNECT_TIMEOUT, ClientConfig, Input, Outgoing, Output, Peer, Received, Role, ServerConfig,
    rtc_config,
};

/// One end: the core, the encoder it asks for pictures, and what it handed out.
struct End {
    peer: Peer,
    encoder: VideoEncoder,
    /// A sender whose encoder ignores keyframe requests (to watch the requests repeat).
    honour_keyframe_requests: bool,
    timeout: Instant,
    received: Vec<(Instant, Received)>,
    bitrates: Vec<(Instant, u32)>,
    /// When each keyframe request this end sent was counted.
    keyframe_requests: Vec<Instant>,
    closed: Option<String>,
}

impl End {
    fn new(peer: Peer, now: Instant) -> End {
        End {
            peer,
            encoder: VideoEncoder::new(30.0),
            honour_keyframe_requests: true,
            timeout: now,
            received: Vec::new(),
            bitrates: Vec::new(),
            keyframe_requests: Vec::new(),
            closed: None,
        }
    }

    fn videos(&self) -> Vec<(Instant, &VideoFrame)> {
        self.received
            .iter()
            .filter_map(|(at, r)| match r {
                Received::Video(frame) => Some((*at, frame)),
                _ => None,
            })
            .collect()
    }

    fn audios(&self) -> Vec<&AudioBlock> {
        self.received
            .iter()
            .filter_map(|(_, r)| match r {
                Received::Audio(block) => Some(block),
                _ => None,
            })
            .collect()
    }
}

/// One direction of the network: a delay, an optional capacity with a bounded queue, the
/// transport's own loss hook, and blackouts.
struct Link {
    delay: Duration,
    /// Bits per second; `None` is unlimited.
    capacity: Option<u64>,
    free_at: Option<Instant>,
    loss: Option<LossGate>,
    blackouts: Vec<(Instant, Instant)>,
    in_flight: VecDeque<(Instant, Transmit)>,
    dropped: u64,
}

/// A router queue holds at most this much waiting time; later packets are dropped.
const QUEUE_LIMIT: Duration = Duration::from_millis(300);

impl Link {
    fn new() -> Link {
        Link {
            delay: Duration::from_millis(20),
            capacity: None,
            free_at: None,
            loss: None,
            blackouts: Vec::new(),
            in_flight: VecDeque::new(),
            dropped: 0,
        }
    }

    fn push(&mut self, now: Instant, transmit: Transmit) {
        let blackout = self.blackouts.iter().any(|(a, b)| (*a..*b).contains(&now));
        let lost = self.loss.as_mut().is_some_and(|gate| gate.drops(now));
        if blackout || lost {
            self.dropped += 1;
            return;
        }
        let mut sent = now;
        if let Some(bps) = self.capacity {
            let start = self.free_at.map_or(now, |free| free.max(now));
            if start - now > QUEUE_LIMIT {
                self.dropped += 1;
                return;
            }
            let bits = transmit.contents.len() as u64 * 8;
            sent = start + Duration::from_nanos(bits * 1_000_000_000 / bps);
            self.free_at = Some(sent);
        }
        self.in_flight.push_back((sent + self.delay, transmit));
    }

    fn next_arrival(&self) -> Option<Instant> {
        self.in_flight.front().map(|(at, _)| *at)
    }
}

/// Two peers and the link between them, on a clock that only moves when told.
struct Sim {
    now: Instant,
    client: End,
    server: End,
    up: Link,
    down: Link,
    /// The server sends back what it receives, as a pass-through engine would.
    echo: bool,
}

const CLIENT_ADDR: &str = "10.0.0.1:5000";
const SERVER_ADDR: &str = "10.0.0.2:6000";

impl Sim {
    /// Offer, answer and two peers, not yet connected.
    fn new() -> Sim {
        let now = Instant::now();
        let client_addr: SocketAddr = CLIENT_ADDR.parse().unwrap();
        let server_addr: SocketAddr = SERVER_ADDR.parse().unwrap();
        let mut client_rtc = rtc_config().build(now);
        client_rtc.add_local_candidate(Candidate::host(client_addr, "udp").unwrap());
        let (offer, pending, tracks) = ClientConfig::offer(&mut client_rtc).unwrap();
        let mut server_rtc = rtc_config().build(now);
        server_rtc.add_local_candidate(Candidate::host(server_addr, "udp").unwrap());
        let answer = server_rtc.sdp_api().accept_offer(offer).unwrap();
        client_rtc.sdp_api().accept_answer(pending, answer).unwrap();
        let client = Peer::new(client_rtc, Role::Client(tracks), now);
        let server = Peer::new(server_rtc, Role::Server(ServerConfig::default()), now);
        Sim {
            now,
            client: End::new(client, now),
            server: End::new(server, now),
            up: Link::new(),
            down: Link::new(),
            echo: true,
        }
    }

    /// Connected both ways with the data channel open.
    fn connected() -> Sim {
        let mut sim = Sim::new();
        let start = sim.now;
        while !(sim.client.peer.wants_media() && sim.server.peer.wants_media()) {
            let next = sim.now + Duration::from_millis(10);
            sim.advance_to(next);
            assert!(sim.now - start < Duration::from_secs(5), "no connection");
        }
        // Let SCTP open the data channel.
        let settle = sim.now + Duration::from_millis(500);
        sim.advance_to(settle);
        sim
    }

    fn send(&mut self, outgoing: Outgoing) {
        let now = self.now;
        self.client.peer.handle_input(Input::Send(outgoing), now);
        self.drain();
    }

    /// Carry out what both ends want until neither wants anything before its timeout.
    fn drain(&mut self) {
        loop {
            let mut busy = false;
            busy |= drain_end(&mut self.client, &mut self.up, self.now, false);
            busy |= drain_end(&mut self.server, &mut self.down, self.now, self.echo);
            if !busy {
                return;
            }
        }
    }

    /// Run everything due up to `until`, then stand at `until`.
    fn advance_to(&mut self, until: Instant) {
        let mut fed_at = None;
        loop {
            self.drain();
            let mut timeout = self.client.timeout.min(self.server.timeout);
            if timeout <= self.now && fed_at == Some(self.now) {
                // Fed at this instant already: a timeout of "now" means time must move on.
                timeout = self.now + Duration::from_millis(1);
            }
            let next = [self.up.next_arrival(), self.down.next_arrival()]
                .into_iter()
                .flatten()
                .fold(timeout, Instant::min);
            if next > until {
                break;
            }
            self.now = self.now.max(next);
            let now = self.now;
            deliver(&mut self.up, &mut self.server, now);
            deliver(&mut self.down, &mut self.client, now);
            for end in [&mut self.client, &mut self.server] {
                if end.timeout <= now && end.closed.is_none() {
                    end.peer.handle_input(Input::Timeout, now);
                }
            }
            fed_at = Some(now);
        }
        self.now = self.now.max(until);
        let now = self.now;
        for end in [&mut self.client, &mut self.server] {
            if end.closed.is_none() {
                end.peer.handle_input(Input::Timeout, now);
            }
        }
        self.drain();
    }
}

/// Packets due by `now` into the receiving end.
fn deliver(link: &mut Link, to: &mut End, now: Instant) {
    while link.next_arrival().is_some_and(|at| at <= now) {
        let Some((at, transmit)) = link.in_flight.pop_front() else {
            break;
        };
        let input = Input::Receive {
            proto: transmit.proto,
            source: transmit.source,
            destination: transmit.destination,
            data: &transmit.contents,
        };
        to.peer.handle_input(input, at.max(now));
    }
}

/// Poll one end until it waits; returns whether it fed itself anything (encoded pictures,
/// echoed media), which may make more output.
fn drain_end(end: &mut End, link: &mut Link, now: Instant, echo: bool) -> bool {
    let mut inputs = Vec::new();
    let requests_before = end.peer.figures().keyframes_requested;
    loop {
        match end.peer.poll_output() {
            Output::Timeout(at) => {
                end.timeout = at;
                break;
            }
            Output::Transmit(transmit) => link.push(now, transmit),
            Output::Connected => {}
            Output::Received(received) => {
                if echo {
                    match &received {
                        Received::Video(frame) => inputs.push(Outgoing::Video(frame.clone())),
                        Received::Audio(block) => inputs.push(Outgoing::Audio(block.clone())),
                        Received::Control { seq, .. } => inputs.push(Outgoing::Ack(ControlAck {
                            seq: *seq,
                            error: None,
                        })),
                        _ => {}
                    }
                }
                end.received.push((now, received));
            }
            Output::Encode { ticks, image } => {
                if let Ok(data) = end.encoder.encode(&image)
                    && !data.is_empty()
                {
                    let data = data.to_vec();
                    end.peer
                        .handle_input(Input::Encoded(Encoded { ticks, data }), now);
                }
            }
            Output::ForceKeyframe => {
                if end.honour_keyframe_requests {
                    end.encoder.request_keyframe();
                }
            }
            Output::VideoBitrate(bps) => {
                end.encoder.set_bitrate(bps);
                end.bitrates.push((now, bps));
            }
            Output::Closed(reason) => {
                end.closed = Some(reason);
                end.timeout = now + Duration::from_secs(3600);
                break;
            }
        }
    }
    let requests = end.peer.figures().keyframes_requested - requests_before;
    end.keyframe_requests
        .extend(std::iter::repeat_n(now, requests as usize));
    let busy = !inputs.is_empty();
    for outgoing in inputs {
        end.peer.handle_input(Input::Send(outgoing), now);
    }
    busy
}

/// A moving test picture with detail the encoder has to spend bits on.
fn picture(n: u64, noisy: bool) -> I420Image {
    let (w, h) = (160usize, 120usize);
    let mut image = I420Image::black(w as u32, h as u32);
    let (y, u, v) = image.planes_mut();
    let mut state = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for (i, p) in y.iter_mut().enumerate() {
        let (x, row) = (i % w, i / w);
        let base = (((x + n as usize * 4) / 16 + row / 16) % 2 * 150 + 50) as u8;
        *p = if noisy {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            base.wrapping_add((state % 12) as u8)
        } else {
            base
        };
    }
    u.fill(90);
    v.fill(160);
    image
}

fn frame(seq: u64, capture: Timestamp) -> VideoFrame {
    VideoFrame {
        seq,
        capture,
        image: picture(seq, false),
    }
}

fn block(seq: u64, capture: Timestamp) -> AudioBlock {
    let samples = (0..960)
        .map(|i| {
            let t = (seq * 960 + i) as f32 / 48_000.0;
            (t * 440.0 * std::f32::consts::TAU).sin() * 0.3
        })
        .collect();
    AudioBlock {
        seq,
        capture,
        sample_rate: 48_000,
        samples,
    }
}

const FRAME_TIME: Duration = Duration::from_micros(33_333);
const BLOCK_TIME: Duration = Duration::from_millis(20);

#[test]
fn media_and_controls_go_both_ways_keeping_sequence_numbers_and_capture_times() {
    let mut sim = Sim::connected();
    let start = sim.now;
    sim.send(Outgoing::Control {
        seq: 7,
        control: Control::Talk { active: true },
    });
    for n in 0..60u64 {
        sim.advance_to(start + FRAME_TIME * n as u32);
        sim.send(Outgoing::Video(frame(n, Timestamp(n * 33_333))));
    }
    let audio_start = sim.now;
    for n in 0..100u64 {
        sim.advance_to(audio_start + BLOCK_TIME * n as u32);
        sim.send(Outgoing::Audio(block(n, Timestamp(n * 20_000))));
    }
    let end = sim.now + Duration::from_secs(2);
    sim.advance_to(end);

    let videos = sim.client.videos();
    assert!(
        videos.len() >= 58,
        "{} of 60 frames came back",
        videos.len()
    );
    for (_, frame) in &videos {
        assert_eq!(frame.capture, Timestamp(frame.seq * 33_333));
        assert_eq!((frame.image.width(), frame.image.height()), (160, 120));
    }
    assert!(
        videos.windows(2).all(|w| w[1].1.seq > w[0].1.seq),
        "in order"
    );
    let audios = sim.client.audios();
    let samples: usize = audios.iter().map(|b| b.samples.len()).sum();
    assert_eq!(samples, 100 * 960, "every sample came back");
    for block in &audios {
        assert_eq!(block.capture, Timestamp(block.seq * 20_000));
    }
    let acks: Vec<&ControlAck> = sim
        .client
        .received
        .iter()
        .filter_map(|(_, r)| match r {
            Received::Ack(ack) => Some(ack),
            _ => None,
        })
        .collect();
    assert_eq!(
        acks,
        [&ControlAck {
            seq: 7,
            error: None
        }]
    );
    let statuses = sim
        .client
        .received
        .iter()
        .filter(|(_, r)| matches!(r, Received::Status(_)))
        .count();
    assert!(statuses >= 3, "{statuses} status reports in 5 s");
    assert_eq!(sim.server.peer.figures().keyframes_requested, 0);
}

#[test]
fn audio_over_a_lossy_link_is_concealed_and_keeps_its_length() {
    let mut sim = Sim::connected();
    let start = sim.now;
    for (link, seed) in [(&mut sim.up, 1), (&mut sim.down, 2)] {
        link.loss = Some(LossGate::new(
            LossPlan {
                percent: 5.0,
                burst_every: Some(Duration::from_secs(2)),
                burst_len: Duration::from_millis(100),
            },
            seed,
            start,
        ));
    }
    let blocks = 250u64;
    for n in 0..blocks {
        sim.advance_to(start + BLOCK_TIME * n as u32);
        sim.send(Outgoing::Audio(block(n, Timestamp(n * 20_000))));
    }
    let end = sim.now + Duration::from_secs(2);
    sim.advance_to(end);

    assert!(sim.up.dropped > 0 && sim.down.dropped > 0);
    let concealed =
        sim.client.peer.figures().samples_concealed + sim.server.peer.figures().samples_concealed;
    assert!(
        concealed > 0,
        "loss was injected, so something was concealed"
    );
    let audios = sim.client.audios();
    let samples: usize = audios.iter().map(|b| b.samples.len()).sum();
    // A packet lost at the very start or end has no neighbour to conceal from, hence 0.2 s
    // of slack.
    let expected = blocks as usize * 960;
    assert!(
        samples.abs_diff(expected) <= 10 * 960,
        "{samples} of {expected} samples came back ({concealed} concealed)"
    );
    for pair in audios.windows(2) {
        assert_eq!(
            pair[1].capture.0,
            pair[0].capture.0 + 20_000,
            "audio comes back without holes"
        );
    }
}

#[test]
fn video_recovers_soon_after_each_loss_burst() {
    let mut sim = Sim::connected();
    let start = sim.now;
    for (link, seed) in [(&mut sim.up, 3), (&mut sim.down, 4)] {
        link.loss = Some(LossGate::new(
            LossPlan {
                percent: 5.0,
                burst_every: Some(Duration::from_secs(2)),
                burst_len: Duration::from_millis(300),
            },
            seed,
            start,
        ));
    }
    let frames = 180u64;
    for n in 0..frames {
        sim.advance_to(start + FRAME_TIME * n as u32);
        sim.send(Outgoing::Video(frame(n, Timestamp(n * 33_333))));
    }
    let end = sim.now + Duration::from_secs(1);
    sim.advance_to(end);

    let videos = sim.client.videos();
    assert!(
        videos.len() >= 120,
        "only {} of {frames} frames came back under 5% loss",
        videos.len()
    );
    for (_, frame) in &videos {
        assert_eq!(frame.capture, Timestamp(frame.seq * 33_333));
    }
    for k in 1..=2u32 {
        let burst_end = start + Duration::from_secs(2) * k;
        let recovered = videos
            .iter()
            .find(|(at, _)| *at > burst_end)
            .map(|(at, _)| *at - burst_end);
        assert!(
            recovered.is_some_and(|d| d < Duration::from_millis(500)),
            "burst {k}: first frame {recovered:?} after it ended"
        );
    }
}

#[test]
fn a_broken_picture_asks_for_a_keyframe_every_pli_interval_until_one_comes() {
    let mut sim = Sim::connected();
    sim.echo = false;
    let start = sim.now;
    // Everything from the app is lost for 3.5 s, longer than retransmission can repair (the
    // sender keeps 3 s of packets for it).
    let broken_at = start + Duration::from_millis(4_000);
    sim.up
        .blackouts
        .push((start + Duration::from_millis(500), broken_at));
    sim.client.honour_keyframe_requests = false;
    let mut n = 0u64;
    let mut send_until = |sim: &mut Sim, until: Instant| {
        while start + FRAME_TIME * n as u32 <= until {
            sim.advance_to(start + FRAME_TIME * n as u32);
            sim.send(Outgoing::Video(frame(n, Timestamp(n * 33_333))));
            n += 1;
        }
    };
    send_until(&mut sim, broken_at + Duration::from_millis(1_500));
    let during: Vec<Instant> = sim
        .server
        .keyframe_requests
        .iter()
        .copied()
        .filter(|at| *at >= broken_at)
        .collect();
    assert!(
        during.len() >= 6,
        "{} keyframe requests while the picture stayed broken",
        during.len()
    );
    assert!(
        during.windows(2).all(|w| w[1] - w[0] >= PLI_INTERVAL),
        "requests are spaced by at least {PLI_INTERVAL:?}: {during:?}"
    );
    let shown_while_broken = sim
        .server
        .videos()
        .iter()
        .filter(|(at, _)| *at > broken_at + Duration::from_millis(300))
        .count();
    assert_eq!(
        shown_while_broken, 0,
        "no picture is decoded from a broken stream"
    );

    // The encoder obliges from now on: pictures come back within a few requests.
    sim.client.honour_keyframe_requests = true;
    let obliging = sim.now;
    send_until(&mut sim, obliging + Duration::from_millis(1_000));
    let first = sim
        .server
        .videos()
        .iter()
        .map(|(at, _)| *at)
        .find(|at| *at > obliging);
    assert!(
        first.is_some_and(|at| at - obliging < Duration::from_millis(400)),
        "first picture {:?} after the keyframe was allowed",
        first.map(|at| at - obliging)
    );
    assert!(sim.client.peer.figures().keyframes_sent >= 6);
}

#[test]
fn a_narrow_link_brings_the_encoder_bitrate_under_it() {
    let mut sim = Sim::connected();
    sim.echo = false;
    let link = 500_000u32;
    sim.up.capacity = Some(u64::from(link));
    let start = sim.now;
    let mut n = 0u64;
    let mut send_until = |sim: &mut Sim, until: Instant| {
        while start + FRAME_TIME * n as u32 <= until {
            sim.advance_to(start + FRAME_TIME * n as u32);
            sim.send(Outgoing::Video(VideoFrame {
                seq: n,
                capture: Timestamp(n * 33_333),
                image: picture(n, true),
            }));
            n += 1;
        }
    };
    // A 500 kbit/s link under a sender that starts at 1.5 Mbit/s.
    send_until(&mut sim, start + Duration::from_secs(8));
    let narrow: Vec<u32> = sim.client.bitrates.iter().map(|(_, bps)| *bps).collect();
    assert!(
        narrow.iter().any(|bps| *bps < INITIAL_VIDEO_BPS / 2),
        "bitrate changes {narrow:?} on a 500 kbit/s link"
    );
    let settled = narrow.iter().skip(1).copied().collect::<Vec<_>>();
    assert!(
        !settled.is_empty() && settled.iter().all(|bps| *bps < link),
        "once measured, the bitrate stays under the link: {narrow:?}"
    );
    assert_eq!(
        sim.client.encoder.bitrate(),
        *narrow.last().unwrap_or(&0),
        "the encoder follows"
    );
    let delivered = sim.server.videos().len();
    assert!(
        delivered > 200,
        "video still flows: {delivered} of {n} frames"
    );

    // Changes other than drops to under half are a rebuild interval apart (each costs a
    // keyframe).
    let changes = &sim.client.bitrates;
    for pair in changes.windows(2) {
        let ((at, before), (next_at, after)) = (pair[0], pair[1]);
        assert!(
            after < before / 2 || next_at - at >= REBUILD_INTERVAL,
            "{before} → {after} after {:?}",
            next_at - at
        );
    }
    assert_eq!(
        u64::from(sim.client.encoder.bitrate()),
        sim.client.peer.figures().video_bitrate_bps
    );
}

/// Capture time in µs at which the RTP clock of `rate` wraps (2³² ticks).
fn wrap_us(rate: u64) -> u64 {
    (1u64 << 32) * 1_000_000 / rate + 1
}

#[test]
fn capture_clock_jumps_and_rtp_wraps_keep_media_flowing() {
    let mut sim = Sim::connected();
    let start = sim.now;
    // Video starts just after its RTP clock wrapped (small values on the wire), then the
    // capture clock jumps back to before the wrap (the far end's str0m reads that as a step
    // below zero), runs across the wrap again, and finally jumps back to near zero.
    let video_wrap = wrap_us(90_000);
    let mut captures: Vec<u64> = (0..30).map(|n| video_wrap + 100_000 + n * 33_333).collect();
    captures.extend((0..30).map(|n| video_wrap - 500_000 + n * 33_333));
    captures.extend((0..30).map(|n| 1_000 + n * 33_333));
    for (n, capture) in captures.iter().enumerate() {
        sim.advance_to(start + FRAME_TIME * n as u32);
        sim.send(Outgoing::Video(frame(n as u64, Timestamp(*capture))));
    }
    // Audio the same way around its own wrap.
    let audio_wrap = wrap_us(48_000);
    let mut audio_captures: Vec<u64> = (0..50).map(|n| audio_wrap + 100_000 + n * 20_000).collect();
    audio_captures.extend((0..50).map(|n| audio_wrap - 400_000 + n * 20_000));
    audio_captures.extend((0..50).map(|n| 5_000 + n * 20_000));
    let audio_start = sim.now;
    for (n, capture) in audio_captures.iter().enumerate() {
        sim.advance_to(audio_start + BLOCK_TIME * n as u32);
        sim.send(Outgoing::Audio(block(n as u64, Timestamp(*capture))));
    }
    let end = sim.now + Duration::from_secs(2);
    sim.advance_to(end);

    assert!(sim.client.closed.is_none() && sim.server.closed.is_none());
    let videos = sim.client.videos();
    for (_, frame) in &videos {
        assert_eq!(
            frame.capture.0, captures[frame.seq as usize],
            "frame {}",
            frame.seq
        );
    }
    for segment in 0..3u64 {
        let back = videos.iter().filter(|(_, f)| f.seq / 30 == segment).count();
        assert!(
            back >= 25,
            "segment {segment}: {back} of 30 frames came back"
        );
    }
    let audios = sim.client.audios();
    for block in &audios {
        assert_eq!(
            block.capture.0, audio_captures[block.seq as usize],
            "block {}",
            block.seq
        );
    }
    for segment in 0..3u64 {
        let samples: usize = audios
            .iter()
            .filter(|b| b.seq / 50 == segment)
            .map(|b| b.samples.len())
            .sum();
        assert!(
            samples >= 45 * 960,
            "segment {segment}: {samples} of {} samples came back",
            50 * 960
        );
    }
}

#[test]
fn a_peer_that_never_answers_is_given_up_after_the_connect_timeout() {
    let mut sim = Sim::new();
    let start = sim.now;
    sim.up
        .blackouts
        .push((start, start + Duration::from_secs(3600)));
    sim.down
        .blackouts
        .push((start, start + Duration::from_secs(3600)));
    sim.advance_to(start + CONNECT_TIMEOUT - Duration::from_millis(1));
    assert!(sim.client.closed.is_none(), "still trying");
    sim.advance_to(start + CONNECT_TIMEOUT + Duration::from_millis(1));
    let reason = sim.client.closed.clone().unwrap_or_default();
    assert!(reason.contains("no WebRTC connection"), "{reason:?}");
}
