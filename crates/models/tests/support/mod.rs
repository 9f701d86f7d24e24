//! Test helpers shared by this crate's tests (and the server's, by path).

pub mod file_server;
