//! The SQL behind the store: blocking functions on one connection, each one atomic.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferromcp_core::events::Retention;
use ferromcp_core::state::StoreError;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// The schema version this build writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events(
    stream TEXT NOT NULL, seq INTEGER NOT NULL, session TEXT NOT NULL, ts INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY(stream, seq));
CREATE INDEX IF NOT EXISTS events_session ON events(session);
CREATE INDEX IF NOT EXISTS events_ts ON events(ts);
CREATE TABLE IF NOT EXISTS streams(
    stream TEXT PRIMARY KEY, session TEXT NOT NULL, last_seq INTEGER NOT NULL, touched INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS streams_session ON streams(session);
CREATE INDEX IF NOT EXISTS streams_touched ON streams(touched);
CREATE TABLE IF NOT EXISTS sessions(id TEXT PRIMARY KEY, record TEXT NOT NULL, ts INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS sessions_ts ON sessions(ts);
";

/// Maps rusqlite errors: unreadable values are [`StoreError::Corrupt`], the rest
/// [`StoreError::Unavailable`].
pub(crate) trait Db<T> {
    /// The result, with errors mapped.
    fn db(self) -> Result<T, StoreError>;
}

impl<T> Db<T> for rusqlite::Result<T> {
    fn db(self) -> Result<T, StoreError> {
        use rusqlite::Error as E;
        self.map_err(|e| match e {
            E::InvalidColumnType(_, column, ty) => corrupt(&column, format!("unexpected {ty} value")),
            E::FromSqlConversionFailure(i, ty, err) => corrupt(&format!("column {i}"), format!("{ty} value: {err}")),
            E::IntegralValueOutOfRange(i, v) => corrupt(&format!("column {i}"), format!("{v} is out of range")),
            e => StoreError::Unavailable(format!("sqlite: {e}")),
        })
    }
}

pub(crate) fn corrupt(key: &str, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt { key: key.to_owned(), reason: reason.into() }
}

/// Milliseconds since the Unix epoch (wall clock: timestamps outlive the process).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Events appended at or before this instant have expired.
fn cutoff(now: i64, max_age: Duration) -> i64 {
    now.saturating_sub(i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX))
}

/// A stored event: its seq and payload.
pub(crate) type Row = (u64, Vec<u8>);

/// Runs one cached statement.
fn exec(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<usize, StoreError> {
    conn.prepare_cached(sql).db()?.execute(params).db()
}

/// `SELECT COUNT(*)` of a table.
fn count(conn: &Connection, sql: &str) -> Result<i64, StoreError> {
    conn.prepare_cached(sql).db()?.query_row([], |row| row.get(0)).db()
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Sets up the connection (WAL, `synchronous=NORMAL`) and the schema.
pub(crate) fn init(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(Duration::from_secs(5)).db()?;
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0)).db()?;
    conn.pragma_update(None, "synchronous", "NORMAL").db()?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0)).db()?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Unavailable(format!(
            "sqlite: schema version {version} is newer than this build's ({SCHEMA_VERSION})"
        )));
    }
    conn.execute_batch(SCHEMA).db()?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION).db()
}

/// The session owning `stream` and the stream's last sequence number, if it exists.
fn stream_owner(conn: &Connection, stream: &str) -> Result<Option<(String, i64)>, StoreError> {
    conn.prepare_cached("SELECT session, last_seq FROM streams WHERE stream = ?1")
        .db()?
        .query_row([stream], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()
        .db()
}

/// One event waiting to be appended: its stream, session and payload.
pub(crate) struct NewEvent {
    pub(crate) stream: std::sync::Arc<str>,
    pub(crate) session: std::sync::Arc<str>,
    pub(crate) data: bytes::Bytes,
}

/// Appends `events` in order in one IMMEDIATE transaction (group commit: one commit
/// for the batch, so several processes may still share the file). Each event has a
/// savepoint of its own: one that fails (a stream of another session) is rolled back
/// alone and gets its error; the others get their seqs. An `Err` means nothing of the
/// batch was written.
pub(crate) fn append_batch(
    conn: &mut Connection,
    r: &Retention,
    events: &[NewEvent],
) -> Result<Vec<Result<u64, StoreError>>, StoreError> {
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).db()?;
    let now = now_ms();
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let sp = tx.savepoint().db()?;
        let seq = append_one(&sp, r, &e.stream, &e.session, &e.data, now);
        if seq.is_ok() {
            sp.commit().db()?;
        } // else: dropping the savepoint rolls this event back.
        out.push(seq);
    }
    tx.commit().db()?;
    Ok(out)
}

/// Appends one event inside the caller's transaction; returns its seq.
fn append_one(
    conn: &Connection,
    r: &Retention,
    stream: &str,
    session: &str,
    data: &[u8],
    now: i64,
) -> Result<u64, StoreError> {
    let found = stream_owner(conn, stream)?;
    let seq = match found {
        Some((owner, _)) if owner != session => return Err(corrupt(stream, "the stream belongs to another session")),
        Some((_, last)) if last < 0 => return Err(corrupt(stream, format!("last seq {last} is negative"))),
        Some((_, last)) => last.checked_add(1).ok_or_else(|| corrupt(stream, "seq overflow"))?,
        None => {
            let excess = count(conn, "SELECT COUNT(*) FROM streams")?
                .saturating_add(1)
                .saturating_sub(limit(r.max_streams.max(1)));
            if excess > 0 {
                // The least recently appended streams go first; their events with them.
                const OLDEST: &str = "SELECT stream FROM streams ORDER BY touched LIMIT ?1";
                exec(conn, &format!("DELETE FROM events WHERE stream IN ({OLDEST})"), [excess])?;
                exec(conn, &format!("DELETE FROM streams WHERE stream IN ({OLDEST})"), [excess])?;
            }
            1
        }
    };
    exec(
        conn,
        "INSERT INTO streams(stream, session, last_seq, touched)
         VALUES (?1, ?2, ?3, (SELECT COALESCE(MAX(touched), 0) + 1 FROM streams))
         ON CONFLICT(stream) DO UPDATE SET last_seq = excluded.last_seq, touched = excluded.touched",
        params![stream, session, seq],
    )?;
    exec(
        conn,
        "INSERT INTO events(stream, seq, session, ts, data) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![stream, seq, session, now, data],
    )?;
    let floor = seq.saturating_sub(limit(r.max_events_per_stream));
    if floor > 0 {
        exec(conn, "DELETE FROM events WHERE stream = ?1 AND seq <= ?2", params![stream, floor])?;
    }
    u64::try_from(seq).map_err(|_| corrupt(stream, "negative seq"))
}

/// The events of `stream` after `after`, if the stream belongs to `session` and every
/// one of them is still there; `None` otherwise.
pub(crate) fn replay(
    conn: &mut Connection,
    r: &Retention,
    session: &str,
    stream: &str,
    after: u64,
) -> Result<Option<Vec<Row>>, StoreError> {
    let Ok(after) = i64::try_from(after) else { return Ok(None) };
    // A read transaction: one snapshot for the three reads.
    let tx = conn.transaction().db()?;
    let found = stream_owner(&tx, stream)?;
    let Some((owner, last)) = found else { return Ok(None) };
    if owner != session || after > last {
        return Ok(None);
    }
    // Expired events count as gone even before the purge task deletes them.
    let expired: Option<i64> = tx
        .prepare_cached("SELECT MAX(seq) FROM events WHERE stream = ?1 AND ts <= ?2")
        .db()?
        .query_row(params![stream, cutoff(now_ms(), r.max_age)], |row| row.get(0))
        .db()?;
    if expired.is_some_and(|e| e > after) {
        return Ok(None);
    }
    let mut stmt =
        tx.prepare_cached("SELECT seq, data FROM events WHERE stream = ?1 AND seq > ?2 ORDER BY seq").db()?;
    let mut rows = stmt.query(params![stream, after]).db()?;
    let mut out = Vec::new();
    let mut next = after + 1;
    while let Some(row) = rows.next().db()? {
        let seq: i64 = row.get(0).db()?;
        if seq != next {
            // A hole: the client missed events that are gone. Better a clear miss.
            return Ok(None);
        }
        let data: Vec<u8> = row.get(1).db()?;
        out.push((u64::try_from(seq).map_err(|_| corrupt(stream, "negative seq"))?, data));
        next += 1;
    }
    Ok((next - 1 == last).then_some(out))
}

/// Deletes `session`'s events, streams and record.
pub(crate) fn remove_session(conn: &mut Connection, session: &str) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).db()?;
    for sql in [
        "DELETE FROM events WHERE session = ?1",
        "DELETE FROM streams WHERE session = ?1",
        "DELETE FROM sessions WHERE id = ?1",
    ] {
        exec(&tx, sql, [session])?;
    }
    tx.commit().db()
}

/// Saves a record (JSON); at most `max_streams` records are kept, oldest saved first out.
pub(crate) fn save_session(conn: &mut Connection, r: &Retention, id: &str, record: &str) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).db()?;
    exec(
        &tx,
        "INSERT INTO sessions(id, record, ts) VALUES (?1, ?2, ?3)
         ON CONFLICT(id) DO UPDATE SET record = excluded.record, ts = excluded.ts",
        params![id, record, now_ms()],
    )?;
    let excess = count(&tx, "SELECT COUNT(*) FROM sessions")?.saturating_sub(limit(r.max_streams.max(1)));
    if excess > 0 {
        exec(&tx, "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions ORDER BY ts, rowid LIMIT ?1)", [excess])?;
    }
    tx.commit().db()
}

/// Loads a record's JSON.
pub(crate) fn load_session(conn: &mut Connection, id: &str) -> Result<Option<String>, StoreError> {
    conn.prepare_cached("SELECT record FROM sessions WHERE id = ?1")
        .db()?
        .query_row([id], |row| row.get(0))
        .optional()
        .db()
}

/// Deletes up to `batch` expired events; returns how many.
pub(crate) fn purge(conn: &mut Connection, r: &Retention, batch: usize) -> Result<usize, StoreError> {
    let sql = "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE ts <= ?1 LIMIT ?2)";
    exec(conn, sql, params![cutoff(now_ms(), r.max_age), limit(batch)])
}

/// How many events are stored (expired ones not yet purged are counted).
pub(crate) fn event_count(conn: &mut Connection) -> Result<u64, StoreError> {
    Ok(u64::try_from(count(conn, "SELECT COUNT(*) FROM events")?).unwrap_or(0))
}
