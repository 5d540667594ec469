//! Attack 1: replaying another principal's sealed MRTR `requestState`.
//!
//! alice runs the 2026-07-28 eliciting tool `test_input_required_result_request_state`
//! (it memoises a value with `ctx.once` and asks for a confirmation); bob (and an
//! anonymous caller) retry with her `requestState` and her answer. Each replay must be
//! refused with -32602, while alice's own retry completes. Key rotation: state sealed
//! under a previous key stays valid while that key is still listed, and is refused once
//! it is removed.

use serde_json::{Value, json};

use crate::support::*;

/// 32 bytes of key material each, as the contract recommends (64 hex characters).
const KEY_A: &str = "5f1d3c0b9a8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6b5a4938271605f4e";
const KEY_B: &str = "a0b1c2d3e4f5061728394a5b6c7d8e9f00112233445566778899aabbccddeeff";
const TOOL: &str = "test_input_required_result_request_state";
/// A replay that is refused keeps nothing: the server may not grow by more than this
/// (runtime and allocator slack only).
const REPLAY_GROWTH_MIB: u64 = 16;

fn caps() -> Value {
    json!({"elicitation": {}})
}

fn tokens(key_args: &[&'static str]) -> Vec<&'static str> {
    let mut a = vec!["--token", "alice-token=alice", "--token", "bob-token=bob"];
    for k in key_args {
        a.extend(["--sealing-key", k]);
    }
    a
}

/// Round 1 as alice: an `input_required` result; its `requestState`.
async fn alice_round_one(conn: &mut Conn) -> String {
    let id = json!("alice-1");
    let r = conn.send(modern_call(&id, TOOL, json!({}), caps(), Some("alice-token"))).await;
    let v = r.reply(&id);
    assert_eq!(v["result"]["resultType"], "input_required", "round 1: {v}");
    v["result"]["requestState"].as_str().unwrap_or_else(|| panic!("no requestState: {v}")).to_owned()
}

fn retry_params(state: &str) -> Value {
    json!({
        "arguments": {},
        "inputResponses": {"confirm": {"action": "accept", "content": {"ok": true}}},
        "requestState": state,
    })
}

/// The retry with `state` as `token`: the JSON-RPC message answering it.
async fn retry(conn: &mut Conn, id: &str, state: &str, token: Option<&str>) -> (u16, Value) {
    let id = json!(id);
    let r = conn.send(modern_call(&id, TOOL, retry_params(state), caps(), token)).await;
    (r.status, r.reply(&id))
}

fn assert_completes(v: &Value) {
    assert_eq!(v["result"]["resultType"], "complete", "alice's retry: {v}");
    assert_eq!(result_text(v), "state-ok: confirmed=true", "{v}");
}

#[test]
fn a_request_state_minted_for_alice_is_refused_for_bob() {
    run("sealing/replay", async {
        let replays: usize = pick(200, 2_000);
        let server = ServerProc::http(&tokens(&[KEY_A]));
        let mut conn = Conn::open(server.addr).await;
        let state = alice_round_one(&mut conn).await;
        let baseline = server.rss_kib();
        let sampler = server.sampler();
        let prober = Prober::start(server.addr);

        let (status, first) = retry(&mut conn, "bob-0", &state, Some("bob-token")).await;
        eprintln!("bob's replay of alice's requestState: HTTP {status}, {first}");
        assert_eq!(error_code(&first), INVALID_PARAMS, "bob's replay: {first}");
        for i in 1..replays {
            let (_, v) = retry(&mut conn, &format!("bob-{i}"), &state, Some("bob-token")).await;
            assert_eq!(error_code(&v), INVALID_PARAMS, "bob's replay {i}: {v}");
        }
        // An anonymous caller is refused too (401 if the server requires a token).
        let id = json!("anon");
        let r = conn.send(modern_call(&id, TOOL, retry_params(&state), caps(), None)).await;
        if r.status != 401 {
            assert_eq!(error_code(&r.reply(&id)), INVALID_PARAMS, "an anonymous replay: {}", r.text());
        }

        prober.finish("sealing: during bob's replays").await;
        assert_growth(&format!("sealing: {replays} replays"), baseline, sampler.stop(), REPLAY_GROWTH_MIB);
        // alice still completes with her own state; the server serves normally.
        let (_, v) = retry(&mut conn, "alice-2", &state, Some("alice-token")).await;
        assert_completes(&v);
        assert_serves(server.addr, "sealing: after the replays").await;
    });
}

#[test]
fn rotated_keys_accept_a_previous_key_and_refuse_a_removed_one() {
    run("sealing/rotation", async {
        let state = {
            let server = ServerProc::http(&tokens(&[KEY_A]));
            alice_round_one(&mut Conn::open(server.addr).await).await
        };
        {
            // KEY_B is current, KEY_A still accepted: the retry in flight completes.
            let server = ServerProc::http(&tokens(&[KEY_B, KEY_A]));
            let (_, v) = retry(&mut Conn::open(server.addr).await, "alice-2", &state, Some("alice-token")).await;
            assert_completes(&v);
        }
        // KEY_A removed: the same state is refused.
        let server = ServerProc::http(&tokens(&[KEY_B]));
        let (status, v) = retry(&mut Conn::open(server.addr).await, "alice-3", &state, Some("alice-token")).await;
        eprintln!("state under a removed key: HTTP {status}, {v}");
        assert_eq!(error_code(&v), INVALID_PARAMS, "state under a removed key: {v}");
        assert_serves(server.addr, "sealing: after rotation").await;
    });
}
