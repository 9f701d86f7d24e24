//! A download's retry, resume and mirror logic as a state machine that does no I/O.
//!
//! The driver ([`crate::http`]) asks [`Fetch`] what to do, performs it, and feeds back what
//! happened: a response head, bytes written, the end of a body, or a failure. The machine
//! answers with the next [`Action`]. Rules:
//!
//! - A request resumes with `Range: bytes=N-` from the bytes already in the partial file; a
//!   server that ignores `Range` (`200`) restarts the file from zero.
//! - A connection that delivered bytes before it broke is resumed on the same mirror at once.
//! - `404`, `410`, `401`, `403` and a size that contradicts the configuration end a mirror for
//!   good; `5xx`, `429`, refused or timed-out connections move on to the next mirror, and a
//!   whole round of mirrors without progress waits (doubling back-off) before the next round.
//! - It gives up when every mirror is dead or after `max_rounds` rounds without progress.

use std::time::Duration;

/// How long to wait between rounds of mirrors, and how many rounds to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Rounds over all live mirrors without a single byte of progress before giving up.
    pub max_rounds: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_rounds: 5,
        }
    }
}

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `GET url`, with `Range: bytes={from}-` when `from > 0`.
    Request { url: String, from: u64 },
    /// Sleep, then call [`Fetch::after_wait`].
    Wait(Duration),
    /// The partial file holds the whole download (`bytes` long): verify it.
    Done { bytes: u64 },
    /// Give up; the reason lists what each mirror answered.
    Fail(String),
}

/// What the driver learnt from a response's status line and headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    /// `Content-Range` of a `206` (or `416`) answer.
    pub content_range: Option<ContentRange>,
    /// `Content-Length`, the size of this body.
    pub content_length: Option<u64>,
}

/// A parsed `Content-Range: bytes START-END/TOTAL` (or `bytes */TOTAL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    /// `None` for `bytes */TOTAL`.
    pub start: Option<u64>,
    pub total: Option<u64>,
}

impl ContentRange {
    pub fn parse(header: &str) -> Option<ContentRange> {
        let rest = header.trim().strip_prefix("bytes")?.trim_start();
        let (range, total) = rest.split_once('/')?;
        let total = match total.trim() {
            "*" => None,
            t => Some(t.parse().ok()?),
        };
        let start = match range.trim() {
            "*" => None,
            r => Some(r.split_once('-')?.0.trim().parse().ok()?),
        };
        Some(ContentRange { start, total })
    }
}

/// The answer to a response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accept {
    /// Read the body into the partial file starting at `offset` (cut the file there first).
    /// `total` is the size of the whole download when known.
    Body { offset: u64, total: Option<u64> },
    /// Drop this response and do this instead.
    Next(Action),
}

/// Why an attempt failed, as the driver saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No connection, refused, reset before the headers, timed out, or the body broke off.
    Transport(String),
}

/// One download over a list of mirrors. See the module documentation for the rules.
#[derive(Debug, Clone)]
pub struct Fetch {
    urls: Vec<String>,
    dead: Vec<bool>,
    last_error: Vec<Option<String>>,
    current: usize,
    /// Bytes already in the partial file and trusted to belong to the download.
    offset: u64,
    /// Size of the whole download: from the configuration, else from the first server.
    total: Option<u64>,
    expected: Option<u64>,
    /// Bytes received by the attempt in flight.
    attempt_progress: u64,
    /// Mirrors that failed in the current round (since the last progress or wait).
    tried: Vec<bool>,
    rounds_without_progress: u32,
    backoff: Duration,
    policy: RetryPolicy,
}

impl Fetch {
    /// `partial` is how many bytes the partial file already holds; `expected` the size the
    /// configuration promises, if any.
    pub fn new(
        urls: Vec<String>,
        partial: u64,
        expected: Option<u64>,
        policy: RetryPolicy,
    ) -> Fetch {
        let n = urls.len();
        // A partial file longer than the whole download cannot be a prefix of it.
        let offset = match expected {
            Some(e) if partial > e => 0,
            _ => partial,
        };
        Fetch {
            urls,
            dead: vec![false; n],
            last_error: vec![None; n],
            current: 0,
            offset,
            total: expected,
            expected,
            attempt_progress: 0,
            tried: vec![false; n],
            rounds_without_progress: 0,
            backoff: policy.initial_backoff,
            policy,
        }
    }

    /// Bytes of the download in the partial file so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Size of the whole download, once known.
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    /// The first action.
    pub fn start(&mut self) -> Action {
        if self.urls.is_empty() {
            return Action::Fail("no URLs to download from".to_owned());
        }
        if self.expected.is_some_and(|e| self.offset == e) {
            return Action::Done { bytes: self.offset };
        }
        self.request()
    }

    /// After an [`Action::Wait`].
    pub fn after_wait(&mut self) -> Action {
        self.request()
    }

    pub fn on_response(&mut self, head: ResponseHead) -> Accept {
        let url = self.urls[self.current].clone();
        match head.status {
            200 => {
                // The whole file from the start: the server ignored `Range` or none was sent.
                if let Some(reason) = self.contradicts_expected(head.content_length) {
                    return Accept::Next(self.failed(format!("{url}: {reason}"), true));
                }
                self.offset = 0;
                self.total = head.content_length.or(self.expected);
                Accept::Body {
                    offset: 0,
                    total: self.total,
                }
            }
            206 => {
                let range = head.content_range.unwrap_or(ContentRange {
                    start: None,
                    total: None,
                });
                if range.start != Some(self.offset) {
                    let reason = format!(
                        "{url}: asked for bytes from {}, got a range starting at {:?}",
                        self.offset, range.start
                    );
                    return Accept::Next(self.failed(reason, false));
                }
                // The length is the server's word: a sum past u64 is a lie, not a panic.
                let total = match (range.total, head.content_length) {
                    (Some(total), _) => Some(total),
                    (None, Some(n)) => match n.checked_add(self.offset) {
                        Some(total) => Some(total),
                        None => {
                            let reason =
                                format!("{url}: a Content-Length of {n} cannot follow our offset");
                            return Accept::Next(self.failed(reason, true));
                        }
                    },
                    (None, None) => None,
                };
                if let Some(reason) = self.contradicts_expected(total) {
                    return Accept::Next(self.failed(format!("{url}: {reason}"), true));
                }
                self.total = total.or(self.expected);
                Accept::Body {
                    offset: self.offset,
                    total: self.total,
                }
            }
            416 => {
                // Nothing left after our offset: either the partial file is complete or it is
                // not a prefix of this file.
                let total = head.content_range.and_then(|r| r.total).or(self.total);
                if total == Some(self.offset) && self.offset > 0 {
                    self.total = total;
                    return Accept::Next(Action::Done { bytes: self.offset });
                }
                self.offset = 0;
                Accept::Next(self.failed(
                    format!("{url}: 416 for a partial file that does not fit; starting over"),
                    false,
                ))
            }
            401 | 403 | 404 | 410 => {
                Accept::Next(self.failed(format!("{url}: HTTP {}", head.status), true))
            }
            status => Accept::Next(self.failed(format!("{url}: HTTP {status}"), false)),
        }
    }

    /// `n` more bytes were written to the partial file.
    pub fn on_data(&mut self, n: u64) {
        self.offset = self.offset.saturating_add(n);
        self.attempt_progress = self.attempt_progress.saturating_add(n);
    }

    /// The body ended cleanly.
    pub fn on_body_end(&mut self) -> Action {
        let url = self.urls[self.current].clone();
        match self.total {
            Some(total) if self.offset == total => Action::Done { bytes: total },
            Some(total) if self.offset < total => self.failed(
                format!("{url}: the body ended at byte {} of {total}", self.offset),
                false,
            ),
            Some(total) => {
                let reason = format!(
                    "{url}: sent {} bytes, more than the {total} announced",
                    self.offset
                );
                self.offset = 0;
                self.attempt_progress = 0;
                self.failed(reason, true)
            }
            None => Action::Done { bytes: self.offset },
        }
    }

    /// The attempt in flight failed.
    pub fn on_failure(&mut self, failure: Failure) -> Action {
        let url = self.urls[self.current].clone();
        let Failure::Transport(why) = failure;
        self.failed(format!("{url}: {why}"), false)
    }

    fn contradicts_expected(&self, total: Option<u64>) -> Option<String> {
        match (self.expected, total) {
            (Some(e), Some(t)) if e != t => {
                Some(format!("serves {t} bytes, the configuration says {e}"))
            }
            _ => None,
        }
    }

    fn request(&mut self) -> Action {
        self.attempt_progress = 0;
        Action::Request {
            url: self.urls[self.current].clone(),
            from: self.offset,
        }
    }

    fn failed(&mut self, reason: String, permanent: bool) -> Action {
        self.last_error[self.current] = Some(reason);
        if permanent {
            self.dead[self.current] = true;
        }
        let progressed = self.attempt_progress > 0;
        self.attempt_progress = 0;
        if progressed {
            // The mirror works; the connection broke. Resume where it stopped.
            self.tried.fill(false);
            self.rounds_without_progress = 0;
            self.backoff = self.policy.initial_backoff;
            if !self.dead[self.current] {
                return self.request();
            }
        }
        self.tried[self.current] = true;
        if self.dead.iter().all(|d| *d) {
            return Action::Fail(self.summary());
        }
        if let Some(next) = self.next_live(|i| !self.tried[i]) {
            self.current = next;
            return self.request();
        }
        // Every live mirror failed this round: wait before the next one.
        self.tried.fill(false);
        self.rounds_without_progress += 1;
        if self.rounds_without_progress >= self.policy.max_rounds {
            return Action::Fail(self.summary());
        }
        self.current = self.next_live(|_| true).unwrap_or(self.current);
        let wait = self.backoff;
        self.backoff = self
            .backoff
            .checked_mul(2)
            .map_or(self.policy.max_backoff, |b| b.min(self.policy.max_backoff));
        Action::Wait(wait)
    }

    /// The first live mirror after the current one (cyclically, itself last) that `also`
    /// accepts.
    fn next_live(&self, also: impl Fn(usize) -> bool) -> Option<usize> {
        let n = self.urls.len();
        (1..=n)
            .map(|step| (self.current + step) % n)
            .find(|&i| !self.dead[i] && also(i))
    }

    fn summary(&self) -> String {
        let errors: Vec<&str> = self
            .last_error
            .iter()
            .flatten()
            .map(String::as_str)
            .collect();
        if errors.is_empty() {
            "no mirror could deliver the file".to_owned()
        } else {
            format!("no mirror could deliver the file ({})", errors.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "http://a/m";
    const B: &str = "http://b/m";

    fn policy() -> RetryPolicy {
        RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
            max_rounds: 3,
        }
    }

    fn fetch(urls: &[&str], partial: u64, expected: Option<u64>) -> Fetch {
        let urls = urls.iter().map(|u| u.to_string()).collect();
        Fetch::new(urls, partial, expected, policy())
    }

    fn req(url: &str, from: u64) -> Action {
        Action::Request {
            url: url.to_owned(),
            from,
        }
    }

    fn status(status: u16) -> ResponseHead {
        ResponseHead {
            status,
            content_range: None,
            content_length: None,
        }
    }

    fn ok(len: u64) -> ResponseHead {
        ResponseHead {
            status: 200,
            content_range: None,
            content_length: Some(len),
        }
    }

    fn partial(start: u64, total: u64) -> ResponseHead {
        ResponseHead {
            status: 206,
            content_range: Some(ContentRange {
                start: Some(start),
                total: Some(total),
            }),
            content_length: Some(total - start),
        }
    }

    fn cut() -> Failure {
        Failure::Transport("connection reset".into())
    }

    #[test]
    fn content_range_headers_parse() {
        assert_eq!(
            ContentRange::parse("bytes 100-199/1000"),
            Some(ContentRange {
                start: Some(100),
                total: Some(1000)
            })
        );
        assert_eq!(
            ContentRange::parse("bytes */1000"),
            Some(ContentRange {
                start: None,
                total: Some(1000)
            })
        );
        assert_eq!(
            ContentRange::parse("bytes 5-9/*"),
            Some(ContentRange {
                start: Some(5),
                total: None
            })
        );
        assert_eq!(ContentRange::parse("items 1-2/3"), None);
        assert_eq!(ContentRange::parse("bytes x-9/10"), None);
    }

    #[test]
    fn a_clean_download_is_one_request() {
        let mut f = fetch(&[A], 0, Some(10));
        assert_eq!(f.start(), req(A, 0));
        assert_eq!(
            f.on_response(ok(10)),
            Accept::Body {
                offset: 0,
                total: Some(10)
            }
        );
        f.on_data(4);
        f.on_data(6);
        assert_eq!(f.on_body_end(), Action::Done { bytes: 10 });
    }

    #[test]
    fn a_cut_connection_resumes_on_the_same_mirror_from_where_it_broke() {
        let mut f = fetch(&[A, B], 0, None);
        assert_eq!(f.start(), req(A, 0));
        f.on_response(ok(100));
        f.on_data(40);
        assert_eq!(f.on_failure(cut()), req(A, 40));
        assert_eq!(
            f.on_response(partial(40, 100)),
            Accept::Body {
                offset: 40,
                total: Some(100)
            }
        );
        f.on_data(60);
        assert_eq!(f.on_body_end(), Action::Done { bytes: 100 });
    }

    #[test]
    fn a_short_body_counts_as_a_cut() {
        let mut f = fetch(&[A], 0, Some(100));
        f.start();
        f.on_response(ok(100));
        f.on_data(70);
        assert_eq!(f.on_body_end(), req(A, 70));
    }

    #[test]
    fn an_existing_partial_file_is_resumed_and_a_server_ignoring_range_restarts_it() {
        let mut f = fetch(&[A], 30, Some(100));
        assert_eq!(f.start(), req(A, 30));
        assert_eq!(
            f.on_response(ok(100)),
            Accept::Body {
                offset: 0,
                total: Some(100)
            }
        );
        f.on_data(100);
        assert_eq!(f.on_body_end(), Action::Done { bytes: 100 });
    }

    #[test]
    fn a_complete_partial_file_needs_no_request() {
        let mut f = fetch(&[A], 100, Some(100));
        assert_eq!(f.start(), Action::Done { bytes: 100 });
        // Too long to be the file: start over.
        let mut f = fetch(&[A], 120, Some(100));
        assert_eq!(f.start(), req(A, 0));
    }

    #[test]
    fn range_not_satisfiable_on_a_complete_file_is_done() {
        let mut f = fetch(&[A], 100, None);
        assert_eq!(f.start(), req(A, 100));
        let head = ResponseHead {
            status: 416,
            content_range: ContentRange::parse("bytes */100"),
            content_length: None,
        };
        assert_eq!(
            f.on_response(head),
            Accept::Next(Action::Done { bytes: 100 })
        );
    }

    #[test]
    fn not_found_and_server_errors_move_to_the_next_mirror() {
        let mut f = fetch(&[A, B], 0, None);
        f.start();
        assert_eq!(f.on_response(status(404)), Accept::Next(req(B, 0)));
        let mut f = fetch(&[A, B], 0, None);
        f.start();
        assert_eq!(f.on_response(status(503)), Accept::Next(req(B, 0)));
        let mut f = fetch(&[A, B], 0, None);
        f.start();
        assert_eq!(
            f.on_failure(Failure::Transport("connection refused".into())),
            req(B, 0)
        );
    }

    #[test]
    fn a_round_without_progress_backs_off_doubling_then_gives_up() {
        let mut f = fetch(&[A, B], 0, None);
        assert_eq!(f.start(), req(A, 0));
        assert_eq!(f.on_response(status(500)), Accept::Next(req(B, 0)));
        assert_eq!(
            f.on_response(status(502)),
            Accept::Next(Action::Wait(Duration::from_millis(100)))
        );
        assert_eq!(f.after_wait(), req(A, 0));
        f.on_response(status(500));
        assert_eq!(
            f.on_response(status(500)),
            Accept::Next(Action::Wait(Duration::from_millis(200)))
        );
        assert_eq!(f.after_wait(), req(A, 0));
        f.on_response(status(500));
        match f.on_response(status(500)) {
            Accept::Next(Action::Fail(reason)) => {
                assert!(reason.contains("http://a/m: HTTP 500"), "{reason}");
                assert!(reason.contains("http://b/m: HTTP 500"), "{reason}");
            }
            other => panic!("expected to give up, got {other:?}"),
        }
    }

    #[test]
    fn progress_resets_the_back_off() {
        let mut f = fetch(&[A], 0, None);
        f.start();
        assert_eq!(
            f.on_response(status(500)),
            Accept::Next(Action::Wait(Duration::from_millis(100)))
        );
        f.after_wait();
        f.on_response(ok(50));
        f.on_data(10);
        assert_eq!(f.on_failure(cut()), req(A, 10));
        assert_eq!(
            f.on_failure(cut()),
            Action::Wait(Duration::from_millis(100))
        );
    }

    #[test]
    fn dead_mirrors_are_not_retried_and_all_dead_fails_at_once() {
        let mut f = fetch(&[A, B], 0, None);
        f.start();
        assert_eq!(f.on_response(status(404)), Accept::Next(req(B, 0)));
        // B fails transiently: only B is live, so that is a whole round.
        assert_eq!(
            f.on_response(status(500)),
            Accept::Next(Action::Wait(Duration::from_millis(100)))
        );
        assert_eq!(f.after_wait(), req(B, 0));
        match f.on_response(status(410)) {
            Accept::Next(Action::Fail(reason)) => {
                assert!(reason.contains("HTTP 404") && reason.contains("HTTP 410"))
            }
            other => panic!("expected to give up, got {other:?}"),
        }
    }

    #[test]
    fn a_mirror_with_the_wrong_size_is_skipped() {
        let mut f = fetch(&[A, B], 0, Some(100));
        f.start();
        assert_eq!(f.on_response(ok(99)), Accept::Next(req(B, 0)));
        assert_eq!(
            f.on_response(ok(100)),
            Accept::Body {
                offset: 0,
                total: Some(100)
            }
        );
    }

    #[test]
    fn a_range_that_does_not_start_where_asked_is_refused() {
        let mut f = fetch(&[A, B], 50, Some(100));
        assert_eq!(f.start(), req(A, 50));
        assert_eq!(f.on_response(partial(0, 100)), Accept::Next(req(B, 50)));
    }

    #[test]
    fn more_bytes_than_announced_starts_over_elsewhere() {
        let mut f = fetch(&[A, B], 0, None);
        f.start();
        f.on_response(ok(10));
        f.on_data(12);
        assert_eq!(f.on_body_end(), req(B, 0));
    }
}
