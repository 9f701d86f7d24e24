//! What a mirror sends (`Content-Range`, `Content-Length`, status, body lengths) drives the
//! download state machine: any of it gives an action or a clear failure, never a panic, and
//! the waits stay within the policy.

use proptest::prelude::*;
use std::time::Duration;
use studio_models::RetryPolicy;
use studio_models::fetch::{Accept, Action, ContentRange, Failure, Fetch, ResponseHead};

fn policy() -> RetryPolicy {
    RetryPolicy {
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(30),
        max_rounds: 1000,
    }
}

/// One thing a server (or the network) can do.
#[derive(Debug, Clone)]
enum Event {
    Head(u16, Option<(Option<u64>, Option<u64>)>, Option<u64>),
    Data(u64),
    End,
    Fail,
}

fn event() -> impl Strategy<Value = Event> {
    let big = prop_oneof![any::<u64>(), 0u64..4096, Just(u64::MAX), Just(u64::MAX - 1)];
    prop_oneof![
        (
            prop_oneof![
                Just(200u16),
                Just(206),
                Just(416),
                Just(404),
                Just(500),
                any::<u16>()
            ],
            proptest::option::of((
                proptest::option::of(big.clone()),
                proptest::option::of(big.clone())
            )),
            proptest::option::of(big.clone()),
        )
            .prop_map(|(s, r, l)| Event::Head(s, r, l)),
        big.prop_map(Event::Data),
        Just(Event::End),
        Just(Event::Fail),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn content_range_parses_or_says_no(header in "\\PC{0,60}") {
        let _ = ContentRange::parse(&header);
    }

    #[test]
    fn content_range_shaped_headers_parse_or_say_no(
        start in "[0-9*]{0,25}", end in "[0-9]{0,25}", total in "[0-9*]{0,25}",
    ) {
        let parsed = ContentRange::parse(&format!("bytes {start}-{end}/{total}"));
        if let Some(range) = parsed {
            prop_assert_eq!(range.start, start.parse().ok());
        }
    }

    #[test]
    fn any_server_behaviour_gives_an_action_or_a_failure(
        partial in prop_oneof![any::<u64>(), 0u64..4096],
        expected in proptest::option::of(prop_oneof![any::<u64>(), 1u64..4096]),
        events in proptest::collection::vec(event(), 0..40),
    ) {
        let urls = vec!["https://a.example/m".to_owned(), "https://b.example/m".to_owned()];
        let mut fetch = Fetch::new(urls, partial, expected, policy());
        let mut action = fetch.start();
        for event in events {
            if let Action::Wait(wait) = action {
                prop_assert!(wait <= policy().max_backoff);
                action = fetch.after_wait();
            }
            if matches!(action, Action::Done { .. } | Action::Fail(_)) {
                break;
            }
            action = match event {
                Event::Head(status, range, content_length) => {
                    let head = ResponseHead {
                        status,
                        content_range: range.map(|(start, total)| ContentRange { start, total }),
                        content_length,
                    };
                    match fetch.on_response(head) {
                        Accept::Body { .. } => continue,
                        Accept::Next(next) => next,
                    }
                }
                Event::Data(n) => {
                    fetch.on_data(n);
                    continue;
                }
                Event::End => fetch.on_body_end(),
                Event::Fail => fetch.on_failure(Failure::Transport("reset".into())),
            };
        }
        if let Action::Fail(reason) = action {
            prop_assert!(!reason.is_empty());
        }
    }

    #[test]
    fn archive_patterns_never_panic(pattern in "[a-z/*.]{0,12}", name in "\\PC{0,24}") {
        let _ = studio_models::archive::matches(&pattern, &name);
    }
}
