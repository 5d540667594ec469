//! The well-behaved client of every abuse test: a fresh connection and one modern
//! `tools/call test_simple_text`, answered within [`WELL_BEHAVED`] — once, or every
//! 250 ms in the background while an attack runs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use crate::support::{WAIT, WELL_BEHAVED, modern_call};

/// A well-behaved modern client: a fresh connection and one `tools/call test_simple_text`.
/// Returns how long it took, or why it failed.
pub async fn probe_once(addr: SocketAddr) -> Result<Duration, String> {
    let started = Instant::now();
    let exchange = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.map_err(|e| format!("handshake: {e}"))?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        let id = json!("probe");
        let req = modern_call(&id, "test_simple_text", json!({}), json!({}), None);
        let resp = sender.send_request(req.into_hyper(addr)).await;
        let resp = resp.map_err(|e| format!("request: {e}"))?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.map_err(|e| format!("body: {e}"))?.to_bytes();
        driver.abort();
        let v: Value = serde_json::from_slice(&body).map_err(|_| format!("status {status}: not JSON"))?;
        match v["result"]["content"][0]["text"].as_str() {
            Some(t) if status == 200 && t.starts_with("This is a simple text") => Ok(()),
            _ => Err(format!("status {status}: {v}")),
        }
    };
    match timeout(WELL_BEHAVED, exchange).await {
        Ok(Ok(())) => Ok(started.elapsed()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("no answer within {WELL_BEHAVED:?}")),
    }
}

/// Asserts that a well-behaved client is served now.
pub async fn assert_serves(addr: SocketAddr, when: &str) {
    match probe_once(addr).await {
        Ok(d) => eprintln!("{when}: a well-behaved client was answered in {} ms", d.as_millis()),
        Err(e) => panic!("{when}: a well-behaved client was not served: {e}"),
    }
}

/// A well-behaved client probing every 250 ms in the background while an attack runs.
pub struct Prober {
    stop: Arc<AtomicBool>,
    task: JoinHandle<Vec<Result<Duration, String>>>,
}

impl Prober {
    pub fn start(addr: SocketAddr) -> Prober {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            while !s.load(Ordering::Relaxed) {
                seen.push(probe_once(addr).await);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            seen
        });
        Prober { stop, task }
    }

    /// Stops probing and asserts every probe was answered within [`WELL_BEHAVED`]
    /// (at least one probe ran); prints the figures.
    pub async fn finish(self, during: &str) {
        self.stop.store(true, Ordering::Relaxed);
        let seen = timeout(WAIT, self.task).await.expect("the prober stops").expect("the prober ran");
        let ok: Vec<Duration> = seen.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
        let failed: Vec<&String> = seen.iter().filter_map(|r| r.as_ref().err()).collect();
        let mut sorted = ok.clone();
        sorted.sort();
        let p50 = sorted.get(sorted.len() / 2).map_or(0, Duration::as_millis);
        let max = sorted.last().map_or(0, Duration::as_millis);
        eprintln!(
            "{during}: well-behaved client: {} probes, {} answered (p50 {p50} ms, max {max} ms), {} failed",
            seen.len(),
            ok.len(),
            failed.len()
        );
        assert!(!seen.is_empty(), "{during}: no probe ran");
        assert!(
            failed.is_empty(),
            "{during}: a well-behaved client was not served: {:?}",
            &failed[..failed.len().min(3)]
        );
    }
}
