//! The codecs a WebRTC session runs: H.264 through openh264 and Opus through libopus, wrapped
//! so the rest of the crate deals in `I420Image`s and sample slices.

use crate::TransportError;
use openh264::OpenH264API;
use openh264::decoder::{Decoder, DecoderConfig};
use openh264::encoder::{BitRate, Encoder, EncoderConfig, FrameRate, RateControlMode, UsageType};
use openh264::formats::{YUVSlices, YUVSource};
use studio_media::I420Image;

/// Opus runs at 48 kHz, mono, in WebRTC sessions.
pub const OPUS_RATE: u32 = 48_000;

/// Frame sizes Opus takes at 48 kHz (2.5 to 60 ms).
const OPUS_FRAME_SIZES: [usize; 6] = [120, 240, 480, 960, 1920, 2880];

/// Bitrate the video encoder starts with, before the bandwidth estimate speaks.
pub const INITIAL_VIDEO_BPS: u32 = 1_500_000;
/// The encoder never goes below this, however low the estimate: a recognisable face needs it.
pub const MIN_VIDEO_BPS: u32 = 150_000;
pub const MAX_VIDEO_BPS: u32 = 6_000_000;

fn codec_error(what: &str, e: impl std::fmt::Display) -> TransportError {
    TransportError::Protocol(format!("{what}: {e}"))
}

/// One encoded access unit and the RTP time of the picture it came from.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub ticks: u64,
    pub data: Vec<u8>,
}

/// H.264 encoder at a bitrate its owner sets.
pub struct VideoEncoder {
    encoder: Option<Encoder>,
    size: (u32, u32),
    fps: f32,
    bitrate: u32,
    force_keyframe: bool,
    out: Vec<u8>,
}

impl VideoEncoder {
    pub fn new(fps: f32) -> VideoEncoder {
        VideoEncoder {
            encoder: None,
            size: (0, 0),
            fps: fps.max(1.0),
            bitrate: INITIAL_VIDEO_BPS,
            force_keyframe: false,
            out: Vec::new(),
        }
    }

    pub fn bitrate(&self) -> u32 {
        self.bitrate
    }

    /// Run at `bps` from the next frame on. openh264 takes its bitrate when it starts, so a
    /// change rebuilds the encoder (which starts with a keyframe); the bitrate module decides
    /// when a change is worth that.
    pub fn set_bitrate(&mut self, bps: u32) {
        let bps = bps.clamp(MIN_VIDEO_BPS, MAX_VIDEO_BPS);
        if bps != self.bitrate {
            self.bitrate = bps;
            self.encoder = None;
        }
    }

    /// The next frame is encoded as a keyframe (a peer asked with PLI or FIR).
    pub fn request_keyframe(&mut self) {
        self.force_keyframe = true;
    }

    /// Encode one frame to an Annex B access unit; empty when the rate control skipped it.
    pub fn encode(&mut self, image: &I420Image) -> Result<&[u8], TransportError> {
        let size = (image.width(), image.height());
        if self.encoder.is_none() || self.size != size {
            let config = EncoderConfig::new()
                .bitrate(BitRate::from_bps(self.bitrate))
                .max_frame_rate(FrameRate::from_hz(self.fps))
                .rate_control_mode(RateControlMode::Bitrate)
                .usage_type(UsageType::CameraVideoRealTime)
                .skip_frames(false);
            let encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
                .map_err(|e| codec_error("starting the H.264 encoder", e))?;
            self.encoder = Some(encoder);
            self.size = size;
            self.force_keyframe = false;
        }
        let Some(encoder) = self.encoder.as_mut() else {
            return Err(TransportError::Protocol("no H.264 encoder".into()));
        };
        if std::mem::take(&mut self.force_keyframe) {
            encoder.force_intra_frame();
        }
        let (y, u, v) = image.planes();
        let (w, h) = (size.0 as usize, size.1 as usize);
        let cw = image.chroma_width() as usize;
        let source = YUVSlices::new((y, u, v), (w, h), (w, cw, cw));
        let stream = encoder
            .encode(&source)
            .map_err(|e| codec_error("H.264 encoding", e))?;
        self.out.clear();
        stream.write_vec(&mut self.out);
        Ok(&self.out)
    }
}

/// H.264 decoder to `I420Image`s.
pub struct VideoDecoder {
    decoder: Decoder,
}

impl VideoDecoder {
    pub fn new() -> Result<VideoDecoder, TransportError> {
        let decoder = Decoder::with_api_config(OpenH264API::from_source(), DecoderConfig::new())
            .map_err(|e| codec_error("starting the H.264 decoder", e))?;
        Ok(VideoDecoder { decoder })
    }

    /// Decode one access unit; `Ok(None)` when it completed no picture.
    pub fn decode(&mut self, access_unit: &[u8]) -> Result<Option<I420Image>, TransportError> {
        let Some(picture) = self
            .decoder
            .decode(access_unit)
            .map_err(|e| codec_error("H.264 decoding", e))?
        else {
            return Ok(None);
        };
        let (w, h) = picture.dimensions();
        let (ys, us, vs) = picture.strides();
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let mut data = Vec::with_capacity(w * h + 2 * cw * ch);
        for row in 0..h {
            data.extend_from_slice(&picture.y()[row * ys..row * ys + w]);
        }
        for row in 0..ch {
            data.extend_from_slice(&picture.u()[row * us..row * us + cw]);
        }
        for row in 0..ch {
            data.extend_from_slice(&picture.v()[row * vs..row * vs + cw]);
        }
        I420Image::from_data(w as u32, h as u32, data)
            .map(Some)
            .map_err(|e| codec_error("decoded picture", e))
    }
}

/// Whether an Annex B access unit holds an IDR slice (NAL type 5): a picture a decoder can
/// start from.
pub fn contains_idr(access_unit: &[u8]) -> bool {
    openh264::nal_units(access_unit).any(|nal| {
        let header = nal
            .iter()
            .position(|&b| b != 0)
            .and_then(|i| nal.get(i + 1));
        header.is_some_and(|h| h & 0x1f == 5)
    })
}

/// True for the frame sizes Opus can encode at 48 kHz.
pub fn is_opus_frame(samples: usize) -> bool {
    OPUS_FRAME_SIZES.contains(&samples)
}

/// Opus encoder for one mono 48 kHz stream, with in-band FEC so a lost packet can be
/// rebuilt from the next one.
pub struct AudioEncoder {
    encoder: opus::Encoder,
    out: Vec<u8>,
}

impl AudioEncoder {
    pub fn new() -> Result<AudioEncoder, TransportError> {
        let mut encoder =
            opus::Encoder::new(OPUS_RATE, opus::Channels::Mono, opus::Application::Voip)
                .map_err(|e| codec_error("starting the Opus encoder", e))?;
        encoder
            .set_bitrate(opus::Bitrate::Bits(48_000))
            .and_then(|_| encoder.set_inband_fec(true))
            .and_then(|_| encoder.set_packet_loss_perc(10))
            .map_err(|e| codec_error("configuring the Opus encoder", e))?;
        Ok(AudioEncoder {
            encoder,
            out: vec![0; 4000],
        })
    }

    /// Encode one frame of 2.5 to 60 ms.
    pub fn encode(&mut self, samples: &[f32]) -> Result<&[u8], TransportError> {
        if !is_opus_frame(samples.len()) {
            return Err(TransportError::Protocol(format!(
                "an Opus frame is 2.5, 5, 10, 20, 40 or 60 ms at 48 kHz, not {} samples",
                samples.len()
            )));
        }
        let n = self
            .encoder
            .encode_float(samples, &mut self.out)
            .map_err(|e| codec_error("Opus encoding", e))?;
        Ok(&self.out[..n])
    }
}

/// Opus decoder that conceals lost packets (FEC from the next packet, else PLC).
pub struct AudioDecoder {
    decoder: opus::Decoder,
    /// Samples rebuilt in place of lost packets.
    pub concealed_samples: u64,
}

impl AudioDecoder {
    pub fn new() -> Result<AudioDecoder, TransportError> {
        let decoder = opus::Decoder::new(OPUS_RATE, opus::Channels::Mono)
            .map_err(|e| codec_error("starting the Opus decoder", e))?;
        Ok(AudioDecoder {
            decoder,
            concealed_samples: 0,
        })
    }

    pub fn decode(&mut self, packet: &[u8]) -> Result<Vec<f32>, TransportError> {
        let mut out = vec![0f32; 5760];
        let n = self
            .decoder
            .decode_float(packet, &mut out, false)
            .map_err(|e| codec_error("Opus decoding", e))?;
        out.truncate(n);
        Ok(out)
    }

    /// Rebuild `samples` lost just before `next_packet`: its in-band FEC when it carries
    /// some, packet loss concealment otherwise.
    pub fn conceal(&mut self, samples: usize, next_packet: &[u8]) -> Vec<f32> {
        let mut out = vec![0f32; samples];
        let fec = self.decoder.decode_float(next_packet, &mut out, true);
        if !matches!(fec, Ok(n) if n == samples) {
            out.iter_mut().for_each(|s| *s = 0.0);
            let mut done = 0;
            while done < samples {
                let step = (samples - done).min(960);
                let chunk = &mut out[done..done + step];
                if self.decoder.decode_float(&[], chunk, false).is_err() {
                    break;
                }
                done += step;
            }
        }
        self.concealed_samples += samples as u64;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(width: u32, height: u32, shift: u32) -> I420Image {
        let mut image = I420Image::black(width, height);
        let (y, u, v) = image.planes_mut();
        for (i, p) in y.iter_mut().enumerate() {
            let (x, row) = (i as u32 % width, i as u32 / width);
            *p = (((x + shift) / 8 + row / 8) % 2 * 160 + 40) as u8;
        }
        u.iter_mut().for_each(|p| *p = 100);
        v.iter_mut().for_each(|p| *p = 150);
        image
    }

    #[test]
    fn h264_round_trip_keeps_size_and_picture() {
        let mut encoder = VideoEncoder::new(30.0);
        let mut decoder = VideoDecoder::new().unwrap();
        let mut decoded = 0;
        for n in 0..10 {
            let input = pattern(320, 240, n * 2);
            let au = encoder.encode(&input).unwrap().to_vec();
            assert!(!au.is_empty());
            if let Some(out) = decoder.decode(&au).unwrap() {
                assert_eq!((out.width(), out.height()), (320, 240));
                let mean_error: f64 = out
                    .planes()
                    .0
                    .iter()
                    .zip(input.planes().0)
                    .map(|(a, b)| (*a as f64 - *b as f64).abs())
                    .sum::<f64>()
                    / (320.0 * 240.0);
                assert!(mean_error < 8.0, "frame {n}: mean luma error {mean_error}");
                decoded += 1;
            }
        }
        assert_eq!(decoded, 10);
    }

    #[test]
    fn a_keyframe_request_makes_a_decodable_frame_for_a_fresh_decoder() {
        let mut encoder = VideoEncoder::new(30.0);
        for n in 0..5 {
            encoder.encode(&pattern(160, 128, n)).unwrap();
        }
        // A fresh decoder cannot decode a P frame, but can decode the requested keyframe.
        encoder.request_keyframe();
        let key = encoder.encode(&pattern(160, 128, 9)).unwrap().to_vec();
        let mut decoder = VideoDecoder::new().unwrap();
        assert!(decoder.decode(&key).unwrap().is_some());
    }

    #[test]
    fn opus_round_trip_and_concealment_keep_the_length() {
        let mut encoder = AudioEncoder::new().unwrap();
        let mut decoder = AudioDecoder::new().unwrap();
        let tone: Vec<f32> = (0..9600)
            .map(|i| (i as f32 * 440.0 * std::f32::consts::TAU / 48_000.0).sin() * 0.5)
            .collect();
        let packets: Vec<Vec<u8>> = tone
            .chunks(960)
            .map(|c| encoder.encode(c).unwrap().to_vec())
            .collect();
        let mut out = Vec::new();
        for (i, p) in packets.iter().enumerate() {
            if i == 5 {
                continue; // lost
            }
            if i == 6 {
                out.extend(decoder.conceal(960, p));
            }
            out.extend(decoder.decode(p).unwrap());
        }
        assert_eq!(out.len(), tone.len());
        assert_eq!(decoder.concealed_samples, 960);
        // The concealed stretch is not silence: the tone goes on.
        let energy: f32 = out[5 * 960..6 * 960].iter().map(|s| s * s).sum::<f32>() / 960.0;
        assert!(energy > 0.01, "concealed energy {energy}");
        assert!(encoder.encode(&[0.0; 100]).is_err());
    }
}
