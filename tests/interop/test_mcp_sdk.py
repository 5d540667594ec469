"""The official MCP Python SDK (`mcp` 2.3.0) drives `examples/everything`.

Every test runs over stdio and Streamable HTTP, and in both protocol eras:

* legacy -- `Client(mode="legacy")`: the 2025-11-25 `initialize` handshake; elicitation
  and sampling reach the client as real server->client JSON-RPC requests.
* modern -- `Client(mode="auto")`: the SDK probes `server/discover` and adopts 2026-07-28;
  elicitation and sampling come back as `InputRequiredResult` rounds (MRTR) that the SDK
  answers through the same callbacks and retries.
"""

from __future__ import annotations

import base64
import json
import warnings
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.subscriptions import ResourceUpdated, ToolsListChanged
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError

from support import (
    CALL_TIMEOUT,
    EXPECTED_PROMPTS,
    EXPECTED_RESOURCES,
    EXPECTED_TOOLS,
    LEGACY_VERSION,
    LOG_MESSAGES,
    MODERN_VERSION,
    SERVER_NAME,
    SIMPLE_TEXT,
    STATIC_TEXT,
    texts,
)

INVALID_PARAMS = -32602
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _server(server_target: tuple[str, str]) -> StdioServerParameters | str:
    kind, where = server_target
    if kind == "stdio":
        return StdioServerParameters(command=where, args=["--stdio"])
    return where


@asynccontextmanager
async def connect(server_target: tuple[str, str], era: str, **kwargs: Any):
    """A connected `mcp.Client` in the requested era; asserts the negotiated version."""
    mode = "legacy" if era == "legacy" else "auto"
    if era == "modern":
        # 2026-07-28 delivers log messages only to requests that opt in with a level.
        kwargs.setdefault("log_level", "debug")
    async with Client(_server(server_target), mode=mode, read_timeout_seconds=CALL_TIMEOUT, **kwargs) as client:
        expected = LEGACY_VERSION if era == "legacy" else MODERN_VERSION
        assert client.protocol_version == expected, f"negotiated {client.protocol_version!r}, wanted {expected!r}"
        yield client


class Recorder:
    """Client-side handlers that record what the server asked for."""

    def __init__(self) -> None:
        self.elicitations: list[types.ElicitRequestParams] = []
        self.samplings: list[types.CreateMessageRequestParams] = []
        self.logs: list[types.LoggingMessageNotificationParams] = []
        self.progress: list[tuple[float, float | None, str | None]] = []

    async def elicit(self, context, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.elicitations.append(params)
        properties = (getattr(params, "requested_schema", None) or {}).get("properties", {})
        if "name" in properties:
            return types.ElicitResult(action="accept", content={"name": "Ada"})
        return types.ElicitResult(action="accept", content={"username": "u", "email": "e@x"})

    async def sample(self, context, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        self.samplings.append(params)
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text="pong from python"),
            model="interop-fake-llm",
            stop_reason="endTurn",
        )

    async def log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append(params)

    async def on_progress(self, progress: float, total: float | None, message: str | None) -> None:
        self.progress.append((progress, total, message))

    def handlers(self) -> dict[str, Any]:
        return {
            "elicitation_callback": self.elicit,
            "sampling_callback": self.sample,
            "logging_callback": self.log,
        }


# --------------------------------------------------------------------------- lifecycle & tools


async def test_initialize_and_list_tools(server_target, era):
    async with connect(server_target, era) as client:
        assert client.server_info is not None
        assert client.server_info.name == SERVER_NAME
        assert client.server_capabilities.tools is not None
        listed = await client.list_tools()
        names = {tool.name for tool in listed.tools}
        missing = EXPECTED_TOOLS - names
        assert not missing, f"tools/list lacks {sorted(missing)}"
        by_name = {tool.name: tool for tool in listed.tools}
        assert by_name["test_sampling"].input_schema["properties"]["prompt"]["type"] == "string"
        assert "prompt" in by_name["test_sampling"].input_schema.get("required", [])


async def test_simple_text(server_target, era):
    async with connect(server_target, era) as client:
        result = await client.call_tool("test_simple_text", {})
        assert result.is_error is False
        assert texts(result.content) == [SIMPLE_TEXT]


async def test_tool_with_arguments(server_target, era):
    async with connect(server_target, era) as client:
        await client.list_tools()  # 2026-07-28 mirrors x-mcp-header arguments; the SDK needs the schema
        result = await client.call_tool("test_header_param", {"region": "eu-west-1"})
        assert result.is_error is False
        assert texts(result.content) == ["region=eu-west-1"]


async def test_content_types(server_target, era):
    async with connect(server_target, era) as client:
        image = await client.call_tool("test_image_content", {})
        assert [(b.type, b.mime_type) for b in image.content] == [("image", "image/png")]
        assert base64.b64decode(image.content[0].data).startswith(PNG_MAGIC)
        mixed = await client.call_tool("test_multiple_content_types", {})
        assert [b.type for b in mixed.content] == ["text", "image", "resource"]
        embedded = mixed.content[2].resource
        assert str(embedded.uri) == "test://mixed-content-resource"
        assert json.loads(embedded.text) == {"test": "data", "value": 123}


async def test_modern_version_pin_without_probe(server_target):
    """`mode="2026-07-28"` adopts the era directly (no discover probe)."""
    async with Client(_server(server_target), mode=MODERN_VERSION, read_timeout_seconds=CALL_TIMEOUT) as client:
        assert client.protocol_version == MODERN_VERSION
        result = await client.call_tool("test_simple_text", {})
        assert texts(result.content) == [SIMPLE_TEXT]


# --------------------------------------------------------------------------- progress & logging


async def test_progress(server_target, era):
    rec = Recorder()
    async with connect(server_target, era) as client:
        result = await client.call_tool("test_tool_with_progress", {}, progress_callback=rec.on_progress)
        assert texts(result.content) == ["Progress test completed"]
    values = [p for p, _, _ in rec.progress]
    assert len(values) >= 3, f"progress notifications: {rec.progress}"
    assert values == sorted(values), f"progress went backwards: {values}"
    assert values[-1] == 100
    assert all(total == 100 for _, total, _ in rec.progress)


async def test_logging(server_target, era):
    rec = Recorder()
    async with connect(server_target, era, logging_callback=rec.log) as client:
        result = await client.call_tool("test_tool_with_logging", {})
        assert texts(result.content) == ["Logging test completed"]
    assert [m.data for m in rec.logs] == LOG_MESSAGES
    assert {m.level for m in rec.logs} == {"info"}


async def test_legacy_set_level_filters(server_target):
    """On 2025-11-25 `logging/setLevel warning` suppresses the tool's `info` messages."""
    rec = Recorder()
    async with connect(server_target, "legacy", logging_callback=rec.log) as client:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)  # deprecated on 2026-07-28 only
            await client.set_logging_level("warning")
        result = await client.call_tool("test_tool_with_logging", {})
        assert texts(result.content) == ["Logging test completed"]
    assert rec.logs == []


async def test_modern_logging_requires_opt_in(server_target):
    """On 2026-07-28 a request without the logLevel opt-in gets no log notifications."""
    rec = Recorder()
    async with Client(
        _server(server_target), mode="auto", read_timeout_seconds=CALL_TIMEOUT, logging_callback=rec.log, log_level=None
    ) as client:
        assert client.protocol_version == MODERN_VERSION
        result = await client.call_tool("test_tool_with_logging", {})
        assert texts(result.content) == ["Logging test completed"]
    assert rec.logs == []


async def test_modern_log_level_filters(server_target):
    """On 2026-07-28 the opt-in level filters: `warning` suppresses the tool's `info` messages."""
    rec = Recorder()
    async with Client(
        _server(server_target), mode="auto", read_timeout_seconds=CALL_TIMEOUT, logging_callback=rec.log, log_level="warning"
    ) as client:
        result = await client.call_tool("test_tool_with_logging", {})
        assert texts(result.content) == ["Logging test completed"]
    assert rec.logs == []


# --------------------------------------------------------------------------- elicitation & sampling


async def test_elicitation(server_target, era):
    rec = Recorder()
    async with connect(server_target, era, **rec.handlers()) as client:
        result = await client.call_tool("test_elicitation", {"message": "hi"})
    assert result.is_error is False
    (text,) = texts(result.content)
    assert text.startswith("User response: ")
    assert "action=accept" in text
    assert '"username":"u"' in text
    assert '"email":"e@x"' in text
    assert len(rec.elicitations) == 1
    asked = rec.elicitations[0]
    assert asked.message == "hi"
    assert set(asked.requested_schema["properties"]) == {"username", "email"}


async def test_elicitation_decline(server_target, era):
    async def decline(context, params):
        return types.ElicitResult(action="decline")

    async with connect(server_target, era, elicitation_callback=decline) as client:
        result = await client.call_tool("test_elicitation", {"message": "hi"})
    (text,) = texts(result.content)
    assert "action=decline" in text


async def test_input_required_elicitation(server_target, era):
    rec = Recorder()
    async with connect(server_target, era, **rec.handlers()) as client:
        result = await client.call_tool("test_input_required_result_elicitation", {})
    assert texts(result.content) == ["Hello, Ada!"]
    assert [e.message for e in rec.elicitations] == ["What is your name?"]


async def test_input_required_first_round_shape(server_target, era):
    """Era-specific wire shape: MRTR `InputRequiredResult` on 2026-07-28, a real request on 2025-11-25."""
    rec = Recorder()
    async with connect(server_target, era, **rec.handlers()) as client:
        first = await client.session.call_tool(
            "test_input_required_result_elicitation", {}, read_timeout_seconds=CALL_TIMEOUT, allow_input_required=True
        )
        if era == "modern":
            assert isinstance(first, types.InputRequiredResult), first
            assert rec.elicitations == [], "2026-07-28 must not send a server->client request"
            assert set(first.input_requests) == {"user_name"}
            assert first.input_requests["user_name"].method == "elicitation/create"
            assert first.request_state
            # Round 2: answer the key and replay the sealed state by hand.
            final = await client.session.call_tool(
                "test_input_required_result_elicitation",
                {},
                read_timeout_seconds=CALL_TIMEOUT,
                input_responses={"user_name": types.ElicitResult(action="accept", content={"name": "Grace"})},
                request_state=first.request_state,
            )
            assert texts(final.content) == ["Hello, Grace!"]
        else:
            assert isinstance(first, types.CallToolResult), first
            assert texts(first.content) == ["Hello, Ada!"]
            assert len(rec.elicitations) == 1


class FullClient:
    """Answers every kind of input request, by the requested schema."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def elicit(self, context, params):
        self.asked.append(f"elicit:{params.message}")
        props = params.requested_schema.get("properties", {})
        if "color" in props:
            return types.ElicitResult(action="accept", content={"color": "blue"})
        if "ok" in props:
            return types.ElicitResult(action="accept", content={"ok": True})
        if "context" in props:
            return types.ElicitResult(action="accept", content={"context": "interop"})
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async def sample(self, context, params):
        self.asked.append("sample")
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="Paris"), model="interop-fake-llm"
        )

    async def roots(self, context):
        self.asked.append("roots")
        return types.ListRootsResult(roots=[types.Root(uri="file:///tmp/a", name="a"), types.Root(uri="file:///tmp/b")])

    def handlers(self) -> dict[str, Any]:
        return {"elicitation_callback": self.elicit, "sampling_callback": self.sample, "list_roots_callback": self.roots}


@pytest.mark.parametrize(
    ("tool", "expected"),
    [
        ("test_input_required_result_sampling", "The LLM said: Paris"),
        ("test_input_required_result_list_roots", "Client roots: file:///tmp/a, file:///tmp/b"),
        ("test_input_required_result_multi_round", "Ada likes blue"),
        ("test_input_required_result_multiple_inputs", "name=Ada, greeting=Paris, roots=2"),
        ("test_input_required_result_request_state", "state-ok: confirmed=true"),
        ("test_input_required_result_capabilities", "name=Ada, sampled=Paris, roots=2"),
    ],
)
async def test_input_required_tools(server_target, era, tool, expected):
    """The MRTR tools: multi-round and multi-input on 2026-07-28, real requests on 2025-11-25."""
    full = FullClient()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPDeprecationWarning)  # roots/sampling are deprecated on 2026-07-28
        async with connect(server_target, era, **full.handlers()) as client:
            result = await client.call_tool(tool, {})
    assert result.is_error is False
    assert texts(result.content) == [expected]
    assert full.asked, "the server asked the client nothing"


async def test_input_required_prompt(server_target, era):
    full = FullClient()
    async with connect(server_target, era, **full.handlers()) as client:
        got = await client.get_prompt("test_input_required_result_prompt")
    assert [m.content.text for m in got.messages] == ["Use this context: interop"]
    assert full.asked == ["elicit:What context should the prompt use?"]


async def test_elicitation_answer_is_validated(server_target, era):
    """An accepted answer that does not match the requested schema is rejected by the server."""

    async def wrong(context, params):
        return types.ElicitResult(action="accept", content={"name": "not-a-context"})

    async with connect(server_target, era, elicitation_callback=wrong) as client:
        with pytest.raises(MCPError, match="context"):
            await client.get_prompt("test_input_required_result_prompt")


async def test_missing_client_capability(server_target, era):
    """Sampling from a client that did not declare it is a typed error (-32021)."""
    async with connect(server_target, era) as client:
        with pytest.raises(MCPError) as info:
            await client.call_tool("test_missing_capability", {})
        assert info.value.code == -32021
        without = await client.call_tool("test_input_required_result_capabilities", {})
        assert texts(without.content) == ["no client capabilities to use"]


async def test_sampling(server_target, era):
    rec = Recorder()
    async with connect(server_target, era, **rec.handlers()) as client:
        result = await client.call_tool("test_sampling", {"prompt": "ping?"})
    assert result.is_error is False
    assert texts(result.content) == ["LLM response: pong from python"]
    assert len(rec.samplings) == 1
    asked = rec.samplings[0]
    assert asked.max_tokens == 100
    assert [(m.role, m.content.text) for m in asked.messages] == [("user", "ping?")]


# --------------------------------------------------------------------------- resources & prompts


async def test_resources(server_target, era):
    async with connect(server_target, era) as client:
        listed = await client.list_resources()
        uris = {str(r.uri) for r in listed.resources}
        assert EXPECTED_RESOURCES <= uris, uris
        templates = await client.list_resource_templates()
        assert "test://template/{id}/data" in {t.uri_template for t in templates.resource_templates}

        text = await client.read_resource("test://static-text")
        assert len(text.contents) == 1
        assert text.contents[0].text == STATIC_TEXT
        assert text.contents[0].mime_type == "text/plain"

        binary = await client.read_resource("test://static-binary")
        assert len(binary.contents) == 1
        blob = base64.b64decode(binary.contents[0].blob)
        assert blob.startswith(PNG_MAGIC)
        assert binary.contents[0].mime_type == "image/png"

        templated = await client.read_resource("test://template/42/data")
        data = json.loads(templated.contents[0].text)
        assert data["id"] == "42"
        assert data["templateTest"] is True
        assert str(templated.contents[0].uri) == "test://template/42/data"


async def test_unknown_resource_is_error(server_target, era):
    async with connect(server_target, era) as client:
        with pytest.raises(MCPError):
            await client.read_resource("test://does-not-exist")


async def test_prompts(server_target, era):
    async with connect(server_target, era) as client:
        listed = await client.list_prompts()
        names = {p.name for p in listed.prompts}
        assert EXPECTED_PROMPTS <= names, names
        by_name = {p.name: p for p in listed.prompts}
        assert {a.name for a in by_name["test_prompt_with_arguments"].arguments} == {"arg1", "arg2"}

        simple = await client.get_prompt("test_simple_prompt")
        assert [m.content.text for m in simple.messages] == ["This is a simple prompt for testing."]

        got = await client.get_prompt("test_prompt_with_arguments", {"arg1": "a", "arg2": "b"})
        assert len(got.messages) == 1
        assert got.messages[0].role == "user"
        assert got.messages[0].content.text == "Prompt with arguments: arg1='a', arg2='b'"


async def test_completion(server_target, era):
    async with connect(server_target, era) as client:
        result = await client.complete(
            types.PromptReference(type="ref/prompt", name="test_prompt_with_arguments"),
            {"name": "arg1", "value": "te"},
        )
        assert result.completion.values[:3] == ["test", "testing", "tested"]


# --------------------------------------------------------------------------- change notifications


async def _wait_for(predicate, what: str, timeout: float = 10.0) -> None:
    with anyio.move_on_after(timeout):
        while not predicate():
            await anyio.sleep(0.05)
    assert predicate(), f"no {what} within {timeout:.0f} s"


async def test_resource_updates_and_tool_list_changed(server_target, era):
    """`test://watched-resource` changes every 3 s; `test_trigger_tool_change` changes the tool list.

    2025-11-25: `resources/subscribe` + notifications. 2026-07-28: one `subscriptions/listen` stream.
    """
    if era == "legacy":
        received: list[Any] = []

        async def on_message(message) -> None:
            received.append(message)

        def methods() -> list[str]:
            return [getattr(m, "method", None) for m in received]

        async with connect(server_target, era, message_handler=on_message) as client:
            assert client.server_capabilities.resources.subscribe is True
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                await client.subscribe_resource("test://watched-resource")
            await _wait_for(lambda: "notifications/resources/updated" in methods(), "resources/updated")
            updated = next(m for m in received if getattr(m, "method", None) == "notifications/resources/updated")
            assert updated.params.uri == "test://watched-resource"

            result = await client.call_tool("test_trigger_tool_change", {})
            assert texts(result.content) == ["tool list changed"]
            await _wait_for(lambda: "notifications/tools/list_changed" in methods(), "tools/list_changed")
            listed = await client.list_tools()
            assert "test_dynamic_tool" in {t.name for t in listed.tools}
    else:
        async with connect(server_target, era) as client:
            async with client.listen(tools_list_changed=True, resource_subscriptions=["test://watched-resource"]) as sub:
                assert sub.honored.tools_list_changed is True
                assert sub.honored.resource_subscriptions == ["test://watched-resource"]
                with anyio.fail_after(10):
                    async for event in sub:
                        assert event == ResourceUpdated(uri="test://watched-resource")
                        break
                result = await client.call_tool("test_trigger_tool_change", {})
                assert texts(result.content) == ["tool list changed"]
                with anyio.fail_after(10):
                    async for event in sub:
                        if isinstance(event, ToolsListChanged):
                            break
            listed = await client.list_tools(cache_mode="refresh")
            assert "test_dynamic_tool" in {t.name for t in listed.tools}


# --------------------------------------------------------------------------- errors


async def test_unknown_tool_is_error(server_target, era):
    async with connect(server_target, era) as client:
        try:
            result = await client.call_tool("no_such_tool", {})
        except MCPError as err:
            assert err.code == INVALID_PARAMS, err
            assert "no_such_tool" in str(err)
        else:
            assert result.is_error is True, result


async def test_tool_error_result(server_target, era):
    async with connect(server_target, era) as client:
        result = await client.call_tool("test_error_handling", {})
        assert result.is_error is True
        assert texts(result.content) == ["This tool intentionally returns an error for testing"]
