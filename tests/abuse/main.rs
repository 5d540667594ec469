//! The abuse suite (issue 8): each cheap attack against a real `everything` server
//! process, with the bound the server must keep.
//!
//! Every test starts its own server (`target/debug/examples/everything`, built by
//! `cargo test` / `cargo build --example everything`) on a free 127.0.0.1 port and kills
//! it at the end; tests run one at a time (RSS and latency are measured) and every loop
//! and wait is bounded. For each attack a test asserts (a) the server's RSS growth
//! under a stated limit, (b) a well-behaved client answered within
//! [`support::WELL_BEHAVED`] during the attack, (c) the specific error the attacker gets,
//! and (d) that the server serves normally afterwards. Figures are printed (`--nocapture`).
//!
//! Two sizes: short by default (CI, each test ≤ ~20 s), and the numbers with
//! `FERRO_ABUSE=full cargo test --test abuse -- --nocapture`.
//!
//! # Layout
//! - `support`: size switch, lock, server process, RSS, HTTP client, MCP bodies, SSE reader.
//! - `probe`: the well-behaved client, once or in the background during an attack.
//! - `sealing`: a `requestState` replayed by another principal; key rotation.
//! - `events`: oversized echoed fields and the event store's byte bound.
//! - `connections`: slowloris, a never-ending chunked body, idle sockets past the cap.
//! - `legacy_sse`: HTTP+SSE replies piling up behind an unread stream.
//! - `asks`: legacy asks parked by clients that hang up.
//! - `registry`: a session flood from one client address.
//! - `stdio`: a call in flight when stdin closes.
//! - `small`: media-type case, `Origin: null`, an oversized `requestState`.

mod asks;
mod connections;
mod events;
mod legacy_sse;
mod probe;
mod registry;
mod sealing;
mod small;
mod stdio;
mod support;
