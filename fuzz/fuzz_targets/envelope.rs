//! Fuzzes the JSON-RPC envelope decoder (`ferromcp_core::jsonrpc::decode`), which
//! promises never to panic whatever the input, and the era rules that run on every
//! decoded request: `era::modern::validate` (without headers, as on stdio) and
//! `era::Method::parse`. The decoder has its own JSON scanner, so the target also
//! checks it against `serde_json`: a parse error (-32700) exactly when the input is not
//! UTF-8 JSON, and a request's method as `serde_json` reads it.

#![no_main]

use ferromcp_core::era::{self, Method};
use ferromcp_core::jsonrpc::{self, Message};
use ferromcp_core::serde::de::IgnoredAny;
use ferromcp_core::serde_json;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let json_ok = std::str::from_utf8(data).is_ok_and(|t| serde_json::from_str::<IgnoredAny>(t).is_ok());
    let decoded = jsonrpc::decode(data);
    let parse_error = matches!(&decoded, Err(e) if e.error.code == -32700);
    assert_eq!(parse_error, !json_ok, "the scanner and serde_json disagree on whether this is JSON");
    match decoded {
        Ok(Message::Request(req)) => {
            // (A `Value` refuses lone surrogates that skipping accepts, so it may fail.)
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
                assert_eq!(v["method"].as_str(), Some(&*req.method), "method differs from serde_json's reading");
            }
            let _ = era::modern::validate(&req, None);
            if let Some(m) = Method::parse(&req.method) {
                assert_eq!(m.as_str(), req.method, "Method::parse must round-trip");
            }
        }
        Ok(Message::Notification(n)) => {
            let _ = Method::parse(&n.method);
        }
        Ok(Message::Response(_)) => {}
        Err(e) => {
            // Every decode error is a JSON-RPC error the transports can send as is.
            assert!(e.error.code < 0, "decode error with code {}", e.error.code);
            let mut buf = Vec::new();
            jsonrpc::write_error(&mut buf, e.id.as_ref(), &e.error);
            assert!(serde_json_ok(&buf), "write_error produced invalid JSON");
        }
    }
});

fn serde_json_ok(buf: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(buf).is_ok()
}
