//! One function per client subcommand: connect, do the one thing, print, close.

use std::sync::Arc;
use std::time::Instant;

use ferromcp_client::{Client, ClientEra};
use serde_json::{Value, json};

use crate::interact::Terminal;
use crate::render::{self, Inventory};
use crate::target::{self, Target};
use crate::{CliError, Conn, coerce};

fn no_extra(cmd: &str, rest: &[String]) -> Result<(), CliError> {
    match rest.first() {
        None => Ok(()),
        Some(w) => {
            Err(CliError::usage(format!("`{cmd}` takes only TARGET; unexpected `{w}` (see `ferromcp {cmd} --help`)")))
        }
    }
}

/// Connects, runs `body`, and closes the client whatever the outcome.
async fn session<T, F, Fut>(target: &Target, conn: &Conn, term: &Arc<Terminal>, body: F) -> Result<T, CliError>
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = Result<T, CliError>>,
{
    let client = target::connect(target, conn, term).await?;
    let out = body(client.clone()).await;
    term.finish();
    client.close().await;
    out
}

fn to_values<T: serde::Serialize>(v: Vec<T>) -> Vec<Value> {
    v.into_iter().filter_map(|x| serde_json::to_value(x).ok()).collect()
}

/// Lists every kind of component the server declares.
pub async fn inventory(client: &Client) -> Result<Inventory, CliError> {
    let info = client.server_info();
    let fail = |what: &str| {
        let what = what.to_owned();
        move |e| CliError::client(&format!("listing {what}"), e)
    };
    let mut inv = Inventory::default();
    if info.has_capability("tools") {
        inv.tools = Some(client.list_tools().await.map(to_values).map_err(fail("tools"))?);
    }
    if info.has_capability("resources") {
        inv.resources = Some(client.list_resources().await.map(to_values).map_err(fail("resources"))?);
        inv.templates =
            Some(client.list_resource_templates().await.map(to_values).map_err(fail("resource templates"))?);
    }
    if info.has_capability("prompts") {
        inv.prompts = Some(client.list_prompts().await.map(to_values).map_err(fail("prompts"))?);
    }
    Ok(inv)
}

/// `ferromcp list`.
pub async fn list(conn: &Conn, words: &[String], json: bool) -> Result<(), CliError> {
    let (target, rest) = target::split(conn, words)?;
    no_extra("list", rest)?;
    let term = Terminal::new(true);
    let inv = session(&target, conn, &term, |c| async move { inventory(&c).await }).await?;
    if json {
        render::print_json(&inv.to_json())
    } else {
        render::print_inventory(&inv, false)
    }
    Ok(())
}

/// `ferromcp inspect`.
pub async fn inspect(conn: &Conn, words: &[String], json: bool) -> Result<(), CliError> {
    let (target, rest) = target::split(conn, words)?;
    no_extra("inspect", rest)?;
    let term = Terminal::new(true);
    let (info, era, inv) = session(&target, conn, &term, |c| async move {
        let inv = inventory(&c).await?;
        Ok((c.server_info().clone(), c.era(), inv))
    })
    .await?;
    let era = match era {
        ClientEra::Legacy => "2025-11-25",
        _ => "2026-07-28",
    };
    let mut out = json!({
        "server": {"name": info.name, "version": info.version},
        "protocolVersion": info.protocol_version,
        "era": era,
        "supportedVersions": info.supported_versions,
        "capabilities": info.capabilities,
        "instructions": info.instructions,
    });
    if let (Some(o), Value::Object(inv)) = (out.as_object_mut(), inv.to_json()) {
        o.extend(inv);
    }
    if json {
        render::print_json(&out);
    } else {
        render::print_server(&out);
        render::print_inventory(&inv, true);
    }
    Ok(())
}

/// `ferromcp call`.
pub async fn call(conn: &Conn, words: &[String], json: bool, no_input: bool) -> Result<(), CliError> {
    let (target, rest) = target::split(conn, words)?;
    let Some((tool, args)) = rest.split_first() else {
        return Err(CliError::usage("`call` needs a TOOL name after the TARGET (see `ferromcp call --help`)"));
    };
    let term = Terminal::new(no_input);
    let bar = term.clone();
    let result = session(&target, conn, &term, |c| async move {
        let tools = c.list_tools().await.map_err(|e| CliError::client("listing tools", e))?;
        let Some(def) = tools.iter().find(|t| t.name == *tool) else {
            let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
            return Err(CliError::usage(format!(
                "the server has no tool named `{tool}`; its tools: {}",
                if names.is_empty() { "none".to_owned() } else { names.join(", ") }
            )));
        };
        let schema = Value::Object((*def.input_schema).clone());
        let arguments = coerce::tool_arguments(tool, &schema, args).map_err(CliError::usage)?;
        c.tool_call(tool.as_str())
            .arguments(Value::Object(arguments))
            .on_progress(move |p| bar.progress(&p))
            .send()
            .await
            .map_err(|e| CliError::client(&format!("calling `{tool}`"), e))
    })
    .await?;
    if json {
        render::print_json(&result.value);
    } else if !result.is_error() {
        render::print_call(&result.value);
    }
    if result.is_error() {
        let text = result.text();
        let msg = if json || text.is_empty() {
            format!("the tool `{tool}` reported an error")
        } else {
            format!("the tool `{tool}` reported an error: {text}")
        };
        return Err(CliError::server(msg));
    }
    Ok(())
}

/// `ferromcp read`.
pub async fn read(conn: &Conn, words: &[String], json: bool) -> Result<(), CliError> {
    let (target, rest) = target::split(conn, words)?;
    let [uri] = rest else {
        return Err(CliError::usage("`read` takes TARGET and one resource URI (see `ferromcp read --help`)"));
    };
    // A read may ask questions too (2026-07-28 input_required rounds).
    let term = Terminal::new(false);
    let result = session(&target, conn, &term, |c| async move {
        c.read_resource(uri).await.map_err(|e| CliError::client(&format!("reading `{uri}`"), e))
    })
    .await?;
    if json {
        render::print_json(&result)
    } else {
        render::print_contents(&result)
    }
    Ok(())
}

/// `ferromcp prompt`.
pub async fn prompt(conn: &Conn, words: &[String], json: bool) -> Result<(), CliError> {
    let (target, rest) = target::split(conn, words)?;
    let Some((name, args)) = rest.split_first() else {
        return Err(CliError::usage("`prompt` needs a prompt NAME after the TARGET (see `ferromcp prompt --help`)"));
    };
    let arguments = coerce::prompt_arguments(name, args).map_err(CliError::usage)?;
    let term = Terminal::new(false);
    let result = session(&target, conn, &term, |c| async move {
        let args = if arguments.is_empty() { Value::Null } else { Value::Object(arguments) };
        c.get_prompt(name, args).await.map_err(|e| CliError::client(&format!("getting prompt `{name}`"), e))
    })
    .await?;
    if json {
        render::print_json(&result)
    } else {
        render::print_prompt(&result)
    }
    Ok(())
}

/// `ferromcp ping`.
pub async fn ping(conn: &Conn, words: &[String]) -> Result<(), CliError> {
    let (target, rest) = target::split(conn, words)?;
    no_extra("ping", rest)?;
    let term = Terminal::new(true);
    let (name, era, took) = session(&target, conn, &term, |c| async move {
        let start = Instant::now();
        let r = match c.era() {
            ClientEra::Legacy => c.ping().await,
            _ => c.discover().await.map(drop),
        };
        r.map_err(|e| CliError::client("ping", e))?;
        Ok((c.server_info().name.clone(), c.era(), start.elapsed()))
    })
    .await?;
    let how = if era == ClientEra::Legacy { "ping" } else { "server/discover" };
    println!("{name} answered {how} in {:.1} ms", took.as_secs_f64() * 1000.0);
    Ok(())
}
