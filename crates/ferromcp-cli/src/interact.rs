//! The terminal side of a session with a server: a progress bar fed by MCP progress
//! notifications, elicitation answered with prompts, sampling refused with a clear
//! message, and server log messages on stderr.
//!
//! Everything goes to stderr, so stdout carries only the command's result. Without a
//! terminal (a script, a pipe) progress becomes plain `progress:` lines and elicitation
//! is declined, as it is with `--no-input`.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dialoguer::console::Term;
use dialoguer::{Confirm, Input, MultiSelect, Select};
use ferromcp_client::{Client, ClientHandlers};
use ferromcp_core::ProtocolError;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value, json};

/// The terminal: whether it may prompt, and the progress bar of the running call.
pub struct Terminal {
    interactive: bool,
    bar: Mutex<Option<ProgressBar>>,
    /// One prompt at a time.
    prompting: Mutex<()>,
}

impl Terminal {
    /// A terminal that prompts only if stdin and stderr are terminals and `no_input` is off.
    pub fn new(no_input: bool) -> Arc<Self> {
        let interactive = !no_input && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        Arc::new(Terminal { interactive, bar: Mutex::new(None), prompting: Mutex::new(()) })
    }

    fn bar(&self) -> Option<ProgressBar> {
        self.bar.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Prints a line on stderr without tearing the progress bar.
    pub fn note(&self, line: &str) {
        match self.bar() {
            Some(b) => b.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    /// The client handlers: elicitation through prompts, sampling refused.
    pub fn handlers(self: &Arc<Self>) -> ClientHandlers {
        let me = self.clone();
        let refuse = self.clone();
        ClientHandlers::new()
            .elicitation(move |params: Value| {
                let me = me.clone();
                async move {
                    if !me.interactive {
                        me.note("ferromcp: the server asked a question, but there is no terminal to ask it on (or --no-input): declined");
                        return Ok(json!({"action": "decline"}));
                    }
                    let asked = me.clone();
                    tokio::task::spawn_blocking(move || asked.elicit(&params))
                        .await
                        .map_err(|e| ProtocolError::internal(format!("the prompt failed: {e}")))
                }
            })
            .sampling(move |_params: Value| {
                let refuse = refuse.clone();
                async move {
                    let why = "the ferromcp CLI has no language model: it does not answer sampling requests";
                    refuse.note(&format!("ferromcp: the server asked for an LLM completion (sampling); refused: {why}"));
                    Err(ProtocolError::new(ferromcp_core::error::code::INVALID_REQUEST, format!("sampling refused: {why}")))
                }
            })
    }

    /// Prints the server's log messages on stderr while the client lives.
    pub fn watch_logs(self: &Arc<Self>, client: &Client) {
        let mut rx = client.notifications();
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(msg) if msg["method"] == "notifications/message" => {
                        let p = &msg["params"];
                        let data = match &p["data"] {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        let level = p["level"].as_str().unwrap_or("info");
                        let logger = p["logger"].as_str().map(|l| format!(" {l}")).unwrap_or_default();
                        me.note(&format!("[server {level}{logger}] {data}"));
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => break,
                }
            }
        });
    }

    /// Shows one `notifications/progress` (its `params`).
    pub fn progress(&self, params: &Value) {
        let progress = params["progress"].as_f64().unwrap_or(0.0);
        let total = params["total"].as_f64();
        let message = params["message"].as_str().unwrap_or("").to_owned();
        if !std::io::stderr().is_terminal() {
            let of = total.map(|t| format!("/{t}")).unwrap_or_default();
            eprintln!("progress: {progress}{of} {message}");
            return;
        }
        let mut guard = self.bar.lock().unwrap_or_else(|p| p.into_inner());
        let bar = guard.get_or_insert_with(|| {
            let bar = match total {
                Some(_) => ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr()),
                None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            };
            let style = match total {
                Some(_) => ProgressStyle::with_template("{spinner} [{bar:30}] {percent:>3}% {msg}"),
                None => ProgressStyle::with_template("{spinner} {pos} {msg}"),
            };
            if let Ok(style) = style {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        // Progress may be fractional: the bar counts hundredths.
        if let Some(t) = total {
            bar.set_length((t * 100.0).max(0.0) as u64);
        }
        bar.set_position((progress * 100.0).max(0.0) as u64 / if total.is_some() { 1 } else { 100 });
        bar.set_message(message);
    }

    /// Removes the progress bar (the call ended).
    pub fn finish(&self) {
        if let Some(b) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).take() {
            b.finish_and_clear();
        }
    }

    /// Asks the user an elicitation (on a blocking thread).
    fn elicit(&self, params: &Value) -> Value {
        let _one = self.prompting.lock().unwrap_or_else(|p| p.into_inner());
        let run = || {
            ask(params).unwrap_or_else(|e| {
                eprintln!("ferromcp: the prompt failed ({e}): cancelled");
                json!({"action": "cancel"})
            })
        };
        match self.bar() {
            Some(b) => b.suspend(run),
            None => run(),
        }
    }
}

/// The choices of an enum property: (value, label).
fn choices(prop: &Value) -> Option<Vec<(Value, String)>> {
    if let Some(values) = prop["enum"].as_array() {
        let names = prop["enumNames"].as_array();
        return Some(
            values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let label = names.and_then(|n| n.get(i)).and_then(Value::as_str);
                    (v.clone(), label.map(str::to_owned).unwrap_or_else(|| plain(v)))
                })
                .collect(),
        );
    }
    let list = prop["oneOf"].as_array().or_else(|| prop["anyOf"].as_array())?;
    let out: Vec<(Value, String)> = list
        .iter()
        .filter_map(|o| {
            let v = o.get("const")?.clone();
            let label = o["title"].as_str().map(str::to_owned).unwrap_or_else(|| plain(&v));
            Some((v, label))
        })
        .collect();
    (!out.is_empty()).then_some(out)
}

fn plain(v: &Value) -> String {
    v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())
}

/// Prompts for an elicitation request; returns its result.
fn ask(params: &Value) -> std::io::Result<Value> {
    let term = Term::stderr();
    let io = |e: dialoguer::Error| match e {
        dialoguer::Error::IO(e) => e,
    };
    let message = params["message"].as_str().unwrap_or("The server asks for input");
    term.write_line(&format!("\nThe server asks: {message}"))?;
    if params["mode"] == "url" {
        let url = params["url"].as_str().unwrap_or("");
        term.write_line(&format!("Open this URL to continue: {url}"))?;
        let done = Confirm::new().with_prompt("Done?").default(true).interact_on(&term).map_err(io)?;
        return Ok(json!({"action": if done { "accept" } else { "decline" }}));
    }
    let actions = ["accept (answer the questions)", "decline", "cancel"];
    let pick = Select::new().with_prompt("Answer").items(actions).default(0).interact_on_opt(&term).map_err(io)?;
    match pick {
        Some(0) => {}
        Some(1) => return Ok(json!({"action": "decline"})),
        _ => return Ok(json!({"action": "cancel"})),
    }
    let schema = &params["requestedSchema"];
    let required: Vec<&str> =
        schema["required"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let mut content = Map::new();
    let empty = Map::new();
    for (key, prop) in schema["properties"].as_object().unwrap_or(&empty) {
        let is_required = required.contains(&key.as_str());
        let title = prop["title"].as_str().unwrap_or(key);
        let label = match prop["description"].as_str() {
            Some(d) => format!("{title} ({d})"),
            None => title.to_owned(),
        };
        if let Some(v) = field(&term, &label, prop, is_required).map_err(io)? {
            content.insert(key.clone(), v);
        }
    }
    Ok(json!({"action": "accept", "content": content}))
}

/// Prompts for one field; `None` leaves an optional field out.
fn field(term: &Term, label: &str, prop: &Value, required: bool) -> Result<Option<Value>, dialoguer::Error> {
    let default = prop.get("default");
    if prop["type"] == "array" {
        let Some(opts) = choices(&prop["items"]) else { return Ok(None) };
        let labels: Vec<&str> = opts.iter().map(|(_, l)| l.as_str()).collect();
        let picked = MultiSelect::new()
            .with_prompt(format!("{label} (space to pick, enter to confirm)"))
            .items(&labels)
            .interact_on(term)?;
        return Ok(Some(Value::Array(picked.into_iter().map(|i| opts[i].0.clone()).collect())));
    }
    if let Some(opts) = choices(prop) {
        let labels: Vec<&str> = opts.iter().map(|(_, l)| l.as_str()).collect();
        let start = default.and_then(|d| opts.iter().position(|(v, _)| v == d)).unwrap_or(0);
        let i = Select::new().with_prompt(label).items(&labels).default(start).interact_on(term)?;
        return Ok(Some(opts[i].0.clone()));
    }
    match prop["type"].as_str() {
        Some("boolean") => {
            let d = default.and_then(Value::as_bool).unwrap_or(false);
            Ok(Some(Value::Bool(Confirm::new().with_prompt(label).default(d).interact_on(term)?)))
        }
        Some(t @ ("integer" | "number")) => {
            let integer = t == "integer";
            let mut input = Input::<String>::new().with_prompt(label).allow_empty(!required);
            if let Some(d) = default {
                input = input.default(d.to_string());
            }
            let text = input
                .validate_with(move |s: &String| -> Result<(), String> {
                    let ok = s.is_empty()
                        || if integer { s.trim().parse::<i64>().is_ok() } else { s.trim().parse::<f64>().is_ok() };
                    if ok {
                        Ok(())
                    } else {
                        Err(format!("expected {}", if integer { "an integer" } else { "a number" }))
                    }
                })
                .interact_text_on(term)?;
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            Ok(serde_json::from_str::<Value>(text).ok())
        }
        _ => {
            let mut input = Input::<String>::new().with_prompt(label).allow_empty(!required);
            if let Some(d) = default.and_then(Value::as_str) {
                input = input.default(d.to_owned());
            }
            let text = input.interact_text_on(term)?;
            Ok((!text.is_empty()).then_some(Value::String(text)))
        }
    }
}
