//! `studio bench transport`: what a second of media costs over WebRTC (H.264 and Opus encode
//! and decode) against the same-host raw transport (framing only), measured in the same run.

use super::codec::{AudioDecoder, AudioEncoder, VideoDecoder, VideoEncoder};
use crate::TransportError;
use crate::wire::{self, Message};
use bytes::BytesMut;
use serde::Serialize;
use std::time::{Duration, Instant};
use studio_media::{AudioBlock, I420Image, Timestamp, VideoFrame};

/// One transport's figures.
#[derive(Debug, Clone, Serialize)]
pub struct TransportCost {
    pub transport: String,
    /// Per 1280×720 frame: sending side (encode) and receiving side (decode), milliseconds.
    pub encode_ms_per_frame: f64,
    pub decode_ms_per_frame: f64,
    /// Process CPU time to send and receive one second of media (30 frames of 720p and
    /// 50 blocks of 20 ms audio), milliseconds.
    pub cpu_ms_per_media_s: f64,
    /// Bytes on the wire per second of media.
    pub bytes_per_media_s: f64,
}

/// The benchmark's report.
#[derive(Debug, Clone, Serialize)]
pub struct TransportBench {
    pub seconds: f64,
    pub raw: TransportCost,
    pub webrtc: TransportCost,
    /// WebRTC over raw, for each figure.
    pub ratio_encode: f64,
    pub ratio_decode: f64,
    pub ratio_cpu: f64,
    pub ratio_bytes: f64,
}

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 720;
const FPS: u64 = 30;

/// A moving test picture, so the encoder has real work.
fn picture(n: u64) -> I420Image {
    let mut image = I420Image::black(WIDTH, HEIGHT);
    let (y, u, v) = image.planes_mut();
    for (i, p) in y.iter_mut().enumerate() {
        let (x, row) = (i as u64 % WIDTH as u64, i as u64 / WIDTH as u64);
        *p = ((x + n * 6) ^ (row + n * 2)) as u8 / 2 + 40;
    }
    u.fill(110);
    v.fill(140);
    image
}

fn tone(n: u64) -> Vec<f32> {
    (0..960)
        .map(|i| ((n * 960 + i) as f32 * 220.0 * std::f32::consts::TAU / 48_000.0).sin() * 0.3)
        .collect()
}

/// Process CPU time (user + system) so far; wall time where the system does not say.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit(')').next()?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Linux reports in USER_HZ, 100 per second on every mainstream configuration.
    Some(Duration::from_millis(ticks * 10))
}

struct Meter {
    cpu: Option<Duration>,
    wall: Instant,
}

impl Meter {
    fn start() -> Meter {
        Meter {
            cpu: cpu_time(),
            wall: Instant::now(),
        }
    }
    fn cpu_ms(&self) -> f64 {
        match (self.cpu, cpu_time()) {
            (Some(a), Some(b)) => (b - a).as_secs_f64() * 1000.0,
            _ => self.wall.elapsed().as_secs_f64() * 1000.0,
        }
    }
}

/// Run both transports over `seconds` of media each.
pub fn run(seconds: f64) -> Result<TransportBench, TransportError> {
    let frames = ((seconds * FPS as f64).round() as u64).max(FPS);
    let blocks = frames * 50 / FPS;
    let media_s = frames as f64 / FPS as f64;
    let pictures: Vec<I420Image> = (0..FPS).map(picture).collect();

    // Raw: the frame and block framed on the way out and parsed on the way in.
    let mut enc = Duration::ZERO;
    let mut dec = Duration::ZERO;
    let mut bytes = 0usize;
    let meter = Meter::start();
    let mut buf = BytesMut::new();
    for n in 0..frames {
        let frame = VideoFrame {
            seq: n,
            capture: Timestamp(n * 33_333),
            image: pictures[(n % FPS) as usize].clone(),
        };
        let t = Instant::now();
        buf.clear();
        wire::encode(&Message::Video(frame), &mut buf);
        enc += t.elapsed();
        bytes += buf.len();
        let t = Instant::now();
        let _ = wire::decode(&mut buf)?;
        dec += t.elapsed();
    }
    for n in 0..blocks {
        let block = AudioBlock {
            seq: n,
            capture: Timestamp(n * 20_000),
            sample_rate: 48_000,
            samples: tone(n),
        };
        buf.clear();
        wire::encode(&Message::Audio(block), &mut buf);
        bytes += buf.len();
        let _ = wire::decode(&mut buf)?;
    }
    let raw = TransportCost {
        transport: "raw".into(),
        encode_ms_per_frame: enc.as_secs_f64() * 1000.0 / frames as f64,
        decode_ms_per_frame: dec.as_secs_f64() * 1000.0 / frames as f64,
        cpu_ms_per_media_s: meter.cpu_ms() / media_s,
        bytes_per_media_s: bytes as f64 / media_s,
    };

    // WebRTC: H.264 and Opus both ways (packetising and SRTP are not counted).
    let mut video_encoder = VideoEncoder::new(FPS as f32);
    let mut video_decoder = VideoDecoder::new()?;
    let mut audio_encoder = AudioEncoder::new()?;
    let mut audio_decoder = AudioDecoder::new()?;
    let mut enc = Duration::ZERO;
    let mut dec = Duration::ZERO;
    let mut bytes = 0usize;
    let meter = Meter::start();
    for n in 0..frames {
        let t = Instant::now();
        let au = video_encoder
            .encode(&pictures[(n % FPS) as usize])?
            .to_vec();
        enc += t.elapsed();
        bytes += au.len();
        let t = Instant::now();
        let _ = video_decoder.decode(&au)?;
        dec += t.elapsed();
    }
    for n in 0..blocks {
        let packet = audio_encoder.encode(&tone(n))?.to_vec();
        bytes += packet.len();
        let _ = audio_decoder.decode(&packet)?;
    }
    let webrtc = TransportCost {
        transport: "webrtc".into(),
        encode_ms_per_frame: enc.as_secs_f64() * 1000.0 / frames as f64,
        decode_ms_per_frame: dec.as_secs_f64() * 1000.0 / frames as f64,
        cpu_ms_per_media_s: meter.cpu_ms() / media_s,
        bytes_per_media_s: bytes as f64 / media_s,
    };
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::INFINITY };
    Ok(TransportBench {
        seconds: media_s,
        ratio_encode: ratio(webrtc.encode_ms_per_frame, raw.encode_ms_per_frame),
        ratio_decode: ratio(webrtc.decode_ms_per_frame, raw.decode_ms_per_frame),
        ratio_cpu: ratio(webrtc.cpu_ms_per_media_s, raw.cpu_ms_per_media_s),
        ratio_bytes: ratio(webrtc.bytes_per_media_s, raw.bytes_per_media_s),
        raw,
        webrtc,
    })
}

/// The report as a table.
pub fn print_table(bench: &TransportBench) {
    println!(
        "{:<8} {:>12} {:>12} {:>14} {:>14}",
        "", "encode ms/f", "decode ms/f", "CPU ms/media s", "bytes/media s"
    );
    for cost in [&bench.raw, &bench.webrtc] {
        println!(
            "{:<8} {:>12.3} {:>12.3} {:>14.1} {:>14.0}",
            cost.transport,
            cost.encode_ms_per_frame,
            cost.decode_ms_per_frame,
            cost.cpu_ms_per_media_s,
            cost.bytes_per_media_s
        );
    }
    println!(
        "{:<8} {:>11.1}x {:>11.1}x {:>13.1}x {:>13.4}x",
        "ratio", bench.ratio_encode, bench.ratio_decode, bench.ratio_cpu, bench.ratio_bytes
    );
    println!(
        "({:.0} s of 1280x720 at 30 fps and 48 kHz audio; WebRTC = H.264 + Opus encode and decode, raw = framing)",
        bench.seconds
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn cpu_time_is_read_and_moves() {
        let before = super::cpu_time();
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        if let (Some(a), Some(b)) = (before, super::cpu_time()) {
            assert!(b >= a);
        }
    }
}
