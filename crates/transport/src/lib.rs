//! Sessions between the studio and its servers.
