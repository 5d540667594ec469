//! Multi-round-trip requests (MRTR, 2026-07-28).
//!
//! A modern `tools/call`, `prompts/get` or `resources/read` may end with
//! `{"resultType": "input_required", "inputRequests": {key: {method, params}},
//! "requestState": ".."}`. The client answers every input request locally with its
//! [`crate::ClientHandlers`] (the same handlers that serve legacy server→client
//! requests), then retries the same method and params under a new JSON-RPC id, adding
//! `inputResponses: {key: result}` and echoing `requestState` verbatim. After
//! [`MAX_ROUNDS`] answered rounds the client gives up with
//! [`ClientError::TooManyRounds`].

use std::sync::Arc;

use futures_util::future::try_join_all;
use serde_json::{Map, Value, json};

use crate::client::Client;
use crate::error::{ClientError, Result};
use crate::options::{ClientEra, ClientHandlers};
use crate::routing::{CallInfo, CallSink};

/// The most `input_required` rounds a call answers before giving up.
pub const MAX_ROUNDS: usize = 10;

/// Whether a result asks for input (`resultType: "input_required"`).
pub fn is_input_required(result: &Value) -> bool {
    result.get("resultType").and_then(Value::as_str) == Some("input_required")
}

/// Answers every entry of an `input_required` result's `inputRequests` with `handlers`,
/// concurrently; returns the `inputResponses` object.
pub(crate) async fn answer(
    handlers: &ClientHandlers,
    result: &Value,
    call: Option<&Arc<CallInfo>>,
) -> Result<Map<String, Value>> {
    let requests = result
        .get("inputRequests")
        .and_then(Value::as_object)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            ClientError::Decode(format!(
                "an `input_required` result needs a non-empty `inputRequests` object: {result}"
            ))
        })?;
    let asks = requests.iter().map(|(key, req)| async move {
        let method = req.get("method").and_then(Value::as_str).ok_or_else(|| {
            ClientError::Decode(format!(
                "inputRequests[{key:?}] has no string `method`: {req}"
            ))
        })?;
        let params = req.get("params").cloned().unwrap_or_else(|| json!({}));
        let answer = handlers
            .dispatch(method, params, call.cloned())
            .await
            .map_err(|error| ClientError::Handler {
                method: method.to_owned(),
                error: Box::new(error),
            })?;
        Ok::<_, ClientError>((key.clone(), answer))
    });
    Ok(try_join_all(asks).await?.into_iter().collect())
}

impl Client {
    /// Answers the `inputRequests` of an `input_required` result with this client's
    /// handlers and returns the `inputResponses` object to send on the retry.
    ///
    /// [`Client::call_tool`], [`Client::get_prompt`] and [`Client::read_resource`] do
    /// this for you; use it to drive rounds by hand with [`Client::request`].
    pub async fn answer_input_requests(&self, result: &Value) -> Result<Value> {
        answer(&self.inner.opts.handlers, result, None)
            .await
            .map(Value::Object)
    }

    /// Sends a request on behalf of `call`; in the modern era, runs the MRTR loop until
    /// the result is complete, answering input requests with `call` attached.
    pub(crate) async fn request_rounds(
        &self,
        method: &str,
        params: Value,
        call: Option<&Arc<CallSink>>,
    ) -> Result<Value> {
        if self.era() == ClientEra::Legacy {
            return self.request_in(method, params, call).await;
        }
        let mut params = match params {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            other => {
                return Err(ClientError::Usage(format!(
                    "`{method}` params must be a JSON object, not {other}"
                )));
            }
        };
        let mut rounds = 0;
        loop {
            let result = self
                .request_in(method, Value::Object(params.clone()), call)
                .await?;
            if !is_input_required(&result) {
                return Ok(result);
            }
            if rounds == MAX_ROUNDS {
                return Err(ClientError::TooManyRounds {
                    method: method.to_owned(),
                    rounds,
                });
            }
            rounds += 1;
            let info = call.map(|c| &c.info);
            let responses = answer(&self.inner.opts.handlers, &result, info).await?;
            params.insert("inputResponses".into(), Value::Object(responses));
            match result.get("requestState") {
                Some(Value::String(s)) => {
                    params.insert("requestState".into(), Value::String(s.clone()));
                }
                None | Some(Value::Null) => {
                    params.remove("requestState");
                }
                Some(other) => {
                    return Err(ClientError::Decode(format!(
                        "`requestState` must be a string, got {other}"
                    )));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn input_requests_are_answered_by_key() {
        let handlers = ClientHandlers::new()
            .elicitation(|p| async move { Ok(json!({"action": "accept", "echo": p["message"]})) })
            .roots(|_| async { Ok(json!({"roots": []})) });
        let result = json!({
            "resultType": "input_required",
            "inputRequests": {
                "name": {"method": "elicitation/create", "params": {"message": "who?"}},
                "r": {"method": "roots/list"}
            },
            "requestState": "s"
        });
        assert!(is_input_required(&result));
        let answers = answer(&handlers, &result, None).await.unwrap_or_default();
        assert_eq!(answers["name"], json!({"action": "accept", "echo": "who?"}));
        assert_eq!(answers["r"], json!({"roots": []}));
    }

    #[tokio::test]
    async fn missing_handlers_and_bad_shapes_are_errors() {
        let handlers = ClientHandlers::new();
        let ask =
            json!({"inputRequests": {"k": {"method": "sampling/createMessage", "params": {}}}});
        let err = answer(&handlers, &ask, None).await.err();
        assert!(
            matches!(err, Some(ClientError::Handler { method, .. }) if method == "sampling/createMessage")
        );
        let empty = json!({"resultType": "input_required", "inputRequests": {}});
        assert!(matches!(
            answer(&handlers, &empty, None).await,
            Err(ClientError::Decode(_))
        ));
    }
}
