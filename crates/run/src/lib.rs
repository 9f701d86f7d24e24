//! The studio's media run: sources captured on one clock, one session per server that
//! follows restarts, the lip-sync buffer, and the sinks written in capture order; the local
//! server manager and the cloud pods the run goes through.

pub mod cloud;
pub mod controls;
pub mod faces;
pub mod lipsync;
pub mod live_source;
pub mod manager;
pub mod outputs;
pub mod pipeline;
pub mod report;
pub mod session_transport;
pub mod sinks;
pub mod tap;
