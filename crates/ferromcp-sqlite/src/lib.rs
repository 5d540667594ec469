//! ferromcp-sqlite: an [`EventStore`](ferromcp_core::events::EventStore) in SQLite, so
//! resumable Streamable HTTP streams and legacy session records survive a restart of
//! the server.
//!
//! ```no_run
//! use std::time::Duration;
//! use ferromcp_core::events::Retention;
//! use ferromcp_sqlite::SqliteEventStore;
//!
//! # fn main() -> Result<(), ferromcp_core::state::StoreError> {
//! let store = SqliteEventStore::open("/var/lib/notes/events.db")?
//!     .with_retention(Retention { max_age: Duration::from_secs(30 * 60), ..Retention::default() });
//! // Hand it to the HTTP transport: `HttpConfig::default().event_store(store)`.
//! # let _ = store;
//! # Ok(())
//! # }
//! ```
//!
//! # How data is kept
//!
//! ```text
//! events(stream TEXT, seq INTEGER, session TEXT, ts INTEGER, data BLOB, PRIMARY KEY(stream, seq))
//! streams(stream TEXT PRIMARY KEY, session TEXT, last_seq INTEGER, touched INTEGER)
//! sessions(id TEXT PRIMARY KEY, record TEXT, ts INTEGER)
//! ```
//!
//! `events` holds the payloads (indexed by session and by time); `ts` is wall-clock
//! milliseconds, so ages stay meaningful across restarts. `streams` holds each stream's
//! owner, its last sequence number and an append counter for least-recently-appended
//! eviction: a stream whose events all expired keeps numbering from where it was, so an
//! id a client holds is never handed out twice. `sessions` holds
//! [`SessionRecord`](ferromcp_core::events::SessionRecord)s as JSON, at most
//! `max_streams` of them (the oldest saved goes first).
//!
//! Sequence numbers are allocated inside an `IMMEDIATE` transaction, so several
//! processes may share one file. A replay returns events only if every event after the
//! client's id is still stored; otherwise it returns `None` (a clear miss rather than a
//! silent gap). Unreadable rows are reported as
//! [`StoreError::Corrupt`](ferromcp_core::state::StoreError::Corrupt), other database
//! failures as [`StoreError::Unavailable`](ferromcp_core::state::StoreError::Unavailable);
//! nothing in the file can make the store panic.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod ops;
mod store;

pub use store::SqliteEventStore;
