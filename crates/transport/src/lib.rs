//! Sessions between the studio and its servers, both ends: HTTP signalling, WebRTC (str0m,
//! H.264, Opus, UDP and ICE-TCP) and the same-host raw transport. Nothing here knows about models or engines; a server feeds what arrives
//! into its engine and hands back what comes out.

pub mod client;
pub mod error;
pub mod mailbox;
pub mod raw;
pub mod sse;
pub mod webrtc;
pub mod wire;

pub use client::ServerClient;
pub use error::TransportError;
pub use mailbox::{Mailbox, Work};
pub use raw::{RawListener, ServerConnection, SessionEvent, SessionHandle, SessionSender};
