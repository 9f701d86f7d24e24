//! The studio's one client of the server API (`/v1/...`): health, status and its event
//! stream, sessions (raw and WebRTC signalling), faces and voices. Every body is a
//! `studio-proto` type, read once here, so the app never picks fields out of JSON by hand.
//! The sessions themselves are `studio-transport`'s.

pub mod error;
pub mod events;
pub mod faces;
pub mod server;
pub mod sse;

pub use error::ClientError;
pub use events::StatusEvents;
pub use faces::FaceImage;
pub use server::ServerClient;
