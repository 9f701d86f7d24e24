//! Sessions between the studio and its servers, both ends: WebRTC (str0m, H.264, Opus, UDP
//! and ICE-TCP) and the same-host raw transport. Nothing here knows about models or engines;
//! a server feeds what arrives into its engine and hands back what comes out. The HTTP that
//! opens sessions is `studio-client`'s.

pub mod error;
pub mod mailbox;
pub mod raw;
pub mod webrtc;
pub mod wire;

pub use error::TransportError;
pub use mailbox::{Mailbox, Work};
pub use raw::{RawListener, ServerConnection, SessionEvent, SessionHandle, SessionSender};
