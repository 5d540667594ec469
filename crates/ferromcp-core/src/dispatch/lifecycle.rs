//! Lifecycle and discovery: `initialize` (legacy), `logging/setLevel` (legacy) and
//! `server/discover` (modern). `ping` answers an empty result from the method table.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{R, empty, params, write};
use crate::context::Context;
use crate::era::{self, Era, ResultKind};
use crate::error::{Error, ProtocolError};
use crate::jsonrpc::{Request, parse_level};
use crate::middleware::{HookFn, MwFuture, run_chain, select};
use crate::protocol::{ClientCapabilities, Implementation};
use crate::server::Server;
use crate::session::ClientInit;

/// Runs a `Result<()>` hook chain (initialize, discover) with a no-op endpoint.
async fn unit_hook(server: &Server, ctx: &Context, hook: HookFn<(), crate::Result<()>>) -> Result<(), ProtocolError> {
    let chain = &server.inner.middleware;
    if chain.is_empty() {
        return Ok(());
    }
    let endpoint =
        |_ctx: &Context, (): ()| -> MwFuture<'static, crate::Result<()>> { Box::pin(std::future::ready(Ok(()))) };
    run_chain(chain, ctx, (), hook, &endpoint).await.map_err(Error::into_protocol)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitializeParams {
    protocol_version: String,
    #[serde(default)]
    capabilities: ClientCapabilities,
    #[serde(default)]
    client_info: Option<Implementation>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InitializeOut<'a> {
    protocol_version: &'a str,
    capabilities: Value,
    server_info: &'a Implementation,
    #[serde(skip_serializing_if = "Option::is_none")]
    instructions: Option<&'a str>,
}

pub(super) async fn initialize(server: &Server, ctx: &Context, req: Request) -> R {
    let p: InitializeParams = params(&req)?;
    let version = era::legacy::negotiate(&p.protocol_version);
    if let Some(s) = ctx.session() {
        let init = ClientInit { version, capabilities: Arc::new(p.capabilities), info: p.client_info };
        if !s.set_init(init) {
            return Err(ProtocolError::invalid_request(
                "this session is already initialized; open a new session instead",
            ));
        }
    }
    unit_hook(server, ctx, select::on_initialize).await?;
    let out = InitializeOut {
        protocol_version: version,
        capabilities: server.capabilities(),
        server_info: server.info(),
        instructions: server.instructions(),
    };
    write(server, Era::Legacy(version), &req.id, ResultKind::Complete, &out)
}

#[derive(Deserialize)]
struct SetLevelParams {
    level: String,
}

pub(super) async fn set_level(server: &Server, ctx: &Context, req: &Request) -> R {
    let p: SetLevelParams = params(req)?;
    let level = parse_level(&p.level)
        .ok_or_else(|| ProtocolError::invalid_params(format!("Unknown log level {:?}", p.level)))?;
    if let Some(s) = ctx.session() {
        s.set_log_level(level);
        // With a session directory, every node sees the level.
        server.persist_change(s, crate::session::Change::LogLevel(crate::session::level_rank(level))).await?;
    }
    empty(server, &req.id, ctx.era())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DiscoverOut<'a> {
    supported_versions: &'a [&'a str],
    capabilities: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    instructions: Option<&'a str>,
}

pub(super) async fn discover(server: &Server, ctx: &Context, req: &Request) -> R {
    unit_hook(server, ctx, select::on_discover).await?;
    let out = DiscoverOut {
        supported_versions: crate::protocol::MODERN_VERSIONS,
        capabilities: server.capabilities(),
        instructions: server.instructions(),
    };
    write(server, ctx.era(), &req.id, ResultKind::Cacheable(server.config().list_cache), &out)
}
