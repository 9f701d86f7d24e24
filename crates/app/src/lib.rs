//! The studio app: the local server manager, the media path between sources, servers and
//! sinks, and the headless run that reports what happened.

pub mod controls;
pub mod doctor;
pub mod lipsync;
pub mod manager;
pub mod outputs;
pub mod pipeline;
pub mod report;
pub mod sinks;
pub mod talk;
