//! The typed state API handlers use: `ctx.state().get/set/delete/update`, plus
//! `ctx.open_session()` / `ctx.end_session()` for explicit handles.
//!
//! ```no_run
//! # async fn f(ctx: ferromcp_core::Context) -> ferromcp_core::Result<()> {
//! let n: i64 = ctx.state().update("visits", |old: Option<i64>| old.unwrap_or(0) + 1).await?;
//! ctx.state().set("last_visit", &n).await?;
//! let last: Option<i64> = ctx.state().get("last_visit").await?;
//! # Ok(()) }
//! ```
//!
//! Limits (server configuration, checked here so they hold for every store): a value
//! larger than [`max_state_value_bytes`](crate::ServerConfig::max_state_value_bytes)
//! of serialized JSON is refused, and so is a write that would add a key to a scope
//! holding [`max_state_keys_per_scope`](crate::ServerConfig::max_state_keys_per_scope)
//! keys already. Writes go through the store's `*_in_scope` methods
//! ([`StateStore::put_in_scope`]): the memory and Redis stores check the key count
//! atomically with the write, in the same round trip; a custom store that only
//! implements [`StateStore::count_prefix`] gets a best-effort check (concurrent writes of
//! new keys may pass the limit by their number), one that does neither no check. Both
//! limits fail with [`Error::StateLimit`], a `-32602` error whose message names the
//! limit. `get` does no extra work.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::state::{HandleRecord, ScopeLimit, SessionHandle, SessionScope, StateStore, StoreError};

/// Typed access to the current scope's state. Get one with [`Context::state`].
#[derive(Debug, Clone)]
pub struct State<'a> {
    ctx: &'a Context,
    ttl: Option<Duration>,
    scope: Option<SessionScope>,
}

impl<'a> State<'a> {
    pub(crate) fn new(ctx: &'a Context) -> Self {
        State { ctx, ttl: None, scope: None }
    }

    /// Uses `ttl` for the writes of this handle instead of the server's default.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    fn store(&self) -> &dyn StateStore {
        &**self.ctx.server().state_store()
    }

    fn effective_ttl(&self) -> Option<Duration> {
        Some(self.ttl.unwrap_or(self.ctx.server().config().state_ttl))
    }

    fn full_key(&self, key: &str) -> Result<String> {
        let scope = self.scope.as_ref().unwrap_or_else(|| self.ctx.scope());
        self.ctx.server().keys().scope_key(scope, key).ok_or_else(|| Error::NoScope(no_scope_help(self.ctx)))
    }

    /// Reads `key`; `None` if absent or expired.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let k = self.full_key(key)?;
        match self.store().get(&k).await? {
            None => Ok(None),
            Some(e) => serde_json::from_value(e.value).map(Some).map_err(|e| Error::State {
                key: key.to_owned(),
                reason: format!("stored value has another type: {e}"),
            }),
        }
    }

    /// Writes `key`. Fails with [`Error::StateLimit`] if the value or the scope's key
    /// count is over its limit (see the module docs).
    pub async fn set<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<()> {
        let k = self.full_key(key)?;
        let v = encode(key, value)?;
        self.check_size(key, &v)?;
        let prefix = self.full_key("")?;
        let scope = self.scope_limit(&prefix);
        self.store().put_in_scope(&k, v, self.effective_ttl(), scope).await.map_err(|e| self.store_error(key, e))
    }

    /// Refuses a value over `max_state_value_bytes` (serialization stops at the limit).
    fn check_size(&self, key: &str, v: &Value) -> Result<()> {
        let max = self.ctx.server().config().max_state_value_bytes;
        let mut w = SizeLimit { written: 0, max };
        if serde_json::to_writer(&mut w, v).is_err() && w.written > max {
            return Err(Error::StateLimit(format!(
                "state key `{key}`: the value is more than {max} bytes of JSON, over the limit on state values \
                 (`max_state_value_bytes`); store less, or split it over several keys"
            )));
        }
        Ok(())
    }

    /// The keys-per-scope limit of the scope whose full key prefix is `prefix`.
    fn scope_limit<'p>(&self, prefix: &'p str) -> ScopeLimit<'p> {
        ScopeLimit { prefix, max_keys: self.ctx.server().config().max_state_keys_per_scope }
    }

    /// Maps a store error of a write of `key`: a full scope becomes the limit error.
    fn store_error(&self, key: &str, e: StoreError) -> Error {
        match e {
            StoreError::ScopeFull { max_keys, .. } => Error::StateLimit(format!(
                "state key `{key}`: this scope already holds {max_keys} keys, the limit (`max_state_keys_per_scope`); \
                 delete keys you no longer need, or clear the scope"
            )),
            e => Error::Store(e),
        }
    }

    /// Deletes `key`; true if it existed.
    pub async fn delete(&self, key: &str) -> Result<bool> {
        let k = self.full_key(key)?;
        let prefix = self.full_key("")?;
        Ok(self.store().delete_in_scope(&k, &prefix).await?)
    }

    /// Atomically replaces `key` with `f(old)` and returns the new value. Concurrent
    /// updates of the same key never lose a write (compare-and-swap with retries), on
    /// every store.
    pub async fn update<T, F>(&self, key: &str, mut f: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(Option<T>) -> T,
    {
        let k = self.full_key(key)?;
        let prefix = self.full_key("")?;
        let scope = self.scope_limit(&prefix);
        let store = self.store();
        let mut retry = crate::state::CasRetry::default();
        loop {
            let current = store.get(&k).await?;
            let old: Option<T> = match &current {
                None => None,
                Some(e) => Some(serde_json::from_value(e.value.clone()).map_err(|e| Error::State {
                    key: key.to_owned(),
                    reason: format!("stored value has another type: {e}"),
                })?),
            };
            let new = f(old);
            let encoded = encode(key, &new)?;
            self.check_size(key, &encoded)?;
            let version = current.as_ref().map(|e| &e.version);
            if store
                .compare_and_swap_in_scope(&k, version, Some(encoded), self.effective_ttl(), scope)
                .await
                .map_err(|e| self.store_error(key, e))?
            {
                return Ok(new);
            }
            retry.conflict(key).await?;
        }
    }

    /// Deletes every key of the current scope; returns how many.
    pub async fn clear(&self) -> Result<u64> {
        let prefix = self.full_key("")?;
        Ok(self.store().delete_prefix(&prefix).await?)
    }
}

/// A writer that only counts, and fails once more than `max` bytes were written.
struct SizeLimit {
    written: usize,
    max: usize,
}

impl std::io::Write for SizeLimit {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.written = self.written.saturating_add(buf.len());
        if self.written > self.max {
            return Err(std::io::Error::other("over the size limit"));
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn encode<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<Value> {
    serde_json::to_value(value)
        .map_err(|e| Error::State { key: key.to_owned(), reason: format!("value cannot be serialized: {e}") })
}

fn no_scope_help(ctx: &Context) -> String {
    format!(
        "this {} request has no session scope, so it has no state: authenticate (Authorization: Bearer …) \
         so state is kept per principal, or call the server's session-opening tool (e.g. `open_session`) and pass \
         the handle it returns as the `session` argument",
        ctx.era().version()
    )
}

fn principal_hash(ctx: &Context) -> String {
    ctx.principal().map(|p| p.hashed().to_owned()).unwrap_or_default()
}

impl Context {
    /// Typed access to this request's session state (see [`State`]).
    pub fn state(&self) -> State<'_> {
        State::new(self)
    }

    /// The state of another session handle of the same principal (e.g. to seed a handle
    /// just minted with [`Context::open_session`]). Foreign or unknown handles get the
    /// generic "invalid session" error.
    pub async fn state_for(&self, handle: &SessionHandle) -> Result<State<'_>> {
        let scope = resolve_handle(self.server(), self.principal().map(|p| p.hashed()), handle.as_str()).await?;
        Ok(State { ctx: self, ttl: None, scope: Some(scope) })
    }

    /// Mints a new session handle bound to the caller's principal (or to no one, for an
    /// unauthenticated caller). Pass it back as the `session` argument.
    pub async fn open_session(&self) -> Result<SessionHandle> {
        let id = crate::session::new_session_id();
        let rec = serde_json::to_value(HandleRecord { p: principal_hash(self) })?;
        let ttl = self.server().config().state_ttl;
        self.server().state_store().put(&self.server().keys().handle_record(&id), rec, Some(ttl)).await?;
        Ok(SessionHandle(id.to_string()))
    }

    /// Ends a session handle and deletes its state. Unknown or foreign handles get the
    /// same generic "invalid session" error.
    pub async fn end_session(&self, handle: &SessionHandle) -> Result<()> {
        let scope = resolve_handle(self.server(), self.principal().map(|p| p.hashed()), handle.as_str()).await?;
        self.server().clear_scope(&scope).await?;
        self.server().state_store().delete(&self.server().keys().handle_record(handle.as_str())).await?;
        Ok(())
    }
}

/// Validates a handle for `principal` and refreshes its TTL; the scope on success.
pub(crate) async fn resolve_handle(
    server: &crate::Server,
    principal: Option<&str>,
    handle: &str,
) -> Result<SessionScope> {
    let key = server.keys().handle_record(handle);
    let store = server.state_store();
    let Some(entry) = store.get(&key).await? else { return Err(Error::InvalidSession) };
    let rec: HandleRecord = serde_json::from_value(entry.value).map_err(|_| Error::InvalidSession)?;
    if rec.p != principal.unwrap_or_default() {
        return Err(Error::InvalidSession);
    }
    // Sliding expiry: a handle lives as long as it is used.
    let ttl = server.config().state_ttl;
    let _ = store.compare_and_swap(&key, Some(&entry.version), Some(serde_json::to_value(&rec)?), Some(ttl)).await;
    Ok(SessionScope::Handle(handle.into()))
}
