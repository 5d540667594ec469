//! `resources/read` (a method that can ask) and `resources/subscribe` /
//! `resources/unsubscribe` (legacy sessions).

use serde::{Deserialize, Serialize};

use super::asking::{self, AskingParams, Target, handler_error};
use super::{R, empty, params, require_capability, write};
use crate::context::Context;
use crate::era::ResultKind;
use crate::error::{Error, ProtocolError};
use crate::jsonrpc::Request;
use crate::middleware::{MwFuture, select};
use crate::protocol::{Method, ResourceContents};
use crate::server::Server;

#[derive(Serialize)]
struct ReadOut<'a> {
    contents: &'a [ResourceContents],
}

pub(super) async fn read(server: &Server, ctx: &Context, req: Request) -> R {
    require_capability(server, "resources", &req.method)?;
    let p = AskingParams::parse(&req)?;
    let Some(uri) = p.uri.clone() else {
        return Err(ProtocolError::invalid_params("resources/read needs a string `uri`"));
    };
    let vis = ctx.visibility().await.map_err(Error::into_protocol)?;
    let snapshot = server.registry().snapshot();
    if snapshot.resolve_resource(&uri, vis.as_ref()).is_none() {
        return Err(ctx.era().resource_not_found(&uri));
    }
    if let Some(need) = snapshot.missing_scopes("resources/read", &uri, ctx.principal()) {
        return Err(crate::auth::insufficient_scope(&format!("resource `{uri}`"), &need));
    }
    let endpoint = move |ctx: &Context, uri: String| -> MwFuture<'static, crate::Result<Vec<ResourceContents>>> {
        match snapshot.resolve_resource(&uri, vis.as_ref()) {
            Some((h, vars)) => h.read(ctx.clone(), uri, vars),
            None => Box::pin(std::future::ready(Err(Error::Protocol(ctx.era().resource_not_found(&uri))))),
        }
    };
    let fut = asking::chained(server, ctx, uri.clone(), select::on_read_resource, endpoint);
    // A read's state is bound to its URI alone: it has no arguments.
    let target = Target { method: Method::ReadResource, name: &uri, args: None };
    asking::run(server, ctx, &req.id, target, fut, |out| match out {
        Ok(contents) => {
            let kind = ResultKind::Cacheable(server.config().read_cache);
            write(server, ctx.era(), &req.id, kind, &ReadOut { contents: &contents })
        }
        Err(e) => Err(handler_error(e)),
    })
    .await
}

#[derive(Deserialize)]
struct UriParam {
    uri: String,
}

pub(super) async fn subscribe(server: &Server, ctx: &Context, req: &Request, on: bool) -> R {
    require_capability(server, "resources", &req.method)?;
    let UriParam { uri } = params(req)?;
    if let Some(s) = ctx.session() {
        // With a session directory, every node sees the subscription.
        let change = if on {
            s.subscribe(uri.clone());
            crate::session::Change::Subscribe(uri)
        } else {
            s.unsubscribe(&uri);
            crate::session::Change::Unsubscribe(uri)
        };
        server.persist_change(s, change).await?;
    }
    empty(server, &req.id, ctx.era())
}
