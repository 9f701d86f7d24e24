//! Capture time in the RTP timestamp: the conversions both ways, the unwrapping of the 32-bit
//! field on receipt, and the client's log that gives returned media back its sequence number.
//!
//! Meaning: a frame's RTP timestamp is its capture time in the track's clock (90 kHz video,
//! 48 kHz audio), `floor(capture_µs × rate / 10⁶)`, of which the wire carries the low 32 bits
//! (it wraps every 13.25 h of video, 24.86 h of audio). Every step here is total: a clock that
//! jumps back, a wrap, or a peer's odd timestamp gives a defined value, never a panic.

use std::collections::VecDeque;
use studio_media::Timestamp;

/// An RTP clock rate, in ticks per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockRate(u32);

impl ClockRate {
    /// H.264 in RTP.
    pub const VIDEO: ClockRate = ClockRate(90_000);
    /// Opus in RTP.
    pub const AUDIO: ClockRate = ClockRate(48_000);

    pub fn ticks_per_second(self) -> u32 {
        self.0
    }
}

/// Capture time to RTP ticks in `rate` (before the wire keeps the low 32 bits); exact
/// 128-bit arithmetic, so no capture time overflows.
pub fn capture_to_rtp(capture: Timestamp, rate: ClockRate) -> u64 {
    let ticks = u128::from(capture.0) * u128::from(rate.0) / 1_000_000;
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

/// RTP ticks back to the capture time; rounding up makes `capture_to_rtp` of the result give
/// `ticks` again. Saturates at the largest timestamp (only ticks beyond any clock reach it).
pub fn rtp_to_capture(ticks: u64, rate: ClockRate) -> Timestamp {
    let micros = (u128::from(ticks) * 1_000_000).div_ceil(u128::from(rate.0.max(1)));
    Timestamp(u64::try_from(micros).unwrap_or(u64::MAX))
}

/// The 32 bits of `ticks` the RTP header carries.
pub fn wire(ticks: u64) -> u32 {
    ticks as u32
}

/// Turns the 32-bit timestamps of one received stream back into a running count: each one is
/// placed at the nearest step (±2³¹ ticks) from the one before. A step back past zero (a
/// sender whose clock jumped back across a wrap) starts again at the wire value, so the result
/// always keeps the wire's 32 bits and never runs off to the top of the range.
#[derive(Debug, Default, Clone)]
pub struct RtpUnwrap {
    last: Option<u64>,
}

impl RtpUnwrap {
    pub fn unwrap(&mut self, wire: u32) -> u64 {
        let ticks = match self.last {
            None => u64::from(wire),
            Some(last) => {
                let step = i64::from(wire.wrapping_sub(last as u32) as i32);
                last.checked_add_signed(step).unwrap_or(u64::from(wire))
            }
        };
        self.last = Some(ticks);
        ticks
    }
}

/// Most entries the client remembers per track: a few seconds of media in flight.
const SENT_LOG_LEN: usize = 1024;

/// What the client sent, by RTP time, so media that comes back keeps its sequence number and
/// exact capture time. Matched on the wire's 32 bits, so a wrap or a jump of the capture clock
/// still finds its entry.
#[derive(Debug, Default)]
pub struct SentLog {
    entries: VecDeque<(u32, u64, Timestamp)>,
}

impl SentLog {
    pub fn remember(&mut self, ticks: u64, seq: u64, capture: Timestamp) {
        self.entries.push_back((wire(ticks), seq, capture));
        while self.entries.len() > SENT_LOG_LEN {
            self.entries.pop_front();
        }
    }

    /// The sequence number and capture time sent at `ticks`; entries sent before it are
    /// forgotten (they were lost or replaced on the way). `None` leaves the log as it was.
    pub fn take(&mut self, ticks: u64) -> Option<(u64, Timestamp)> {
        let wanted = wire(ticks);
        let at = self.entries.iter().position(|&(t, _, _)| t == wanted)?;
        self.entries.drain(..at);
        self.entries
            .pop_front()
            .map(|(_, seq, capture)| (seq, capture))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_times_survive_the_rtp_clock_exactly() {
        for us in [0u64, 1, 11, 33_333, 66_666, 1_000_000, 3_600_000_123] {
            for rate in [ClockRate::VIDEO, ClockRate::AUDIO] {
                let ticks = capture_to_rtp(Timestamp(us), rate);
                let back = rtp_to_capture(ticks, rate);
                assert_eq!(capture_to_rtp(back, rate), ticks, "{us} µs at {rate:?}");
                let rate = u64::from(rate.ticks_per_second());
                assert!(back.0.abs_diff(us) * rate < 1_000_000, "{us} µs at {rate}");
            }
        }
    }

    #[test]
    fn extreme_times_and_ticks_convert_without_overflow() {
        let top = capture_to_rtp(Timestamp(u64::MAX), ClockRate::VIDEO);
        assert_eq!(top, (u128::from(u64::MAX) * 90_000 / 1_000_000) as u64);
        assert_eq!(
            rtp_to_capture(u64::MAX, ClockRate::AUDIO),
            Timestamp(u64::MAX)
        );
        let back = rtp_to_capture(top, ClockRate::VIDEO);
        assert_eq!(capture_to_rtp(back, ClockRate::VIDEO), top);
    }

    #[test]
    fn unwrapping_follows_wraps_both_ways_and_never_goes_below_zero() {
        let mut clock = RtpUnwrap::default();
        assert_eq!(clock.unwrap(u32::MAX - 10), u64::from(u32::MAX - 10));
        // Forward across the wrap.
        assert_eq!(clock.unwrap(5), (1 << 32) + 5);
        // A small step back is a step back.
        assert_eq!(clock.unwrap(u32::MAX - 100), u64::from(u32::MAX - 100));
        // Back across zero from the first period: restarts at the wire value.
        let mut clock = RtpUnwrap::default();
        clock.unwrap(100);
        assert_eq!(clock.unwrap(u32::MAX - 100), u64::from(u32::MAX - 100));
        // Whatever happens, the wire bits are kept.
        let mut clock = RtpUnwrap::default();
        for wire_ticks in [0u32, 3_000_000_000, 7, 2_000_000_000, u32::MAX, 1] {
            assert_eq!(wire(clock.unwrap(wire_ticks)), wire_ticks);
        }
    }

    #[test]
    fn returned_media_finds_its_sequence_number() {
        let mut sent = SentLog::default();
        for seq in 0..5u64 {
            sent.remember(seq * 3000, seq, Timestamp(seq * 33_333));
        }
        assert_eq!(sent.take(6000), Some((2, Timestamp(66_666))));
        // Earlier entries are forgotten once a later one came back.
        assert_eq!(sent.take(3000), None);
        assert_eq!(sent.take(12_000), Some((4, Timestamp(133_332))));
    }

    #[test]
    fn the_log_matches_across_a_wrap_and_a_backwards_jump() {
        let mut sent = SentLog::default();
        sent.remember((1 << 32) - 3000, 0, Timestamp(10));
        sent.remember(1 << 32, 1, Timestamp(20));
        // The capture clock jumps back.
        sent.remember(9000, 2, Timestamp(30));
        // The far end unwrapped the second frame into its first period.
        assert_eq!(sent.take(0), Some((1, Timestamp(20))));
        assert_eq!(sent.take(9000), Some((2, Timestamp(30))));
        // Unknown ticks leave the log alone.
        sent.remember(12_000, 3, Timestamp(40));
        assert_eq!(sent.take(77), None);
        assert_eq!(sent.take(12_000), Some((3, Timestamp(40))));
    }

    #[test]
    fn the_log_is_bounded() {
        let mut sent = SentLog::default();
        for seq in 0..(SENT_LOG_LEN as u64 + 10) {
            sent.remember(seq * 3000, seq, Timestamp(seq));
        }
        assert_eq!(sent.take(0), None, "the oldest were forgotten");
        assert_eq!(sent.take(10 * 3000), Some((10, Timestamp(10))));
    }
}
