//! `ferrobench auth`: the server CPU cost of bearer authentication per request, side
//! by side in one run: no authentication, a static bearer table, and JWT verification
//! (RS256, a JWKS fixed at startup so no network is involved) with its verified-token
//! cache (the normal case: a client reuses its token) and without it (a signature
//! check on every request: the cost of a token seen for the first time).
//!
//! Each mode is a fresh `serve-auth` server process (stateless, `tools/call add`,
//! pinned like S1's servers), driven by `--concurrency` closed-loop keep-alive workers
//! for `--warmup-s` + `--duration-s`. Server CPU per request = the server process's CPU
//! time in the window / validated answers. Verdict: PASS when JWT (cached) adds at most
//! [`TARGET_ADDED_US`] µs per request over no authentication.
//!
//! ```sh
//! cargo run --release -p ferrobench -- auth --duration-s 5
//! ```

use std::time::{Duration, Instant};

use ferromcp::auth::StaticBearer;
use ferromcp::http::{HttpAuth, HttpConfig};
use ferromcp::prelude::*;
use ferromcp::state::Principal;
use ferromcp_auth::JwtVerifier;
use hyper::header::{HeaderName, HeaderValue};

use crate::client::{Link, check_add, modern_add_body, modern_add_headers};
use crate::procs::{CpuWindow, ServerProc};

/// The most JWT (cached) may add to a request's server CPU, µs.
pub const TARGET_ADDED_US: f64 = 10.0;

const JWKS_BY_KID: &str = include_str!("../../../tests/fixtures/auth/jwks.json");
const SIGNING_KEY: &[u8] = include_bytes!("../../../tests/fixtures/auth/rsa-1.pem");
const ISSUER: &str = "https://issuer.bench/";
const AUDIENCE: &str = "http://127.0.0.1/mcp";
const STATIC_TOKEN: &str = "ferrobench-static-token";

/// The authentication a `serve-auth` server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// No authentication.
    None,
    /// `StaticBearer` with one token.
    Static,
    /// `JwtVerifier`, verified-token cache on.
    Jwt,
    /// `JwtVerifier` with the cache off: a signature check per request.
    JwtNocache,
}

impl AuthMode {
    const ALL: [AuthMode; 4] = [AuthMode::None, AuthMode::Static, AuthMode::Jwt, AuthMode::JwtNocache];
    fn arg(self) -> &'static str {
        match self {
            AuthMode::None => "none",
            AuthMode::Static => "static",
            AuthMode::Jwt => "jwt",
            AuthMode::JwtNocache => "jwt-nocache",
        }
    }
    fn label(self) -> &'static str {
        match self {
            AuthMode::None => "no auth",
            AuthMode::Static => "static bearer",
            AuthMode::Jwt => "JWT RS256 (cached)",
            AuthMode::JwtNocache => "JWT RS256 (verify every request)",
        }
    }
}

/// The JWKS document of the fixture keys.
fn jwks_document() -> String {
    let by_kid: serde_json::Value = serde_json::from_str(JWKS_BY_KID).expect("fixture JWKS");
    let keys: Vec<_> = by_kid.as_object().map(|m| m.values().cloned().collect()).unwrap_or_default();
    serde_json::json!({ "keys": keys }).to_string()
}

/// A token for `mode` (the JWT is valid for an hour).
fn token(mode: AuthMode) -> Result<Option<String>, String> {
    Ok(match mode {
        AuthMode::None => None,
        AuthMode::Static => Some(STATIC_TOKEN.to_owned()),
        AuthMode::Jwt | AuthMode::JwtNocache => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_err(|e| e.to_string())?;
            let claims = serde_json::json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "bench", "scope": "bench",
                "exp": now.as_secs() + 3600, "iat": now.as_secs()});
            let key = jsonwebtoken::EncodingKey::from_rsa_pem(SIGNING_KEY).map_err(|e| e.to_string())?;
            let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
            h.kid = Some("rsa-1".into());
            Some(jsonwebtoken::encode(&h, &claims, &key).map_err(|e| e.to_string())?)
        }
    })
}

#[tool]
async fn add(a: i64, b: i64) -> i64 {
    a + b
}

/// Serves `tools/call add` (stateless) with `mode`'s authentication.
pub fn serve(port: u16, mode: AuthMode, rt: crate::servers::RuntimeKind) -> std::io::Result<()> {
    crate::servers::runtime(rt)?.block_on(async move {
        let server = Server::builder("ferrobench-auth", "0.1.0").tool(add).build();
        let jwt = |cache: usize| {
            JwtVerifier::builder_with_jwks(jwks_document())
                .issuer(ISSUER)
                .audience(AUDIENCE)
                .cache_entries(cache)
                .build()
                .map_err(std::io::Error::other)
        };
        let cfg = HttpConfig::default().stateless();
        let cfg = match mode {
            AuthMode::None => cfg,
            AuthMode::Static => {
                cfg.auth(HttpAuth::required(StaticBearer::new().token(STATIC_TOKEN, Principal::new("bench"))))
            }
            AuthMode::Jwt => cfg.auth(HttpAuth::required(jwt(10_000)?)),
            AuthMode::JwtNocache => cfg.auth(HttpAuth::required(jwt(0)?)),
        };
        let listener = crate::servers::bind(port).await?;
        ferromcp::http::serve_listener(server, listener, cfg).await
    })
}

/// Settings of an `auth` run.
#[derive(Debug, Clone)]
pub struct AuthOpts {
    /// Closed-loop workers.
    pub concurrency: usize,
    /// Warm-up.
    pub warmup: Duration,
    /// Measured window.
    pub duration: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
    /// `--runtime` of the servers.
    pub runtime: &'static str,
}

/// One mode's figures.
#[derive(Debug, Clone)]
pub struct Row {
    /// The mode.
    pub mode: AuthMode,
    /// Validated answers per second.
    pub rps: f64,
    /// Server CPU µs per validated answer.
    pub cpu_us: f64,
    /// Failed requests in the window.
    pub errors: u64,
}

/// Runs every mode, one fresh server each.
pub async fn bench(o: &AuthOpts, server_cpu: Option<usize>) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for mode in AuthMode::ALL {
        let server =
            ServerProc::spawn(&["serve-auth", "--auth", mode.arg(), "--runtime", o.runtime], server_cpu).await?;
        eprintln!("ferrobench: auth `{}` (pid {}, port {})", mode.arg(), server.pid, server.port);
        let r = run(&server, mode, o).await;
        server.stop().await;
        rows.push(r?);
    }
    Ok(rows)
}

async fn run(server: &ServerProc, mode: AuthMode, o: &AuthOpts) -> Result<Row, String> {
    let mut headers = modern_add_headers();
    if let Some(t) = token(mode)? {
        let v = HeaderValue::from_str(&format!("Bearer {t}")).map_err(|e| e.to_string())?;
        headers.push((HeaderName::from_static("authorization"), v));
    }
    // One checked call first: a refused token fails the benchmark instead of timing 401s.
    check_add(&Link::new(server.port, o.timeout).post(modern_add_body(0, 2, 3), &headers).await?, 5)?;
    let start = Instant::now();
    let (from, end) = (start + o.warmup, start + o.warmup + o.duration);
    let workers: Vec<_> = (0..o.concurrency.max(1))
        .map(|w| {
            let (headers, port, timeout) = (headers.clone(), server.port, o.timeout);
            tokio::spawn(async move {
                let mut link = Link::new(port, timeout);
                let (mut ok, mut errors, mut i) = (0u64, 0u64, w as i64 * 1_000_000);
                while Instant::now() < end {
                    i += 1;
                    let t = Instant::now();
                    let good = match link.post(modern_add_body(i, i, 1), &headers).await {
                        Ok(a) => check_add(&a, i + 1).is_ok(),
                        Err(_) => false,
                    };
                    if t >= from {
                        if good { ok += 1 } else { errors += 1 }
                    }
                }
                (ok, errors)
            })
        })
        .collect();
    tokio::time::sleep_until(from.into()).await;
    let cpu = CpuWindow::start(server.pid);
    tokio::time::sleep_until(end.into()).await;
    let cpu = cpu.stop();
    let (mut ok, mut errors) = (0, 0);
    for w in workers {
        let (o, e) = w.await.map_err(|e| format!("worker: {e}"))?;
        ok += o;
        errors += e;
    }
    let cpu_us = if ok > 0 { cpu.server_cpu_s * 1e6 / ok as f64 } else { 0.0 };
    Ok(Row { mode, rps: ok as f64 / o.duration.as_secs_f64(), cpu_us, errors })
}

/// Prints the table and the verdict.
pub fn print(rows: &[Row], o: &AuthOpts) {
    let base = rows.iter().find(|r| r.mode == AuthMode::None).map_or(0.0, |r| r.cpu_us);
    println!(
        "\nauth: server CPU per request ({} workers, {:.0} s window, runtime {})",
        o.concurrency,
        o.duration.as_secs_f64(),
        o.runtime
    );
    println!("{:<34} {:>10} {:>14} {:>12} {:>7}", "mode", "req/s", "CPU µs/req", "added µs", "errors");
    for r in rows {
        println!("{:<34} {:>10.0} {:>14.2} {:>12.2} {:>7}", r.mode.label(), r.rps, r.cpu_us, r.cpu_us - base, r.errors);
    }
    if let Some(jwt) = rows.iter().find(|r| r.mode == AuthMode::Jwt) {
        let added = jwt.cpu_us - base;
        let verdict = if added <= TARGET_ADDED_US && jwt.errors == 0 { "PASS" } else { "FAIL" };
        println!(
            "verdict: {verdict} — JWT (cached JWKS and tokens) adds {added:.2} µs/request (target ≤ {TARGET_ADDED_US} µs)"
        );
    }
}
