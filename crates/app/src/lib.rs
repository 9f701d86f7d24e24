//! The studio app: the local server manager, the media path between sources, servers and
//! sinks, the headless run that reports what happened, and the window over one state store.

pub mod cloud;
pub mod controls;
pub mod desktop;
pub mod doctor;
pub mod faces;
pub mod lipsync;
pub mod live_source;
pub mod manager;
pub mod pipeline;
#[cfg(target_os = "linux")]
pub mod report;
pub mod secrets;
pub mod service;
pub mod session_transport;
pub mod sinks;
pub mod state;
pub mod talk;
pub mod tap;
pub mod window;
