//! Output: `--json` (pretty JSON on stdout, for scripts) and the human-readable forms.

use serde_json::{Map, Value, json};

/// What a server offers; `None` for kinds it does not declare.
#[derive(Debug, Default)]
pub struct Inventory {
    /// Tools.
    pub tools: Option<Vec<Value>>,
    /// Static resources.
    pub resources: Option<Vec<Value>>,
    /// Resource templates.
    pub templates: Option<Vec<Value>>,
    /// Prompts.
    pub prompts: Option<Vec<Value>>,
}

impl Inventory {
    /// `{"tools": [...], "resources": [...], "resourceTemplates": [...], "prompts": [...]}`
    /// (kinds the server does not declare are empty lists).
    pub fn to_json(&self) -> Value {
        let list = |v: &Option<Vec<Value>>| Value::Array(v.clone().unwrap_or_default());
        json!({
            "tools": list(&self.tools),
            "resources": list(&self.resources),
            "resourceTemplates": list(&self.templates),
            "prompts": list(&self.prompts),
        })
    }
}

/// Pretty JSON on stdout.
pub fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string()));
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

fn with_description(head: String, v: &Value) -> String {
    match v["description"].as_str().and_then(|d| d.lines().next()) {
        Some(d) if !d.is_empty() => format!("{head} — {d}"),
        _ => head,
    }
}

/// A schema's properties as `a: integer (required), b?: string`.
fn signature(schema: &Value) -> String {
    let empty = Map::new();
    let required: Vec<&str> =
        schema["required"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let parts: Vec<String> = schema["properties"]
        .as_object()
        .unwrap_or(&empty)
        .iter()
        .map(|(k, p)| {
            let t = match &p["type"] {
                Value::String(s) => s.clone(),
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("|"),
                _ => "any".into(),
            };
            let opt = if required.contains(&k.as_str()) { "" } else { "?" };
            format!("{k}{opt}: {t}")
        })
        .collect();
    parts.join(", ")
}

fn section(title: &str, items: &Option<Vec<Value>>, line: impl Fn(&Value) -> String, detail: impl Fn(&Value)) {
    let Some(items) = items else { return };
    println!("{title} ({}):", items.len());
    for item in items {
        println!("  {}", line(item));
        detail(item);
    }
}

fn indented_json(v: &Value) {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    for l in text.lines() {
        println!("      {l}");
    }
}

/// Tools, resources, templates and prompts; with `schemas`, every schema in full.
pub fn print_inventory(inv: &Inventory, schemas: bool) {
    section(
        "Tools",
        &inv.tools,
        |t| with_description(format!("{}({})", str_of(t, "name"), signature(&t["inputSchema"])), t),
        |t| {
            if schemas {
                println!("    inputSchema:");
                indented_json(&t["inputSchema"]);
                if let Some(out) = t.get("outputSchema") {
                    println!("    outputSchema:");
                    indented_json(out);
                }
                if let Some(a) = t.get("annotations") {
                    println!("    annotations: {a}");
                }
            }
        },
    );
    section(
        "Resources",
        &inv.resources,
        |r| with_description(format!("{}  {}", str_of(r, "uri"), str_of(r, "name")), r),
        |r| {
            if schemas && let Some(m) = r["mimeType"].as_str() {
                println!("    mimeType: {m}");
            }
        },
    );
    section(
        "Resource templates",
        &inv.templates,
        |r| with_description(format!("{}  {}", str_of(r, "uriTemplate"), str_of(r, "name")), r),
        |_| {},
    );
    section(
        "Prompts",
        &inv.prompts,
        |p| {
            let args: Vec<String> = p["arguments"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    let opt = if a["required"] == true { "" } else { "?" };
                    format!("{}{opt}", str_of(a, "name"))
                })
                .collect();
            with_description(format!("{}({})", str_of(p, "name"), args.join(", ")), p)
        },
        |_| {},
    );
}

/// The server part of `inspect`.
pub fn print_server(v: &Value) {
    println!("Server: {} {}", str_of(&v["server"], "name"), str_of(&v["server"], "version"));
    println!("Protocol: {} (era {})", str_of(v, "protocolVersion"), str_of(v, "era"));
    if let Some(i) = v["instructions"].as_str() {
        println!("Instructions: {i}");
    }
    println!("Capabilities:");
    indented_json(&v["capabilities"]);
}

/// One content block as text.
fn block(b: &Value) -> String {
    match str_of(b, "type") {
        "text" => str_of(b, "text").to_owned(),
        t @ ("image" | "audio") => {
            format!("[{t} {}, {} base64 characters]", str_of(b, "mimeType"), str_of(b, "data").len())
        }
        "resource" => {
            let r = &b["resource"];
            match r["text"].as_str() {
                Some(t) => format!("[resource {}]\n{t}", str_of(r, "uri")),
                None => format!("[resource {} ({}), binary]", str_of(r, "uri"), str_of(r, "mimeType")),
            }
        }
        "resource_link" => format!("[link {} {}]", str_of(b, "uri"), str_of(b, "name")),
        other => format!("[{other} content]"),
    }
}

/// A tool result: its content blocks, then `structuredContent` as JSON.
pub fn print_call(v: &Value) {
    for b in v["content"].as_array().into_iter().flatten() {
        println!("{}", block(b));
    }
    if let Some(s) = v.get("structuredContent") {
        println!("structuredContent:");
        print_json(s);
    }
}

/// `resources/read` contents.
pub fn print_contents(v: &Value) {
    for c in v["contents"].as_array().into_iter().flatten() {
        match c["text"].as_str() {
            Some(t) => println!("{t}"),
            None => println!(
                "[{} {}: {} base64 characters of binary; use --json to get them]",
                str_of(c, "uri"),
                str_of(c, "mimeType"),
                str_of(c, "blob").len()
            ),
        }
    }
}

/// A rendered prompt: its description, then `role: content` per message.
pub fn print_prompt(v: &Value) {
    if let Some(d) = v["description"].as_str() {
        println!("# {d}");
    }
    for m in v["messages"].as_array().into_iter().flatten() {
        println!("{}: {}", str_of(m, "role"), block(&m["content"]));
    }
}
