//! The studio app: the window over one state store and the driver that starts runs for it,
//! the talk key, the doctor and the RunPod key. The media run itself is `studio-run`.

pub mod choices;
pub mod console;
pub mod desktop;
pub mod doctor;
pub mod secrets;
pub mod service;
pub mod state;
pub mod talk;
pub mod window;
