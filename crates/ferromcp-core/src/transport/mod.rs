//! Transports that live in the core: newline-delimited JSON over any byte stream
//! (stdio, and the in-memory duplex pipe used by tests). Streamable HTTP lives in
//! `ferromcp-http`.

pub mod stdio;

pub use stdio::{LineConfig, serve_io, serve_stdio};
