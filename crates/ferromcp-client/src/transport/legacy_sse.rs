//! The 2024-11-05 HTTP+SSE client transport, for old servers.
//!
//! `GET <sse url>` opens the stream; its first event is `event: endpoint` whose data is
//! the URL (usually relative) to POST every client message to. Every server message
//! (responses, notifications, server requests) arrives on the stream as
//! `event: message`. The transport turns this into a newline-delimited byte stream so the
//! line connection (`crate::connection`) runs on top unchanged: one task copies stream
//! events into the pipe, one POSTs each line the client writes.
//!
//! Like stdio, this transport cannot say which call a server request or log belongs to.

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{RequestBuilder, StatusCode, Url};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, ReadHalf, WriteHalf};
use tokio::task::JoinHandle;

use crate::auth::{refused, send_noting_auth};
use crate::error::{ClientError, Result};
use crate::options::HttpOptions;
use crate::transport::http::post::{error_from_response, transport_error};
use crate::transport::http::sse::SseReader;

/// The pipe between the adapter tasks and the line connection.
const PIPE_BYTES: usize = 1 << 20;

/// An open HTTP+SSE connection as a byte stream, and the tasks that carry it.
pub(crate) struct LegacySse {
    pub(crate) read: ReadHalf<DuplexStream>,
    pub(crate) write: WriteHalf<DuplexStream>,
    pub(crate) tasks: Vec<JoinHandle<()>>,
}

async fn with_headers(b: RequestBuilder, opts: &HttpOptions) -> Result<RequestBuilder> {
    let mut b = b;
    for (k, v) in &opts.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    if let Some(auth) = &opts.auth
        && let Some(value) = auth.authorization().await?
    {
        b = b.header(AUTHORIZATION, value);
    }
    Ok(b)
}

/// Opens the stream at `url` and waits up to `wait` for its `endpoint` event.
pub(crate) async fn connect(url: &str, opts: &HttpOptions, wait: Duration) -> Result<LegacySse> {
    let url = Url::parse(url).map_err(|e| {
        ClientError::Usage(format!(
            "`{url}` is not a valid URL ({e}); give the SSE endpoint, e.g. http://127.0.0.1:3001/sse"
        ))
    })?;
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| ClientError::Connect(format!("could not build the HTTP client: {e}")))?;
    let mut attempt = 0;
    let resp = loop {
        let get = http.get(url.clone()).header(ACCEPT, "text/event-stream");
        let (resp, auth_sent) = send_noting_auth(with_headers(get, opts).await?)
            .await
            .map_err(transport_error)?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            refused(opts, &resp, url.as_str(), attempt, auth_sent).await?;
            attempt += 1;
            continue;
        }
        if !status.is_success() {
            return Err(error_from_response(resp).await);
        }
        break resp;
    };
    let mut events = SseReader::new(Box::pin(resp.bytes_stream()));
    let endpoint = tokio::time::timeout(wait, async {
        loop {
            match events.next().await {
                Some(Ok(ev)) if ev.event.as_deref() == Some("endpoint") => return Ok(ev.data),
                Some(Ok(_)) => continue,
                Some(Err(e)) => {
                    return Err(ClientError::Connect(format!("the SSE stream broke: {e}")));
                }
                None => return Err(ClientError::Closed),
            }
        }
    })
    .await
    .map_err(|_| ClientError::Timeout {
        method: "GET (HTTP+SSE endpoint event)".into(),
        after: wait,
    })??;
    let post_url = url.join(endpoint.trim()).map_err(|e| {
        ClientError::Decode(format!(
            "the server's endpoint event {endpoint:?} is not a URL: {e}"
        ))
    })?;
    let (client_end, adapter_end) = tokio::io::duplex(PIPE_BYTES);
    let (from_client, mut to_client) = tokio::io::split(adapter_end);
    let inbound = tokio::spawn(async move {
        while let Some(Ok(ev)) = events.next().await {
            let is_message = matches!(ev.event.as_deref(), None | Some("message"));
            if !is_message || ev.data.trim().is_empty() {
                continue;
            }
            let line = ev.data.replace(['\r', '\n'], " ");
            if to_client.write_all(line.as_bytes()).await.is_err()
                || to_client.write_all(b"\n").await.is_err()
            {
                break;
            }
        }
        // Dropping the write half ends the client's reader: the connection closes.
    });
    let opts = opts.clone();
    let outbound = tokio::spawn(async move {
        let mut lines = BufReader::new(from_client).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let post = http
                .post(post_url.clone())
                .header(CONTENT_TYPE, "application/json")
                .body(line);
            let sent = match with_headers(post, &opts).await {
                Ok(b) => b.send().await,
                Err(e) => {
                    tracing::warn!(error = %e, "could not authorize an HTTP+SSE message");
                    continue;
                }
            };
            match sent {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => {
                    tracing::warn!(status = %r.status(), "the server refused an HTTP+SSE message")
                }
                Err(e) => tracing::warn!(error = %e, "could not POST an HTTP+SSE message"),
            }
        }
    });
    let (read, write) = tokio::io::split(client_end);
    Ok(LegacySse {
        read,
        write,
        tasks: vec![inbound, outbound],
    })
}
