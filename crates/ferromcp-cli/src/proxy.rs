//! `ferromcp proxy`: mounts the servers of an `mcpServers` file with `ferromcp-proxy` and
//! serves them over Streamable HTTP (or stdio), as `examples/proxy.rs` does. The
//! `FERROMCP_*` variables apply (host, port, path, …); flags win over them.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use ferromcp_http::Settings;
use ferromcp_http::settings::LogFormat;
use ferromcp_proxy::{Proxy, ProxyConfig};

use crate::CliError;

/// The arguments of `ferromcp proxy`.
#[derive(clap::Args, Debug)]
pub struct ProxyArgs {
    /// The configuration file (`{"mcpServers": {…}}`).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Port for Streamable HTTP (default: FERROMCP_PORT, else 3002).
    #[arg(long)]
    port: Option<u16>,
    /// Address to bind (default: FERROMCP_HOST, else 127.0.0.1).
    #[arg(long)]
    host: Option<IpAddr>,
    /// Serve over stdin/stdout instead of HTTP.
    #[arg(long)]
    stdio: bool,
}

fn init_logging(env: &Settings) -> Result<(), CliError> {
    let filter = match &env.log {
        Some(f) => tracing_subscriber::EnvFilter::try_new(f)
            .map_err(|e| CliError::usage(format!("FERROMCP_LOG={f:?} is invalid: {e}")))?,
        None => tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
    };
    let fmt = tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter);
    match env.log_format.unwrap_or_default() {
        LogFormat::Text => fmt.init(),
        LogFormat::Json => fmt.json().init(),
    }
    Ok(())
}

/// Runs the proxy until the process ends.
pub async fn run(args: ProxyArgs) -> Result<(), CliError> {
    let env = Settings::from_env().map_err(|e| CliError::usage(e.to_string()))?;
    init_logging(&env)?;
    let text = std::fs::read_to_string(&args.config)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", args.config.display())))?;
    let config =
        ProxyConfig::from_json(&text).map_err(|e| CliError::usage(format!("{}: {e}", args.config.display())))?;
    let server =
        Proxy::new(config).build().await.map_err(|e| CliError::connection(format!("starting the proxy: {e}")))?;
    if args.stdio {
        return ferromcp_core::transport::serve_stdio(server)
            .await
            .map_err(|e| CliError::connection(format!("serving stdio: {e}")));
    }
    let default = env.addr(SocketAddr::from(([127, 0, 0, 1], 3002)));
    let addr = SocketAddr::new(args.host.unwrap_or(default.ip()), args.port.unwrap_or(default.port()));
    let cfg = env.apply_http(ferromcp_http::HttpConfig::default());
    let listener =
        tokio::net::TcpListener::bind(addr).await.map_err(|e| CliError::connection(format!("binding {addr}: {e}")))?;
    let bound = listener.local_addr().unwrap_or(addr);
    eprintln!("ferromcp proxy on http://{bound}{}", cfg.path);
    ferromcp_http::serve_listener(server, listener, cfg)
        .await
        .map_err(|e| CliError::connection(format!("serving on {bound}: {e}")))
}
