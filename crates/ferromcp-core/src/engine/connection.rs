//! [`Server::connection`]: the engine side of a stream transport (stdio, in-memory,
//! HTTP+SSE). One connection is one [`Session`] in the session table, created and
//! registered here, whose messages all go to one outbound stream. The transport reads
//! and frames bytes, hands each decoded message to [`Connection::receive`], writes what
//! the connection's [`Frames`] yield, and calls [`Connection::end`] when its input is
//! gone; the engine resolves each request's era, routes answers to server→client asks,
//! feeds the connection its notifications and ends its scope.

use std::net::IpAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::context::TransportKind;
use crate::dispatch::{Reply, RequestEnv};
use crate::engine::SessionNotifications;
use crate::era::{self, Era};
use crate::error::{ProtocolError, code};
use crate::jsonrpc::{Message, Request};
use crate::outbound::{Frames, Outbound};
use crate::protocol::{LEGACY_VERSIONS, V_2025_11_25};
use crate::server::Server;
use crate::session::{Session, SessionRefused};
use crate::state::Principal;

/// Which eras a stream transport serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EraRule {
    /// Decided per message (spec digest §7): `initialize` puts the connection in legacy
    /// mode; a request whose `_meta` names a protocol version is modern (stdio,
    /// in-memory).
    PerMessage,
    /// Legacy only: a request naming a 2026-07-28 version is refused with `-32022`
    /// (the HTTP+SSE transport).
    LegacyOnly,
}

/// What a stream transport tells the engine about a new connection.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionOptions {
    /// The transport kind reported to handlers.
    pub kind: TransportKind,
    /// Which eras the transport serves.
    pub eras: EraRule,
    /// The authenticated caller, if the transport verified one.
    pub principal: Option<Arc<Principal>>,
    /// The client's address, counted against its per-client session cap.
    pub addr: Option<IpAddr>,
}

impl ConnectionOptions {
    /// A connection of `kind` serving `eras`, anonymous and without an address.
    pub fn new(kind: TransportKind, eras: EraRule) -> Self {
        ConnectionOptions { kind, eras, principal: None, addr: None }
    }
    /// Binds the connection to an authenticated caller.
    pub fn principal(mut self, p: Option<Arc<Principal>>) -> Self {
        self.principal = p;
        self
    }
    /// The client's address.
    pub fn addr(mut self, addr: Option<IpAddr>) -> Self {
        self.addr = addr;
        self
    }
}

/// One open connection (see the module docs).
#[derive(Debug)]
pub struct Connection {
    server: Server,
    session: Arc<Session>,
    out: Outbound,
    cancel: CancellationToken,
    opts: ConnectionOptions,
}

/// A request running on a connection, resolving to its reply.
pub type RequestFuture = std::pin::Pin<Box<dyn Future<Output = Reply> + Send + 'static>>;

/// What became of one message handed to [`Connection::receive`].
pub enum Incoming {
    /// Fully handled (a notification, or an answer to an ask): nothing to send.
    Handled,
    /// A request refused before dispatch: send this reply.
    Refused(Reply),
    /// A request to run: await the future (concurrently with further messages, except
    /// for `initialize`, which is answered before the next message is read) and send
    /// its reply.
    Request {
        /// Whether it is `initialize`.
        initialize: bool,
        /// The running request.
        reply: RequestFuture,
    },
}

impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Incoming::Handled => f.write_str("Handled"),
            Incoming::Refused(r) => f.debug_tuple("Refused").field(r).finish(),
            Incoming::Request { initialize, .. } => f.debug_struct("Request").field("initialize", initialize).finish(),
        }
    }
}

impl Server {
    /// Opens a connection: creates its session (id fixed before `initialize`), attaches
    /// the connection's one outbound stream, and registers it in the session table (so
    /// lifecycle hooks fire and metrics count it). The transport drains the returned
    /// [`Frames`]. Refused when the client is at its per-client session cap with no
    /// idle session to shed.
    pub fn connection(&self, opts: ConnectionOptions) -> Result<(Connection, Frames), SessionRefused> {
        let principal = opts.principal.as_ref().map(|p| Arc::from(p.hashed()));
        let session = Session::connection(principal, opts.addr);
        let (out, frames) = Outbound::channel();
        session.set_stream(Some(out.clone()));
        // Its open stream keeps the idle reaper away.
        let session = self.sessions().try_insert(session)?;
        let conn = Connection { server: self.clone(), session, out, cancel: CancellationToken::new(), opts };
        Ok((conn, frames))
    }
}

impl Connection {
    /// The connection's session.
    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }
    /// The connection's outbound stream (answers, notifications, asks).
    pub fn outbound(&self) -> &Outbound {
        &self.out
    }
    /// Cancelled when the connection ends; the parent of every request's token.
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.cancel
    }
    /// The notifications the connection receives (list changes, subscribed updates).
    pub fn notifications(&self) -> SessionNotifications {
        self.server.session_notifications(&self.session)
    }

    /// Handles one decoded message from the client.
    pub fn receive(&self, msg: Message) -> Incoming {
        self.receive_from(msg, self.opts.principal.clone())
    }

    /// Handles one decoded message sent by `principal`, for transports that
    /// authenticate every message (HTTP+SSE verifies each POST's token; the principal's
    /// subject is the connection's, its scopes may differ).
    pub fn receive_from(&self, msg: Message, principal: Option<Arc<Principal>>) -> Incoming {
        match msg {
            Message::Notification(n) => {
                crate::dispatch::handle_notification(&self.server, n, Some(&self.session));
                Incoming::Handled
            }
            Message::Response(r) => {
                crate::dispatch::handle_response(&self.server, r, Some(&self.session));
                Incoming::Handled
            }
            Message::Request(req) => {
                let era = match self.resolve_era(&req) {
                    Ok(e) => e,
                    Err(e) => return Incoming::Refused(Reply::error(Some(&req.id), &e)),
                };
                let initialize = req.method == "initialize";
                let env = RequestEnv {
                    era,
                    transport: self.opts.kind,
                    session: Some(self.session.clone()),
                    outbound: self.out.clone(),
                    cancel: self.cancel.child_token(),
                    principal,
                };
                Incoming::Request {
                    initialize,
                    reply: Box::pin(crate::dispatch::handle_request(&self.server, req, env)),
                }
            }
        }
    }

    /// The input ended: asks waiting for the client fail at once (no answer can arrive
    /// any more). Call it again while requests finish, for asks they start meanwhile.
    pub fn input_ended(&self) {
        self.session.peer().fail_all();
    }

    /// Ends the connection: running requests are cancelled, and the session's scope
    /// ends ([`Server::end_scope`]: hooks, asks, subscriptions, state).
    pub async fn end(&self) {
        self.cancel.cancel();
        self.server.end_scope(&self.session).await;
    }

    fn resolve_era(&self, req: &Request) -> Result<Era, ProtocolError> {
        match self.opts.eras {
            EraRule::PerMessage => per_message_era(req, &self.session),
            EraRule::LegacyOnly => legacy_only_era(req, &self.session),
        }
    }
}

fn per_message_era(req: &Request, session: &Session) -> Result<Era, ProtocolError> {
    if req.meta.protocol_version.is_some() {
        let v = era::modern::validate(req, None)?;
        return Ok(Era::Modern(v));
    }
    if req.method == "initialize" {
        return Ok(Era::Legacy(V_2025_11_25));
    }
    if let Some(init) = session.init() {
        return Ok(Era::Legacy(init.version));
    }
    if req.method == "server/discover" || req.meta.present {
        era::modern::validate(req, None)?;
    }
    Err(era::legacy::not_initialized())
}

/// Always legacy (`initialize`, then the negotiated version); a 2026-07-28 request is
/// refused with the modern error.
fn legacy_only_era(req: &Request, session: &Session) -> Result<Era, ProtocolError> {
    if let Some(v) = req.meta.protocol_version.as_deref().filter(|v| !era::legacy::is_legacy_version(v)) {
        era::modern::validate(req, None)?;
        return Err(ProtocolError::new(
            code::UNSUPPORTED_PROTOCOL_VERSION,
            format!("The HTTP+SSE transport serves only {}; use Streamable HTTP for {v:?}", LEGACY_VERSIONS.join(", ")),
        )
        .with_data(serde_json::json!({ "supported": LEGACY_VERSIONS, "requested": v })));
    }
    Ok(Era::Legacy(session.init().map_or(V_2025_11_25, |i| i.version)))
}
