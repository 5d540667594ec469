//! `#[tool]`, `#[resource]` and `#[prompt]` against the real runtime: registry
//! contents, direct calls, and end-to-end requests over the in-memory line transport.

use ferromcp_core::{Context, Error, PromptDef, ResourceTemplateDef, Server, ToolDef};
use ferromcp_macros::{prompt, resource, tool};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Adds two integers.
#[tool(crate = "::ferromcp_core")]
async fn add(a: i64, b: i64) -> i64 {
    a + b
}

/// Takes a session handle under another parameter name, renamed to `session`.
#[tool(crate = "::ferromcp_core")]
async fn with_handle(#[arg(rename = "session")] _handle: Option<ferromcp_core::state::SessionHandle>) -> &'static str {
    "ok"
}

/// Takes a session handle named `session`.
#[tool(crate = "::ferromcp_core")]
async fn plain_handle(session: ferromcp_core::state::SessionHandle) -> String {
    session.to_string()
}

/// Reports the weather.
///
/// Second paragraph.
#[tool(
    crate = "::ferromcp_core",
    name = "get_weather",
    title = "Weather",
    read_only,
    idempotent,
    destructive = false,
    open_world,
    tags("web", "slow")
)]
async fn weather(
    ctx: Context,
    #[arg(description = "City name")] city: String,
    units: Option<String>,
) -> Result<String, Error> {
    if city.is_empty() {
        return Err(Error::tool("no city"));
    }
    let client = ctx.client_info().map(|i| i.name.clone()).unwrap_or_default();
    Ok(format!("{city}: sunny, {} (for {client})", units.unwrap_or_else(|| "metric".into())))
}

/// Multiplies, synchronously.
#[tool(crate = ::ferromcp_core, enabled = false, description = "override")]
fn multiply(ctx: &Context, x: f64, #[arg(rename = "by")] factor: f64) -> String {
    let client = ctx.client_info().map(|i| i.name.as_str()).unwrap_or("?");
    format!("{} from {client}", x * factor)
}

#[tool(crate = "::ferromcp_core")]
#[allow(clippy::unused_async)]
async fn ping() -> &'static str {
    "pong"
}

/// A fixed text.
#[resource(
    "test://static-text",
    crate = "::ferromcp_core",
    name = "static-text",
    mime_type = "text/plain",
    title = "Static"
)]
async fn static_text(_ctx: Context) -> &'static str {
    "hello"
}

/// One item of a collection.
#[resource("test://items/{id}{?verbose}", crate = "::ferromcp_core", mime_type = "application/json")]
async fn item(id: u32, verbose: Option<bool>, ctx: Context) -> Value {
    let _ = ctx;
    json!({ "id": id, "verbose": verbose.unwrap_or(false) })
}

#[resource("test://users/{type}/{name}", crate = "::ferromcp_core", description = "A user")]
fn user(r#type: String, name: String) -> String {
    format!("{type}/{name}", type = r#type)
}

/// Asks for a code review.
#[prompt(crate = "::ferromcp_core", title = "Review")]
async fn review(#[arg(description = "The code")] code: String, language: Option<String>) -> String {
    format!("Review this {} code: {code}", language.as_deref().unwrap_or("unknown"))
}

#[prompt(crate = "::ferromcp_core", name = "greet", description = "Says hello", tags("x"))]
fn greeting(ctx: &Context) -> String {
    format!("hello {}", ctx.client_info().map(|i| i.name.as_str()).unwrap_or("?"))
}

/// Empties the cache (needs two OAuth scopes).
#[tool(crate = "::ferromcp_core", scopes = ["admin", "cache:write"])]
#[allow(clippy::unused_async)]
async fn purge() -> &'static str {
    "purged"
}

fn server() -> Server {
    Server::builder("t", "1")
        .tool(add)
        .tool(weather)
        .tool(multiply)
        .tool(ping)
        .tool(purge)
        .resource(static_text)
        .template(item)
        .template(user)
        .prompt(review)
        .prompt(greeting)
        .build()
}

#[test]
fn tool_schema_description_and_annotations() {
    let server = server();
    let snap = server.registry().snapshot();

    let add_def = snap.tools.get("add").expect("add registered").tool().clone();
    assert_eq!(add_def.description.as_deref(), Some("Adds two integers."));
    assert_eq!(add_def.input_schema["type"], "object");
    assert_eq!(add_def.input_schema["required"], json!(["a", "b"]));
    assert_eq!(add_def.input_schema["properties"]["a"]["type"], "integer");
    assert_eq!(add_def.input_schema["properties"]["b"]["type"], "integer");
    assert!(add_def.annotations.is_none());
    assert_eq!(add_def.output_schema.as_ref().unwrap()["properties"]["result"]["type"], "integer");

    let w = snap.tools.get("get_weather").expect("renamed tool");
    assert!(snap.tools.get("weather").is_none());
    let tool = w.tool();
    assert_eq!(tool.description.as_deref(), Some("Reports the weather.\n\nSecond paragraph."));
    assert_eq!(tool.title.as_deref(), Some("Weather"));
    assert_eq!(tool.input_schema["required"], json!(["city"]));
    let props = tool.input_schema["properties"].as_object().unwrap();
    assert_eq!(props.keys().collect::<Vec<_>>(), ["city", "units"]);
    assert_eq!(props["city"]["description"], "City name");
    assert!(!props.contains_key("ctx"));
    let ann = tool.annotations.as_ref().expect("annotations");
    assert_eq!(ann.title.as_deref(), Some("Weather"));
    assert_eq!(ann.read_only_hint, Some(true));
    assert_eq!(ann.idempotent_hint, Some(true));
    assert_eq!(ann.destructive_hint, Some(false));
    assert_eq!(ann.open_world_hint, Some(true));
    assert_eq!(w.tags().iter().map(String::as_str).collect::<Vec<_>>(), ["slow", "web"]);
    assert!(w.is_enabled());
    assert!(w.required_scopes().is_empty());
    let scoped = snap.tools.get("purge").expect("scoped tool");
    assert_eq!(scoped.required_scopes(), ["admin", "cache:write"]);

    let m = snap.tools.get("multiply").expect("sync tool");
    assert!(!m.is_enabled());
    assert_eq!(m.tool().description.as_deref(), Some("override"));
    assert_eq!(m.tool().input_schema["required"], json!(["x", "by"]));

    let ping_def = snap.tools.get("ping").expect("no-arg tool");
    assert_eq!(ping_def.tool().description.as_deref().unwrap_or(""), "");
    assert_eq!(ping_def.tool().input_schema["properties"], json!({}));
    assert!(ping_def.tool().input_schema.get("required").is_none());
}

#[test]
fn conversions_work_without_a_server() {
    let def: ToolDef = add.into();
    assert_eq!(def.name(), "add");
    let t: ResourceTemplateDef = item.into();
    assert_eq!(t.template().variables(), ["id", "verbose"]);
    assert_eq!(t.resource_template().mime_type.as_deref(), Some("application/json"));
    assert_eq!(t.resource_template().name, "item");
    assert_eq!(t.resource_template().description.as_deref(), Some("One item of a collection."));
    let p: PromptDef = greeting.into();
    assert_eq!(p.name(), "greet");
    assert!(p.prompt().arguments.is_none());
}

#[test]
fn resources_and_prompts_are_registered() {
    let server = server();
    let snap = server.registry().snapshot();
    let r = snap.resources.get("test://static-text").expect("static resource");
    assert_eq!(r.resource().name, "static-text");
    assert_eq!(r.resource().mime_type.as_deref(), Some("text/plain"));
    assert_eq!(r.resource().title.as_deref(), Some("Static"));
    assert_eq!(r.resource().description.as_deref(), Some("A fixed text."));
    let u = snap.templates.get("test://users/{type}/{name}").expect("user template");
    assert_eq!(u.resource_template().description.as_deref(), Some("A user"));

    let p = snap.prompts.get("review").expect("prompt");
    assert_eq!(p.prompt().title.as_deref(), Some("Review"));
    assert_eq!(p.prompt().description.as_deref(), Some("Asks for a code review."));
    let args = p.prompt().arguments.clone().unwrap();
    assert_eq!(args.len(), 2);
    assert_eq!((args[0].name.as_str(), args[0].required), ("code", Some(true)));
    assert_eq!(args[0].description.as_deref(), Some("The code"));
    assert_eq!((args[1].name.as_str(), args[1].required), ("language", Some(false)));
}

#[tokio::test]
async fn functions_stay_callable() {
    assert_eq!(add::call(1, 2).await, 3);
    assert_eq!(ping::call().await, "pong");
    assert_eq!(user::call("admin".into(), "ann".into()), "admin/ann");
    assert_eq!(review::call("x()".into(), Some("rust".into())).await, "Review this rust code: x()");
}

/// A client on the other end of an in-memory pipe.
struct Client {
    write: tokio::io::WriteHalf<tokio::io::DuplexStream>,
    read: BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>,
    next_id: u64,
}

impl Client {
    async fn connect() -> Client {
        let (client_end, server_end) = tokio::io::duplex(64 * 1024);
        let (sr, sw) = tokio::io::split(server_end);
        tokio::spawn(ferromcp_core::transport::serve_io(server(), sr, sw, Default::default()));
        let (cr, cw) = tokio::io::split(client_end);
        let mut c = Client { write: cw, read: BufReader::new(cr), next_id: 0 };
        let init = c
            .request(
                "initialize",
                json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
            )
            .await;
        assert_eq!(init["result"]["serverInfo"]["name"], "t", "{init}");
        c.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
        c
    }

    async fn send(&mut self, msg: Value) {
        let mut line = serde_json::to_vec(&msg).unwrap();
        line.push(b'\n');
        self.write.write_all(&line).await.unwrap();
    }

    /// Sends a request and returns its response, skipping notifications.
    async fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).await;
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(std::time::Duration::from_secs(10), self.read.read_line(&mut line))
                .await
                .expect("response in time")
                .unwrap();
            assert!(n > 0, "server closed the pipe");
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == id {
                return v;
            }
        }
    }

    async fn call_tool(&mut self, name: &str, arguments: Value) -> Value {
        self.request("tools/call", json!({"name": name, "arguments": arguments})).await
    }
}

#[tokio::test]
async fn tools_run_end_to_end() {
    let mut c = Client::connect().await;

    let r = c.call_tool("add", json!({"a": 2, "b": 3})).await;
    assert_eq!(r["result"]["structuredContent"]["result"], 5, "{r}");
    assert_ne!(r["result"]["isError"], true);

    let r = c.call_tool("add", json!({"a": "two", "b": 3})).await;
    assert_eq!(r["result"]["isError"], true, "{r}");
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("add"), "{text}");

    let r = c.call_tool("get_weather", json!({"city": "Oslo"})).await;
    assert_eq!(r["result"]["content"][0]["text"], "Oslo: sunny, metric (for t)", "{r}");
    let r = c.call_tool("get_weather", json!({"city": "Rome", "units": "imperial"})).await;
    assert_eq!(r["result"]["content"][0]["text"], "Rome: sunny, imperial (for t)", "{r}");
    let r = c.call_tool("get_weather", json!({"city": ""})).await;
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert_eq!(r["result"]["content"][0]["text"], "no city");

    let r = c.call_tool("ping", json!({})).await;
    assert_eq!(r["result"]["content"][0]["text"], "pong", "{r}");

    let list = c.request("tools/list", json!({})).await;
    let names: Vec<&str> =
        list["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["add", "get_weather", "ping"], "disabled tool and tool needing scopes are hidden");

    // Without a token (stdio), a tool needing scopes is a JSON-RPC error naming them.
    let r = c.call_tool("purge", json!({})).await;
    assert_eq!(r["error"]["code"], ferromcp_core::auth::INSUFFICIENT_SCOPE, "{r}");
    assert_eq!(r["error"]["data"]["requiredScopes"], json!(["admin", "cache:write"]), "{r}");
}

#[tokio::test]
async fn sync_tool_runs_on_the_blocking_pool() {
    let server = server();
    server.registry().set_tool_enabled("multiply", true);
    let (client_end, server_end) = tokio::io::duplex(64 * 1024);
    let (sr, sw) = tokio::io::split(server_end);
    tokio::spawn(ferromcp_core::transport::serve_io(server, sr, sw, Default::default()));
    let (cr, cw) = tokio::io::split(client_end);
    let mut c = Client { write: cw, read: BufReader::new(cr), next_id: 0 };
    c.request(
        "initialize",
        json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "sync", "version": "1"}}),
    )
    .await;
    c.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
    let r = c.call_tool("multiply", json!({"x": 1.5, "by": 4})).await;
    assert_eq!(r["result"]["content"][0]["text"], "6 from sync", "{r}");
    let r = c.call_tool("multiply", json!({"x": 1.5, "factor": 4})).await;
    assert_eq!(r["result"]["isError"], true, "the renamed field is `by`: {r}");
}

#[tokio::test]
async fn resources_read_end_to_end() {
    let mut c = Client::connect().await;

    let r = c.request("resources/read", json!({"uri": "test://static-text"})).await;
    let content = &r["result"]["contents"][0];
    assert_eq!(content["text"], "hello", "{r}");
    assert_eq!(content["mimeType"], "text/plain");

    let r = c.request("resources/read", json!({"uri": "test://items/42"})).await;
    let content = &r["result"]["contents"][0];
    assert_eq!(content["uri"], "test://items/42", "{r}");
    let body: Value = serde_json::from_str(content["text"].as_str().unwrap()).unwrap();
    assert_eq!(body, json!({"id": 42, "verbose": false}));

    let r = c.request("resources/read", json!({"uri": "test://items/7?verbose=true"})).await;
    let body: Value = serde_json::from_str(r["result"]["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(body, json!({"id": 7, "verbose": true}), "{r}");

    let r = c.request("resources/read", json!({"uri": "test://items/abc"})).await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(msg.contains("`id`") && msg.contains("u32") && msg.contains("abc"), "{msg}");

    let r = c.request("resources/read", json!({"uri": "test://items/1?verbose=maybe"})).await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains("`verbose`"), "{r}");

    let r = c.request("resources/read", json!({"uri": "test://users/admin/ann"})).await;
    assert_eq!(r["result"]["contents"][0]["text"], "admin/ann", "{r}");

    let list = c.request("resources/templates/list", json!({})).await;
    let templates = list["result"]["resourceTemplates"].as_array().unwrap();
    assert_eq!(templates.len(), 2, "{list}");
    assert_eq!(templates[0]["uriTemplate"], "test://items/{id}{?verbose}");
    assert_eq!(templates[0]["name"], "item");
}

#[tokio::test]
async fn prompts_get_end_to_end() {
    let mut c = Client::connect().await;

    let r = c
        .request("prompts/get", json!({"name": "review", "arguments": {"code": "fn x() {}", "language": "rust"}}))
        .await;
    let msg = &r["result"]["messages"][0];
    assert_eq!(msg["role"], "user", "{r}");
    assert_eq!(msg["content"]["text"], "Review this rust code: fn x() {}");

    let r = c.request("prompts/get", json!({"name": "review", "arguments": {"code": "1"}})).await;
    assert_eq!(r["result"]["messages"][0]["content"]["text"], "Review this unknown code: 1", "{r}");

    let r = c.request("prompts/get", json!({"name": "review", "arguments": {}})).await;
    assert_eq!(r["error"]["code"], -32602, "missing required argument: {r}");

    let r = c.request("prompts/get", json!({"name": "greet"})).await;
    assert_eq!(r["result"]["messages"][0]["content"]["text"], "hello t", "{r}");
}

#[test]
fn a_session_handle_parameter_is_detected_from_its_type() {
    assert!(ToolDef::from(with_handle).has_session_handle_argument(), "Option<SessionHandle>, renamed");
    assert!(ToolDef::from(plain_handle).has_session_handle_argument(), "SessionHandle named `session`");
    assert!(!ToolDef::from(add).has_session_handle_argument(), "no handle parameter");
}
