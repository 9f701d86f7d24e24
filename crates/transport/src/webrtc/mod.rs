//! WebRTC sessions, both ends: str0m peers with H.264 and Opus, a data channel for live
//! settings and status, host candidates on UDP and passive ICE-TCP on one shared port.

pub mod admission;
pub mod bench;
pub mod client;
pub mod codec;
pub mod encoder_thread;
pub mod framing;
pub mod net;
pub mod peer;
pub mod server;
pub mod signal;

pub use admission::AdmissionLimits;
pub use client::{IceMode, WebRtcOptions, WebRtcSession};
pub use net::LossPlan;
pub use peer::PeerStats;
pub use server::{AcceptedSession, WebRtcServer, WebRtcServerConfig};
