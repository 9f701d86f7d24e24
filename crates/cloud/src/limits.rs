//! RunPod's rate-limit headers as pure functions: `Retry-After` (whole seconds on this API)
//! and `RateLimit` (`"minute";r=0;t=12, "hour";r=2800;t=1812, ...`: requests left `r` and
//! seconds until the window resets `t`). Both are clamped, so a hostile or broken header can
//! neither overflow the clock nor park the client for hours.

use std::time::Duration;

/// The longest any header makes the client wait before it looks again.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// `Retry-After` in seconds, at most [`MAX_WAIT`]; `None` when it is not a number of seconds.
pub fn retry_after(value: &str) -> Option<Duration> {
    let seconds = value.trim().parse::<u64>().ok()?;
    Some(Duration::from_secs(seconds).min(MAX_WAIT))
}

/// How long to pause when a `RateLimit` window has no request left: until the latest such
/// window resets, at most [`MAX_WAIT`]. `None` when every window has requests left (or the
/// header says nothing readable).
pub fn exhausted_for(value: &str) -> Option<Duration> {
    let mut pause: Option<Duration> = None;
    for member in value.split(',') {
        let (mut remaining, mut reset) = (None, None);
        for parameter in member.split(';').skip(1) {
            match parameter.trim().split_once('=') {
                Some(("r", v)) => remaining = v.trim().parse::<u64>().ok(),
                Some(("t", v)) => reset = v.trim().parse::<u64>().ok(),
                _ => {}
            }
        }
        if let (Some(0), Some(seconds)) = (remaining, reset) {
            let wait = Duration::from_secs(seconds).min(MAX_WAIT);
            pause = Some(pause.map_or(wait, |p| p.max(wait)));
        }
    }
    pause
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_whole_seconds_clamped_and_never_overflows() {
        assert_eq!(retry_after("12"), Some(Duration::from_secs(12)));
        assert_eq!(retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(retry_after("18446744073709551615"), Some(MAX_WAIT));
        assert_eq!(retry_after("99999999999999999999999"), None);
        assert_eq!(retry_after("Wed, 21 Oct 2026 07:28:00 GMT"), None);
        assert_eq!(retry_after("-3"), None);
    }

    #[test]
    fn an_exhausted_window_pauses_until_it_resets() {
        let spec_example = r#""minute";r=0;t=12, "hour";r=2800;t=1812, "day";r=49500;t=45012"#;
        assert_eq!(exhausted_for(spec_example), Some(Duration::from_secs(12)));
        assert_eq!(
            exhausted_for(r#""minute";r=5;t=12, "hour";r=2800;t=1812"#),
            None
        );
        assert_eq!(
            exhausted_for(r#""minute";r=0;t=12, "day";r=0;t=18446744073709551615"#),
            Some(MAX_WAIT)
        );
        assert_eq!(exhausted_for("garbage"), None);
        assert_eq!(exhausted_for(""), None);
    }
}
