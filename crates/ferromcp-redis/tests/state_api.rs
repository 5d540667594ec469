//! The state API's limits on a server whose state lives in Redis (a `redis-server` of
//! the test's own), over the line-delimited in-process transport: the keys-per-scope
//! limit gives the same `-32602` error as on the memory store.

mod common;

use std::time::Duration;

use common::RedisServer;
use ferromcp_core::transport::{LineConfig, serve_io};
use ferromcp_core::{Context, Server, ToolDef};
use ferromcp_redis::RedisStore;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

fn arg(a: &Map<String, Value>) -> String {
    a.get("key").and_then(Value::as_str).unwrap_or_default().to_owned()
}

async fn server(redis: &RedisServer, max_keys: u64) -> Server {
    let store = RedisStore::connect(&redis.url()).await.expect("connect to the test redis");
    Server::builder("t", "1")
        .state_store(store)
        .max_state_keys_per_scope(max_keys)
        .tool(ToolDef::new("put").handler(|ctx: Context, a: Map<String, Value>| async move {
            ctx.state().set(&arg(&a), "x").await?;
            Ok::<_, ferromcp_core::Error>("stored")
        }))
        .tool(ToolDef::new("bump").handler(|ctx: Context, a: Map<String, Value>| async move {
            ctx.state().update(&arg(&a), |old: Option<u64>| old.unwrap_or(0) + 1).await
        }))
        .tool(
            ToolDef::new("forget")
                .handler(|ctx: Context, a: Map<String, Value>| async move { ctx.state().delete(&arg(&a)).await }),
        )
        .build()
}

/// One line-delimited connection (one legacy session, so one state scope).
struct Lines {
    write: tokio::io::WriteHalf<tokio::io::DuplexStream>,
    read: tokio::io::Lines<BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>>,
}

impl Lines {
    async fn open(server: Server) -> Lines {
        let (client, server_end) = tokio::io::duplex(1 << 16);
        let (sr, sw) = tokio::io::split(server_end);
        tokio::spawn(serve_io(server, sr, sw, LineConfig::default()));
        let (cr, write) = tokio::io::split(client);
        let mut lines = Lines { write, read: BufReader::new(cr).lines() };
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}}});
        assert!(lines.exchange(&init).await["result"]["protocolVersion"].is_string());
        lines
    }

    async fn exchange(&mut self, msg: &Value) -> Value {
        self.write.write_all(format!("{msg}\n").as_bytes()).await.unwrap();
        loop {
            let line = timeout(WAIT, self.read.next_line()).await.expect("answer in time").unwrap().expect("a line");
            let v: Value = serde_json::from_str(&line).unwrap();
            if v.get("method").is_none() {
                return v;
            }
        }
    }

    async fn call(&mut self, id: u64, tool: &str, key: &str) -> Value {
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": {"key": key}}});
        self.exchange(&msg).await
    }
}

fn assert_limit(v: &Value) {
    assert_eq!(v["error"]["code"], -32602, "{v}");
    let msg = v["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("max_state_keys_per_scope"), "the message names the limit: {msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scope_in_redis_holds_at_most_max_state_keys_per_scope_keys() {
    let redis = RedisServer::start();
    let shared = server(&redis, 3).await;
    let mut c = Lines::open(shared.clone()).await;
    let mut other = Lines::open(shared).await;
    for (i, k) in ["a", "b", "c"].into_iter().enumerate() {
        assert_eq!(c.call(i as u64 + 1, "put", k).await["result"]["content"][0]["text"], "stored");
    }
    assert_limit(&c.call(10, "put", "d").await);
    assert_limit(&c.call(11, "bump", "counter").await);
    let v = c.call(12, "put", "a").await;
    assert_eq!(v["result"]["content"][0]["text"], "stored", "overwriting a key at the limit works: {v}");
    assert_eq!(c.call(13, "forget", "b").await["result"]["structuredContent"]["result"], true);
    assert_eq!(c.call(14, "bump", "counter").await["result"]["structuredContent"]["result"], 1, "room again");
    assert_eq!(c.call(15, "bump", "counter").await["result"]["structuredContent"]["result"], 2);
    assert_limit(&c.call(16, "put", "e").await);
    let v = other.call(1, "put", "d").await;
    assert_eq!(v["result"]["content"][0]["text"], "stored", "another scope has its own count: {v}");
}
