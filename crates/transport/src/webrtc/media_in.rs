//! What a peer does with received media, without I/O: H.264 pictures decoded only from a clean
//! start (a broken picture asks for a keyframe, at most every [`PLI_INTERVAL`]), and Opus
//! decoded with gaps concealed (in-band FEC from the next packet, else PLC) so each sample
//! keeps its place in time.

use super::codec::{AudioDecoder, OPUS_RATE, VideoDecoder, contains_idr};
use super::rtp_time::RtpUnwrap;
use std::time::{Duration, Instant};
use studio_media::I420Image;

/// Keyframe requests are repeated no more often than this while a picture is broken.
pub const PLI_INTERVAL: Duration = Duration::from_millis(150);
/// Longest gap in received audio that is concealed; longer ones are a pause, not a loss.
pub const MAX_CONCEAL_SAMPLES: u64 = OPUS_RATE as u64 / 5;
/// Audio this far behind what was expected is a late duplicate; further back, the sender's
/// clock jumped back and a new timeline starts.
const LATE_WINDOW_SAMPLES: u64 = MAX_CONCEAL_SAMPLES;
/// Samples of an Opus frame when the packet does not say (20 ms).
const DEFAULT_FRAME: u64 = 960;

/// What one received access unit gave.
#[derive(Debug)]
pub enum VideoIn {
    /// A decoded picture and its RTP time (unwrapped).
    Picture { ticks: u64, image: I420Image },
    /// The picture is broken until a keyframe: ask the sender for one (the caller should
    /// check [`VideoReceiver::may_request_keyframe`] and then report with
    /// [`VideoReceiver::keyframe_requested`]).
    NeedKeyframe,
    /// Nothing to show yet (the decoder wants more, or it could not start).
    Nothing,
}

/// The receiving half of a video track.
#[derive(Default)]
pub struct VideoReceiver {
    decoder: Option<VideoDecoder>,
    /// Until a keyframe arrives, nothing is decoded: a decoder fed P frames after a loss
    /// shows smeared pictures.
    broken: bool,
    last_request: Option<Instant>,
    clock: RtpUnwrap,
}

impl VideoReceiver {
    pub fn new() -> VideoReceiver {
        VideoReceiver {
            broken: true,
            ..VideoReceiver::default()
        }
    }

    /// One access unit at RTP time `wire`; `contiguous` is false after lost packets.
    pub fn receive(&mut self, wire: u32, contiguous: bool, data: &[u8]) -> VideoIn {
        let ticks = self.clock.unwrap(wire);
        if !contiguous {
            self.broken = true;
        }
        let keyframe = contains_idr(data);
        if self.broken && !keyframe {
            return VideoIn::NeedKeyframe;
        }
        if self.decoder.is_none() {
            match VideoDecoder::new() {
                Ok(decoder) => self.decoder = Some(decoder),
                Err(e) => {
                    tracing::warn!("{e}");
                    return VideoIn::Nothing;
                }
            }
        }
        let Some(decoder) = self.decoder.as_mut() else {
            return VideoIn::Nothing;
        };
        match decoder.decode(data) {
            Ok(Some(image)) => {
                if keyframe {
                    self.broken = false;
                }
                VideoIn::Picture { ticks, image }
            }
            Ok(None) => VideoIn::Nothing,
            Err(e) => {
                tracing::debug!("{e}; asking for a keyframe");
                self.broken = true;
                VideoIn::NeedKeyframe
            }
        }
    }

    /// Whether a keyframe request may go out at `now` (they are spaced by [`PLI_INTERVAL`]).
    pub fn may_request_keyframe(&self, now: Instant) -> bool {
        self.last_request
            .is_none_or(|at| now.saturating_duration_since(at) >= PLI_INTERVAL)
    }

    /// A keyframe request went out at `now`.
    pub fn keyframe_requested(&mut self, now: Instant) {
        self.last_request = Some(now);
    }
}

/// The receiving half of an audio track.
#[derive(Default)]
pub struct AudioReceiver {
    decoder: Option<AudioDecoder>,
    /// RTP time (unwrapped) the next packet should start at.
    next_ticks: Option<u64>,
    clock: RtpUnwrap,
}

impl AudioReceiver {
    pub fn new() -> AudioReceiver {
        AudioReceiver::default()
    }

    /// Samples rebuilt in place of lost packets so far.
    pub fn concealed_samples(&self) -> u64 {
        self.decoder.as_ref().map_or(0, |d| d.concealed_samples)
    }

    /// One Opus packet at RTP time `wire`: the blocks it gives, each with its RTP time
    /// (unwrapped), concealed ones for a gap before it first.
    pub fn receive(&mut self, wire: u32, data: &[u8]) -> Vec<(u64, Vec<f32>)> {
        let ticks = self.clock.unwrap(wire);
        if self.decoder.is_none() {
            match AudioDecoder::new() {
                Ok(decoder) => self.decoder = Some(decoder),
                Err(e) => {
                    tracing::warn!("{e}");
                    return Vec::new();
                }
            }
        }
        let Some(decoder) = self.decoder.as_mut() else {
            return Vec::new();
        };
        let mut blocks = Vec::new();
        if let Some(expected) = self.next_ticks {
            if let Some(gap) = ticks.checked_sub(expected).filter(|&g| g > 0) {
                if gap <= MAX_CONCEAL_SAMPLES {
                    // Lost packets: conceal them frame by frame so each keeps its place.
                    let frame = opus::packet::get_samples_per_frame(data, OPUS_RATE)
                        .ok()
                        .map(|n| n as u64)
                        .filter(|&n| n > 0)
                        .unwrap_or(DEFAULT_FRAME);
                    let mut at = expected;
                    while at < ticks {
                        let n = frame.min(ticks - at);
                        blocks.push((at, decoder.conceal(n as usize, data)));
                        at += n;
                    }
                }
            } else if expected
                .checked_sub(ticks)
                .is_some_and(|behind| behind > 0 && behind <= LATE_WINDOW_SAMPLES)
            {
                return Vec::new(); // a late duplicate
            }
        }
        match decoder.decode(data) {
            Ok(samples) => blocks.push((ticks, samples)),
            Err(e) => {
                tracing::debug!("{e}");
                return Vec::new();
            }
        }
        if let Some((at, samples)) = blocks.last() {
            self.next_ticks = at.checked_add(samples.len() as u64);
        }
        blocks
    }
}
