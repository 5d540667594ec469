//! [`Server::exchange`]: the engine side of Streamable HTTP. For each POSTed request the
//! engine resolves the era (spec digest §3) and the legacy session: found in the table,
//! restored from a persisted record (after a restart, with a durable event store), or
//! created by `initialize` and registered once it succeeded
//! ([`Exchange::initialized`]). The transport owns headers, bodies and framing.
//!
//! With a [`SessionDirectory`](crate::session::SessionDirectory) the lookup, the
//! registration and the end go through the directory instead (`engine::directory`): the
//! event store's records are then not used to restore sessions, and a node never ends a
//! session it only cached.

use std::net::IpAddr;
use std::sync::Arc;

use crate::dispatch::Reply;
use crate::era::modern::{HeaderLookup, RoutingHeader};
use crate::era::{self, Era};
use crate::error::{ProtocolError, code};
use crate::events::{EventStore, SessionRecord};
use crate::jsonrpc::Request;
use crate::protocol::{LEGACY_VERSIONS, V_2025_11_25};
use crate::server::Server;
use crate::session::{ClientInit, Session};
use crate::state::Principal;

/// What a Streamable HTTP transport knows about one request besides its body.
#[non_exhaustive]
pub struct ExchangeRequest<'a> {
    /// The request's headers.
    pub headers: &'a (dyn HeaderLookup + Sync),
    /// The `Mcp-Session-Id` header, if any.
    pub session_id: Option<&'a str>,
    /// The authenticated caller, if any.
    pub principal: Option<&'a Arc<Principal>>,
    /// The client's address (per-client session cap).
    pub addr: Option<IpAddr>,
    /// Whether legacy `initialize` creates a session (`Mcp-Session-Id`).
    pub stateful: bool,
    /// Where session records persist (restore after a restart), if anywhere.
    pub events: Option<&'a Arc<dyn EventStore>>,
}

impl<'a> ExchangeRequest<'a> {
    /// A request with `headers`, anonymous, stateless, without a session or a store.
    pub fn new(headers: &'a (dyn HeaderLookup + Sync)) -> Self {
        ExchangeRequest { headers, session_id: None, principal: None, addr: None, stateful: false, events: None }
    }
    /// The `Mcp-Session-Id` header.
    pub fn session_id(mut self, id: Option<&'a str>) -> Self {
        self.session_id = id;
        self
    }
    /// The authenticated caller.
    pub fn principal(mut self, p: Option<&'a Arc<Principal>>) -> Self {
        self.principal = p;
        self
    }
    /// The client's address.
    pub fn addr(mut self, addr: Option<IpAddr>) -> Self {
        self.addr = addr;
        self
    }
    /// Whether `initialize` creates a session.
    pub fn stateful(mut self, yes: bool) -> Self {
        self.stateful = yes;
        self
    }
    /// The store session records persist in.
    pub fn events(mut self, events: Option<&'a Arc<dyn EventStore>>) -> Self {
        self.events = events;
        self
    }
}

/// The era and session of one Streamable HTTP request (see [`Server::exchange`]).
#[derive(Debug)]
pub struct Exchange {
    /// The request's era.
    pub era: Era,
    /// The legacy session it runs in, if any.
    pub session: Option<Arc<Session>>,
    /// A session created by this `initialize`, to announce in `Mcp-Session-Id`.
    pub new_session: bool,
    /// Whether this is a legacy `initialize` in a session: the session is registered
    /// once it succeeded (see [`Exchange::initialized`]).
    pub registers: bool,
}

impl Exchange {
    /// After a registering `initialize` (see [`Exchange::registers`]) answered `reply`:
    /// registers the session and persists its record when it succeeded. `Ok(true)` if
    /// the session is live, `Ok(false)` if `initialize` failed (drop the session id),
    /// `Err` if the table refused it.
    pub async fn initialized(
        &self,
        server: &Server,
        reply: &Reply,
        events: Option<&Arc<dyn EventStore>>,
    ) -> Result<bool, ProtocolError> {
        let Some(s) = self.session.as_ref().filter(|_| !reply.is_error) else { return Ok(false) };
        if let Some(dir) = server.session_directory() {
            server.register_in_directory(dir, s, events).await?;
            return Ok(true);
        }
        server.sessions().try_insert(s.clone())?;
        if let Some(store) = events {
            save_record(&**store, s).await;
        }
        Ok(true)
    }
}

fn session_not_found() -> ProtocolError {
    ProtocolError::new(code::SESSION_NOT_FOUND, "Session not found; send initialize to start a new session")
        .with_status(404)
}

/// A header value as text, if it is visible ASCII (as `http::HeaderValue::to_str`).
fn text(v: &[u8]) -> Option<&str> {
    v.iter().all(|b| *b == b'\t' || (0x20..0x7f).contains(b)).then(|| std::str::from_utf8(v).ok()).flatten()
}

impl Server {
    /// Resolves the era and the legacy session of one Streamable HTTP request; the
    /// error (with its HTTP status) is the answer to send otherwise.
    pub async fn exchange(&self, req: &Request, x: &ExchangeRequest<'_>) -> Result<Exchange, ProtocolError> {
        let version_header = x.headers.routing(RoutingHeader::ProtocolVersion).and_then(text);
        let modern = match x.session_id {
            Some(_) => req.meta.protocol_version.is_some(),
            None => req.meta.present || version_header.is_some_and(|v| !era::legacy::is_legacy_version(v.trim())),
        };
        let plain = |era| Exchange { era, session: None, new_session: false, registers: false };
        if modern {
            let v = era::modern::validate(req, Some(x.headers))?;
            if req.method == "tools/call" {
                let snapshot = self.registry().snapshot();
                if let Some(tool) = req.name.as_deref().and_then(|n| snapshot.tools.get(n)) {
                    era::modern::validate_tool_param_headers(req, tool.header_params(), x.headers)?;
                }
            }
            return Ok(plain(Era::Modern(v)));
        }
        let initialize = req.method == "initialize";
        if let Some(id) = x.session_id {
            let s =
                self.lookup_session(id, x.principal.map(|p| &**p), x.events).await?.ok_or_else(session_not_found)?;
            let version = match version_header {
                Some(h) => era::legacy::version_from_header(Some(h))?,
                None => s.init().map_or(V_2025_11_25, |i| i.version),
            };
            return Ok(Exchange {
                era: Era::Legacy(version),
                session: Some(s),
                new_session: false,
                registers: initialize,
            });
        }
        if initialize {
            if !x.stateful {
                return Ok(plain(Era::Legacy(V_2025_11_25)));
            }
            let s = Session::for_client(x.principal.map(|p| Arc::from(p.hashed())), x.addr);
            // A client at its session cap with no idle session to shed is refused before
            // `initialize` runs (and again, for good, when the session is registered).
            self.sessions().admits(&s)?;
            return Ok(Exchange {
                era: Era::Legacy(V_2025_11_25),
                session: Some(s),
                new_session: true,
                registers: true,
            });
        }
        if x.stateful {
            return Err(ProtocolError::invalid_request(
                "Bad Request: Mcp-Session-Id header is required (send initialize first, or use 2026-07-28 _meta)",
            ));
        }
        Ok(plain(Era::Legacy(era::legacy::version_from_header(version_header)?)))
    }

    /// The legacy session `id`, from the table or restored from its record in `events`,
    /// if `principal` may use it (sessions are bound to the principal that created them).
    /// Like [`lookup_session`](Self::lookup_session), with an unreachable session
    /// directory taken as "no such session" (logged).
    pub async fn find_session(
        &self,
        id: &str,
        principal: Option<&Principal>,
        events: Option<&Arc<dyn EventStore>>,
    ) -> Option<Arc<Session>> {
        match self.lookup_session(id, principal, events).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("session lookup failed: {}", e.message);
                None
            }
        }
    }

    /// The legacy session `id`, if `principal` may use it: from this node's table, from
    /// the session directory if the server has one (one round trip), else restored from
    /// its record in `events`. `Err` (503) only when the session directory cannot be
    /// reached: answer it as is.
    pub async fn lookup_session(
        &self,
        id: &str,
        principal: Option<&Principal>,
        events: Option<&Arc<dyn EventStore>>,
    ) -> Result<Option<Arc<Session>>, ProtocolError> {
        let hashed = principal.map(Principal::hashed);
        if let Some(dir) = self.session_directory() {
            return self.lookup_in_directory(dir, id, hashed).await;
        }
        Ok(self.restore_session(id, hashed, events).await)
    }

    async fn restore_session(
        &self,
        id: &str,
        hashed: Option<&str>,
        events: Option<&Arc<dyn EventStore>>,
    ) -> Option<Arc<Session>> {
        if let Some(s) = self.sessions().get(id) {
            return (s.principal() == hashed).then_some(s);
        }
        let record = match events?.load_session(id).await {
            Ok(Some(r)) => r,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!("could not load a session record: {e}");
                return None;
            }
        };
        if record.principal.as_deref() != hashed {
            return None;
        }
        let version = LEGACY_VERSIONS.iter().copied().find(|v| *v == record.version)?;
        let session = Session::with_id(record.id.as_str().into(), record.principal.as_deref().map(Arc::from));
        session.set_init(ClientInit {
            version,
            capabilities: Arc::new(serde_json::from_value(record.capabilities).unwrap_or_default()),
            info: record.client_info.and_then(|v| serde_json::from_value(v).ok()),
        });
        session.mark_initialized();
        // A concurrent request may have restored it first: use the registered one.
        let session = self.sessions().insert(session);
        tracing::info!(session = %id, "legacy session restored from the event store");
        Some(session)
    }

    /// Ends a legacy session everywhere: [`end_scope`](Self::end_scope), then its
    /// events and record in `events`. Returns whether it was still in the table (with a
    /// session directory: whether this call ended it; an unreachable directory is
    /// logged and ends nothing, see [`try_end_session`](Self::try_end_session)).
    pub async fn end_session(&self, session: &Arc<Session>, events: Option<&Arc<dyn EventStore>>) -> bool {
        self.try_end_session(session, events).await.unwrap_or_else(|e| {
            tracing::warn!("could not end a session: {}", e.message);
            false
        })
    }

    /// Like [`end_session`](Self::end_session), but an unreachable session directory is
    /// an error (503) to answer as is.
    pub async fn try_end_session(
        &self,
        session: &Arc<Session>,
        events: Option<&Arc<dyn EventStore>>,
    ) -> Result<bool, ProtocolError> {
        if let Some(dir) = self.session_directory() {
            return self.end_in_directory(dir, session, events).await;
        }
        let removed = self.end_scope(session).await;
        if let Some(store) = events
            && let Err(e) = store.remove_session(session.id()).await
        {
            tracing::warn!("could not remove a session's events: {e}");
        }
        Ok(removed)
    }
}

/// Saves `session`'s record (best effort: a failure only makes it unresumable).
async fn save_record(store: &dyn EventStore, session: &Session) {
    let Some(init) = session.init() else { return };
    let record = SessionRecord {
        id: session.id().to_owned(),
        principal: session.principal().map(str::to_owned),
        version: init.version.to_owned(),
        capabilities: serde_json::to_value(&*init.capabilities).unwrap_or_default(),
        client_info: init.info.as_ref().and_then(|i| serde_json::to_value(i).ok()),
    };
    if let Err(e) = store.save_session(&record).await {
        tracing::warn!("could not persist a session record: {e}");
    }
}
