//! Fuzzes the JSON-RPC envelope decoder (`ferromcp_core::jsonrpc::decode`), which
//! promises never to panic whatever the input, and the era rules that run on every
//! decoded request: `era::modern::validate` (without headers, as on stdio) and
//! `era::Method::parse`.

#![no_main]

use ferromcp_core::era::{self, Method};
use ferromcp_core::jsonrpc::{self, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match jsonrpc::decode(data) {
        Ok(Message::Request(req)) => {
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
    ferromcp_core::serde_json::from_slice::<ferromcp_core::serde_json::Value>(buf).is_ok()
}
