//! The typed MCP methods of [`Client`]: tools, resources, prompts, completion, logging,
//! ping and discovery. Lists follow `nextCursor` to the end; `tools/call`,
//! `prompts/get` and `resources/read` run the MRTR loop in the modern era.

use std::collections::HashSet;

use ferromcp_core::protocol::{Prompt, Resource, ResourceTemplate, Tool};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::call::arguments;
use crate::client::Client;
use crate::error::{ClientError, Result};
use crate::options::ClientEra;
use crate::types::{CallToolOutcome, Completion, CompletionRef};

impl Client {
    async fn list_all<T: DeserializeOwned>(&self, method: &str, field: &str) -> Result<Vec<T>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        let mut seen = HashSet::new();
        loop {
            let params = match &cursor {
                Some(c) => json!({ "cursor": c }),
                None => json!({}),
            };
            let result = self.request(method, params).await?;
            let page = result.get(field).and_then(Value::as_array).ok_or_else(|| {
                ClientError::Decode(format!("`{method}` result has no `{field}` array"))
            })?;
            for item in page {
                let decoded = serde_json::from_value(item.clone()).map_err(|e| {
                    ClientError::Decode(format!("an entry of `{method}` is invalid ({e}): {item}"))
                })?;
                items.push(decoded);
            }
            match result.get("nextCursor").and_then(Value::as_str) {
                Some(next) if !next.is_empty() => {
                    if !seen.insert(next.to_owned()) {
                        return Err(ClientError::Decode(format!(
                            "`{method}` returned the cursor {next:?} twice; the server's pagination loops"
                        )));
                    }
                    cursor = Some(next.to_owned());
                }
                _ => return Ok(items),
            }
        }
    }

    /// Lists every tool (all pages). Tools whose `x-mcp-header` marks are invalid
    /// (SEP-2243: empty, not a header name, duplicated, or on a property that is not a
    /// string, integer or boolean) are left out, with a warning.
    pub async fn list_tools(&self) -> Result<Vec<Tool>> {
        let mut tools: Vec<Tool> = self.list_all("tools/list", "tools").await?;
        tools.retain(|t| {
            let schema = Value::Object((*t.input_schema).clone());
            match crate::transport::http::headers::invalid_marks(&schema) {
                Some(why) => {
                    tracing::warn!(tool = %t.name, "left out a tool with invalid x-mcp-header marks: {why}");
                    false
                }
                None => true,
            }
        });
        Ok(tools)
    }

    /// Calls a tool. `args` is anything that serializes to a JSON object (or `null`
    /// for none). A tool that fails in a way the model should see returns
    /// `Ok` with [`CallToolOutcome::is_error`]; protocol failures (unknown tool, bad
    /// params, missing capability) are [`ClientError::Protocol`].
    ///
    /// In the modern era, input the tool asks for (elicitation, sampling, roots) is
    /// answered by the client's handlers over MRTR rounds.
    pub async fn call_tool(&self, name: &str, args: impl Serialize) -> Result<CallToolOutcome> {
        self.call_tool_inner(name, args, None).await
    }

    /// Calls a tool with a progress token: the server's `notifications/progress` for
    /// this call carry `token` (receive them with [`Client::notifications`]).
    pub async fn call_tool_with_progress(
        &self,
        name: &str,
        args: impl Serialize,
        token: impl Into<Value>,
    ) -> Result<CallToolOutcome> {
        self.call_tool_inner(name, args, Some(token.into())).await
    }

    async fn call_tool_inner(
        &self,
        name: &str,
        args: impl Serialize,
        token: Option<Value>,
    ) -> Result<CallToolOutcome> {
        let call = self.tool_call(name).arguments(args);
        match token {
            Some(t) => call.progress_token(t).send().await,
            None => call.send().await,
        }
    }

    /// Lists every static resource (all pages).
    pub async fn list_resources(&self) -> Result<Vec<Resource>> {
        self.list_all("resources/list", "resources").await
    }

    /// Lists every resource template (all pages).
    pub async fn list_resource_templates(&self) -> Result<Vec<ResourceTemplate>> {
        self.list_all("resources/templates/list", "resourceTemplates")
            .await
    }

    /// Reads a resource; returns the result (`{"contents": [..]}`).
    pub async fn read_resource(&self, uri: &str) -> Result<Value> {
        self.read_resource_inner(uri, None).await
    }

    /// Like [`Client::read_resource`], with a caller-supplied tag: the server requests
    /// and notifications this read causes reach the `*_for_call` handlers and
    /// [`Client::events`] with a [`crate::CallInfo`] carrying `tag` (as
    /// [`crate::ToolCall::tag`] does for a tool call).
    pub async fn read_resource_tagged(&self, uri: &str, tag: impl Into<String>) -> Result<Value> {
        self.read_resource_inner(uri, Some(tag.into())).await
    }

    async fn read_resource_inner(&self, uri: &str, tag: Option<String>) -> Result<Value> {
        let sink = self.plain_sink("resources/read", uri, None, tag);
        self.request_rounds("resources/read", json!({ "uri": uri }), Some(&sink))
            .await
    }

    /// Lists every prompt (all pages).
    pub async fn list_prompts(&self) -> Result<Vec<Prompt>> {
        self.list_all("prompts/list", "prompts").await
    }

    /// Renders a prompt; returns the result (`{"description"?, "messages": [..]}`).
    pub async fn get_prompt(&self, name: &str, args: impl Serialize) -> Result<Value> {
        self.get_prompt_inner(name, args, None).await
    }

    /// Like [`Client::get_prompt`], with a caller-supplied tag (see
    /// [`Client::read_resource_tagged`]).
    pub async fn get_prompt_tagged(
        &self,
        name: &str,
        args: impl Serialize,
        tag: impl Into<String>,
    ) -> Result<Value> {
        self.get_prompt_inner(name, args, Some(tag.into())).await
    }

    async fn get_prompt_inner(
        &self,
        name: &str,
        args: impl Serialize,
        tag: Option<String>,
    ) -> Result<Value> {
        let mut params = json!({ "name": name });
        if let Some(a) = arguments("prompt", args)? {
            params["arguments"] = a;
        }
        let arguments = params.get("arguments").cloned();
        let sink = self.plain_sink("prompts/get", name, arguments, tag);
        self.request_rounds("prompts/get", params, Some(&sink))
            .await
    }

    /// Asks for completions of argument `argument` whose current value is `value`.
    pub async fn complete(
        &self,
        reference: CompletionRef,
        argument: &str,
        value: &str,
    ) -> Result<Completion> {
        let params = json!({
            "ref": reference.to_json(),
            "argument": { "name": argument, "value": value },
        });
        Completion::from_result(self.request("completion/complete", params).await?)
    }

    fn legacy_only(&self, method: &str, instead: &str) -> Result<()> {
        match self.era() {
            ClientEra::Legacy => Ok(()),
            ClientEra::Modern | ClientEra::Auto => Err(ClientError::Usage(format!(
                "`{method}` does not exist in 2026-07-28; {instead}"
            ))),
        }
    }

    /// Sets the minimum level of log notifications (legacy era).
    ///
    /// In the modern era set [`crate::ClientOptions::log_level`] instead: it is sent
    /// with every request.
    pub async fn set_log_level(&self, level: &str) -> Result<()> {
        self.legacy_only("logging/setLevel", "set `ClientOptions::log_level` instead")?;
        self.request("logging/setLevel", json!({ "level": level }))
            .await
            .map(drop)
    }

    /// Checks the server is alive (legacy era).
    pub async fn ping(&self) -> Result<()> {
        self.legacy_only("ping", "call `discover()` to check the server is alive")?;
        self.request("ping", json!({})).await.map(drop)
    }

    /// Subscribes to `notifications/resources/updated` for `uri` (legacy era).
    pub async fn subscribe_resource(&self, uri: &str) -> Result<()> {
        self.legacy_only("resources/subscribe", "use `subscriptions/listen`")?;
        self.request("resources/subscribe", json!({ "uri": uri }))
            .await
            .map(drop)
    }

    /// Ends a resource subscription (legacy era).
    pub async fn unsubscribe_resource(&self, uri: &str) -> Result<()> {
        self.legacy_only("resources/unsubscribe", "use `subscriptions/listen`")?;
        self.request("resources/unsubscribe", json!({ "uri": uri }))
            .await
            .map(drop)
    }

    /// Asks the server what it supports (`server/discover`, modern era); returns the raw
    /// result (`supportedVersions`, `capabilities`, `instructions`, `_meta`).
    pub async fn discover(&self) -> Result<Value> {
        if self.era() == ClientEra::Legacy {
            return Err(ClientError::Usage(
                "`server/discover` is a 2026-07-28 method; on 2025-11-25 the server described itself in `initialize`: see `server_info()`".into(),
            ));
        }
        self.request("server/discover", json!({})).await
    }
}
