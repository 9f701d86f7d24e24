//! The status stream of `GET /v1/events`, as typed statuses.

use crate::error::{ClientError, request_error};
use crate::sse::{SseEvent, SseParser};
use std::collections::VecDeque;
use studio_proto::api::ServerStatus;

/// The status stream of `GET /v1/events`.
pub struct StatusEvents {
    url: String,
    response: reqwest::Response,
    parser: SseParser,
    ready: VecDeque<SseEvent>,
}

impl StatusEvents {
    pub(crate) fn new(url: String, response: reqwest::Response) -> StatusEvents {
        StatusEvents {
            url,
            response,
            parser: SseParser::new(),
            ready: VecDeque::new(),
        }
    }

    /// The next status, or `None` when the stream ended.
    pub async fn next(&mut self) -> Option<Result<ServerStatus, ClientError>> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                if event.name != "status" {
                    continue;
                }
                return Some(
                    serde_json::from_str(&event.data).map_err(|e| ClientError::Request {
                        url: self.url.clone(),
                        message: format!("unreadable status event: {e}"),
                    }),
                );
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => self.ready.extend(self.parser.push(&bytes)),
                Ok(None) => return None,
                Err(e) => return Some(Err(request_error(&self.url, e))),
            }
        }
    }
}
