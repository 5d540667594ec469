//! TARGET: a URL, `-- COMMAND ARGS…`, or a name from an `mcpServers` file; and
//! connecting a [`Client`] to it with the CLI's handlers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ferromcp_client::oauth::{OAuthClient, OAuthConfig};
use ferromcp_client::{BearerToken, Client, ClientEra, ClientOptions};
use ferromcp_proxy::{BackendKind, ProxyConfig};

use crate::interact::Terminal;
use crate::{CliError, Conn, EraArg};

/// Where the server is.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A Streamable HTTP endpoint, with extra headers.
    Http { url: String, headers: BTreeMap<String, String> },
    /// A child process speaking stdio.
    Stdio { command: String, args: Vec<String>, env: BTreeMap<String, String>, cwd: Option<PathBuf> },
}

impl Target {
    /// A short description for messages.
    pub fn describe(&self) -> String {
        match self {
            Target::Http { url, .. } => url.clone(),
            Target::Stdio { command, args, .. } => {
                std::iter::once(command.as_str()).chain(args.iter().map(String::as_str)).collect::<Vec<_>>().join(" ")
            }
        }
    }
}

/// Splits a command's positional words into the target and the rest: with `-- COMMAND`
/// the words are all arguments; otherwise the first word is the target.
pub fn split<'a>(conn: &Conn, words: &'a [String]) -> Result<(Target, &'a [String]), CliError> {
    if let Some((command, args)) = conn.command.split_first() {
        let target = Target::Stdio { command: command.clone(), args: args.to_vec(), env: BTreeMap::new(), cwd: None };
        return Ok((target, words));
    }
    let Some((first, rest)) = words.split_first() else {
        return Err(CliError::usage(
            "no TARGET: give a URL, a server name from the config file, or `-- COMMAND ARGS…` at the end",
        ));
    };
    Ok((resolve(first, conn.config.as_deref())?, rest))
}

/// The default config files, in order.
fn default_configs() -> Vec<PathBuf> {
    let mut v = vec![PathBuf::from("mcp.json")];
    if let Some(home) = std::env::var_os("HOME") {
        v.push(PathBuf::from(home).join(".config/ferromcp/mcp.json"));
    }
    v
}

/// Resolves a TARGET word: a URL, or a name in the config file.
pub fn resolve(word: &str, config: Option<&Path>) -> Result<Target, CliError> {
    if word.starts_with("http://") || word.starts_with("https://") {
        return Ok(Target::Http { url: word.to_owned(), headers: BTreeMap::new() });
    }
    let file = match config {
        Some(f) => f.to_path_buf(),
        None => default_configs().into_iter().find(|p| p.is_file()).ok_or_else(|| {
            CliError::usage(format!(
                "`{word}` is not a URL and there is no config file to look it up in (./mcp.json or \
                 ~/.config/ferromcp/mcp.json; or pass --config FILE). TARGET is a URL, a server name, \
                 or `-- COMMAND ARGS…` at the end"
            ))
        })?,
    };
    let text = std::fs::read_to_string(&file)
        .map_err(|e| CliError::usage(format!("cannot read the config file {}: {e}", file.display())))?;
    let cfg = ProxyConfig::from_json(&text).map_err(|e| CliError::usage(format!("{}: {e}", file.display())))?;
    let names: Vec<&str> = cfg.backends.iter().map(|b| b.name.as_str()).collect();
    let backend = cfg.backends.iter().find(|b| b.name == word).ok_or_else(|| {
        CliError::usage(format!(
            "no server named `{word}` in {} (it has: {}); TARGET is a URL, a server name, or `-- COMMAND ARGS…`",
            file.display(),
            names.join(", ")
        ))
    })?;
    Ok(match &backend.kind {
        BackendKind::Http { url, headers } => Target::Http { url: url.clone(), headers: headers.clone() },
        BackendKind::Stdio { command, args, env, cwd } => {
            Target::Stdio { command: command.clone(), args: args.clone(), env: env.clone(), cwd: cwd.clone() }
        }
    })
}

fn era(e: EraArg) -> ClientEra {
    match e {
        EraArg::Auto => ClientEra::Auto,
        EraArg::Legacy => ClientEra::Legacy,
        EraArg::Modern => ClientEra::Modern,
    }
}

/// Connects to `target` with the terminal's handlers and the connection options.
pub async fn connect(target: &Target, conn: &Conn, term: &Arc<Terminal>) -> Result<Client, CliError> {
    let mut opts = ClientOptions::new(era(conn.era))
        .name("ferromcp-cli")
        .request_timeout(Duration::from_secs(conn.timeout.max(1)))
        .handlers(term.handlers());
    if let Some(level) = &conn.log_level {
        opts = opts.log_level(level.clone());
    }
    let what = format!("connecting to {}", target.describe());
    let client = match target {
        Target::Http { url, headers } => {
            for (k, v) in headers {
                opts = opts.header(k.clone(), v.clone());
            }
            for h in &conn.headers {
                let (k, v) = h
                    .split_once(':')
                    .filter(|(k, _)| !k.trim().is_empty())
                    .ok_or_else(|| CliError::usage(format!("--header takes `Name: value`, got `{h}`")))?;
                opts = opts.header(k.trim(), v.trim());
            }
            opts = match &conn.bearer {
                Some(token) => opts.auth(BearerToken::new(token.clone())),
                None => {
                    let hook = crate::oauth::BrowserRedirect::bind()
                        .map_err(|e| CliError::connection(format!("cannot listen for the OAuth redirect: {e}")))?;
                    let config = OAuthConfig::new(hook.redirect_uri()).client_name("ferromcp CLI");
                    opts.auth(OAuthClient::new(url.clone(), config).redirect_handler(hook))
                }
            };
            Client::connect_http(url, opts).await
        }
        Target::Stdio { command, args, env, cwd } => {
            if !conn.headers.is_empty() || conn.bearer.is_some() {
                return Err(CliError::usage("--header and --bearer apply to HTTP servers only"));
            }
            let mut cmd = tokio::process::Command::new(command);
            cmd.args(args).envs(env);
            if let Some(dir) = cwd {
                cmd.current_dir(dir);
            }
            Client::spawn(cmd, opts).await
        }
    };
    let client = client.map_err(|e| match e {
        ferromcp_client::ClientError::Io(io) if matches!(target, Target::Stdio { .. }) => {
            CliError::connection(format!("{what}: cannot start the server process: {io}"))
        }
        e => CliError::client(&what, e),
    })?;
    term.watch_logs(&client);
    Ok(client)
}
