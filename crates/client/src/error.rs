//! The client's one error type.

use studio_proto::api::ErrorBody;
use studio_transport::TransportError;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error status.
    #[error("{url}: HTTP {status}: {message}")]
    Http {
        url: String,
        status: u16,
        /// The error body's machine-readable code (`studio_proto::api::error_code`), when
        /// the answer had one.
        code: Option<String>,
        message: String,
    },
    /// The server could not be reached, or sent something that is not the API's.
    #[error("{url}: {message}")]
    Request { url: String, message: String },
    /// The session could not be opened or connected.
    #[error(transparent)]
    Session(#[from] TransportError),
}

impl ClientError {
    /// The sentence a person needs: the server's own message for a refusal, else the whole
    /// error.
    pub fn plain(&self) -> String {
        match self {
            ClientError::Http { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    /// The error body's code, for an error answer that had one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Http { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

pub(crate) fn request_error(url: &str, error: reqwest::Error) -> ClientError {
    ClientError::Request {
        url: url.to_string(),
        message: error.to_string(),
    }
}

/// An error answer: the API's error body when it is one, else the text as it came.
pub(crate) fn http_error(url: &str, status: u16, text: &str) -> ClientError {
    let (code, message) = match serde_json::from_str::<ErrorBody>(text) {
        Ok(body) => (Some(body.error.code), body.error.message),
        Err(_) => (None, text.to_string()),
    };
    ClientError::Http {
        url: url.to_string(),
        status,
        code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_body_gives_its_code_and_message_and_other_text_stays_whole() {
        let error = http_error(
            "http://s/v1/faces",
            422,
            r#"{"error": {"code": "no_face", "message": "no face was found"}}"#,
        );
        assert_eq!(error.code(), Some("no_face"));
        assert_eq!(error.plain(), "no face was found");
        let proxy = http_error("http://s/v1/faces", 502, "Bad Gateway");
        assert_eq!(proxy.code(), None);
        assert_eq!(proxy.plain(), "Bad Gateway");
        assert!(proxy.to_string().contains("HTTP 502"));
    }
}
