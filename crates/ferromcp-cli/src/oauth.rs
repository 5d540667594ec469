//! The OAuth redirect hook of the CLI: opens the authorization URL in a browser (`open`
//! on macOS, `xdg-open` elsewhere; the URL is printed too, for when that fails) and
//! waits, on a loopback port bound up front, for the authorization server to send the
//! browser back.

use std::io::IsTerminal;
use std::time::Duration;

use ferromcp_client::oauth::{OAuthError, RedirectHandler};
use futures_util::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long the user has to finish authorizing in the browser.
const WAIT: Duration = Duration::from_secs(300);

/// Listens on `127.0.0.1:PORT/callback` for the redirect.
pub struct BrowserRedirect {
    listener: std::net::TcpListener,
    port: u16,
}

impl BrowserRedirect {
    /// Binds a free loopback port for the redirect URI.
    pub fn bind() -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        Ok(BrowserRedirect { listener, port })
    }

    /// The redirect URI to register.
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}/callback", self.port)
    }
}

/// Starts the browser on `url` without waiting for it (the opener may only return once
/// the redirect was served); false when no opener could be started.
fn open_browser(url: &str) -> bool {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    let child = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match child {
        Ok(mut c) => {
            // Reaped in the background.
            std::thread::spawn(move || c.wait());
            true
        }
        Err(_) => false,
    }
}

/// Reads one HTTP request's target path from the browser and answers it.
async fn one_redirect(listener: tokio::net::TcpListener) -> Result<String, OAuthError> {
    let io_err = |e: std::io::Error| OAuthError::Redirect(format!("reading the browser's redirect: {e}"));
    loop {
        let (mut sock, _) = listener.accept().await.map_err(io_err)?;
        let mut buf = vec![0u8; 8192];
        let mut len = 0;
        while len < buf.len() && !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
            match sock.read(&mut buf[len..]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => len += n,
            }
        }
        let head = String::from_utf8_lossy(&buf[..len]);
        let path = head.lines().next().and_then(|l| l.split_whitespace().nth(1)).unwrap_or("").to_owned();
        let (status, body) = if path.starts_with("/callback") {
            ("200 OK", "Authorization received: you can close this window and return to the terminal.")
        } else {
            ("404 Not Found", "Not the OAuth callback.")
        };
        let reply = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = sock.write_all(reply.as_bytes()).await;
        if path.starts_with("/callback") {
            return Ok(path);
        }
    }
}

impl RedirectHandler for BrowserRedirect {
    fn authorize<'a>(
        &'a self,
        authorization_url: &'a str,
        redirect_uri: &'a str,
    ) -> BoxFuture<'a, Result<String, OAuthError>> {
        Box::pin(async move {
            let std_listener = self.listener.try_clone().map_err(|e| OAuthError::Redirect(e.to_string()))?;
            std_listener.set_nonblocking(true).map_err(|e| OAuthError::Redirect(e.to_string()))?;
            let listener =
                tokio::net::TcpListener::from_std(std_listener).map_err(|e| OAuthError::Redirect(e.to_string()))?;
            let opened = open_browser(authorization_url);
            if !opened && !std::io::stdin().is_terminal() {
                return Err(OAuthError::Redirect(
                    "this server needs authorization, but no browser could be opened and there is no terminal to wait on; pass --bearer TOKEN (or FERROMCP_BEARER_TOKEN)".into(),
                ));
            }
            eprintln!("ferromcp: this server needs authorization; open this URL in a browser:\n  {authorization_url}");
            if !opened {
                eprintln!("ferromcp: (could not open a browser; open the URL above yourself)");
            }
            let path = tokio::time::timeout(WAIT, one_redirect(listener)).await.map_err(|_| {
                OAuthError::Redirect(format!("no redirect to {redirect_uri} within {} s", WAIT.as_secs()))
            })??;
            let base = redirect_uri.trim_end_matches("/callback");
            Ok(format!("{base}{path}"))
        })
    }
}
