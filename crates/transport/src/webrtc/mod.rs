//! WebRTC sessions, both ends: str0m peers with H.264 and Opus, a data channel for live
//! settings and status, host candidates on UDP and passive ICE-TCP on one shared port.
//!
//! A session is a sans-IO [`peer::Peer`] (with its receive and send halves in `media_in` and
//! `media_out`, the RTP clock in `rtp_time` and the bitrate policy in `bitrate`) run by a
//! [`driver::PeerTask`] on tokio, which owns the sockets (`net`) and the encoder thread.

pub mod admission;
pub mod bench;
pub mod bitrate;
pub mod client;
pub mod codec;
pub mod driver;
pub mod encoder_thread;
pub mod framing;
pub mod media_in;
pub mod media_out;
pub mod net;
pub mod peer;
pub mod rtp_time;
pub mod server;
pub mod signal;

pub use admission::AdmissionLimits;
pub use client::{IceMode, WebRtcOptions, WebRtcSession};
pub use driver::PeerStats;
pub use net::LossPlan;
pub use server::{AcceptedSession, WebRtcServer, WebRtcServerConfig};
