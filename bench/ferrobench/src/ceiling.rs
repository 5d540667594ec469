//! The raw axum + serde_json ceiling: one `POST /mcp` route that parses the JSON-RPC body
//! into a small struct, adds, and answers a canned MCP-shaped result. No MCP library, no
//! header checks: what HTTP + JSON alone cost. Shared by `serve-ceiling` and
//! `ferrobench-inproc`.

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::value::RawValue;

/// The ceiling app.
pub fn router() -> Router {
    Router::new().route("/mcp", post(ceiling_call))
}

/// The part of a `tools/call add` request the ceiling reads.
#[derive(serde::Deserialize)]
struct Call<'a> {
    #[serde(borrow)]
    id: &'a RawValue,
    method: &'a str,
    params: Params,
}

#[derive(serde::Deserialize)]
struct Params {
    arguments: AddArgs,
}

#[derive(serde::Deserialize)]
struct AddArgs {
    a: i64,
    b: i64,
}

fn json(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

async fn ceiling_call(body: Bytes) -> Response {
    let call: Call<'_> = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => {
            let msg = serde_json::to_string(&e.to_string()).unwrap_or_default();
            let err = format!(r#"{{"jsonrpc":"2.0","id":null,"error":{{"code":-32602,"message":{msg}}}}}"#);
            return json(StatusCode::BAD_REQUEST, err);
        }
    };
    if call.method != "tools/call" {
        let err = format!(
            r#"{{"jsonrpc":"2.0","id":{},"error":{{"code":-32601,"message":"Method not found"}}}}"#,
            call.id.get()
        );
        return json(StatusCode::OK, err);
    }
    let sum = call.params.arguments.a.wrapping_add(call.params.arguments.b);
    let body = format!(
        concat!(
            r#"{{"jsonrpc":"2.0","id":{id},"result":{{"resultType":"complete","#,
            r#""content":[{{"type":"text","text":"{sum}"}}],"structuredContent":{{"result":{sum}}}}}}}"#
        ),
        id = call.id.get(),
        sum = sum
    );
    json(StatusCode::OK, body)
}
