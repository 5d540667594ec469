"""FastMCP's `Client` (4.1.2, on top of `mcp` 2.3.0) drives `examples/everything`.

Over stdio (`StdioTransport`) and Streamable HTTP (`StreamableHttpTransport`), in both eras:
legacy (`mode="legacy"`, 2025-11-25 handshake) and modern (`mode="auto"`, which discovers
2026-07-28). FastMCP's handler signatures differ from the SDK's: elicitation handlers get
(message, response_type, params, context) and may return plain data; sampling handlers
return a string; log handlers get the notification params.
"""

from __future__ import annotations

import base64
import json
from contextlib import asynccontextmanager
from typing import Any

import mcp_types as types
import pytest
from fastmcp import Client
from fastmcp.client.elicitation import ElicitResult
from fastmcp.client.transports import StdioTransport, StreamableHttpTransport
from fastmcp.exceptions import ToolError
from mcp.shared.exceptions import MCPError

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

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _transport(server_target: tuple[str, str]):
    kind, where = server_target
    if kind == "stdio":
        return StdioTransport(command=where, args=["--stdio"], keep_alive=False)
    return StreamableHttpTransport(where)


@asynccontextmanager
async def connect(server_target: tuple[str, str], era: str, **kwargs: Any):
    mode = "legacy" if era == "legacy" else "auto"
    client = Client(_transport(server_target), mode=mode, timeout=CALL_TIMEOUT, init_timeout=CALL_TIMEOUT, **kwargs)
    async with client:
        expected = LEGACY_VERSION if era == "legacy" else MODERN_VERSION
        assert client.protocol_version == expected, f"negotiated {client.protocol_version!r}, wanted {expected!r}"
        yield client


async def test_initialize_and_list_tools(server_target, era):
    async with connect(server_target, era) as client:
        assert client.server_info is not None
        assert client.server_info.name == SERVER_NAME
        assert client.instructions and "conformance fixture" in client.instructions
        if era == "legacy":
            assert client.initialize_result is not None
            assert client.initialize_result.protocol_version == LEGACY_VERSION
            assert await client.ping() is True  # ping is gone on 2026-07-28
        else:
            assert client.initialize_result is None  # negotiated via server/discover
        tools = await client.list_tools()
        missing = EXPECTED_TOOLS - {t.name for t in tools}
        assert not missing, f"tools/list lacks {sorted(missing)}"


async def test_simple_text(server_target, era):
    async with connect(server_target, era) as client:
        result = await client.call_tool("test_simple_text")
        assert result.is_error is False
        assert texts(result.content) == [SIMPLE_TEXT]
        assert result.data is None or result.data == SIMPLE_TEXT


async def test_tool_with_arguments(server_target, era):
    async with connect(server_target, era) as client:
        await client.list_tools()
        result = await client.call_tool("test_header_param", {"region": "ap-south-2"})
        assert texts(result.content) == ["region=ap-south-2"]


async def test_progress(server_target, era):
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with connect(server_target, era) as client:
        result = await client.call_tool("test_tool_with_progress", progress_handler=on_progress)
        assert texts(result.content) == ["Progress test completed"]
    values = [p for p, _, _ in seen]
    assert len(values) >= 3, seen
    assert values == sorted(values), values
    assert values[-1] == 100
    assert [m for _, _, m in seen] == ["working"] * len(seen)


async def test_logging(server_target, era):
    logs: list[types.LoggingMessageNotificationParams] = []

    async def on_log(message: types.LoggingMessageNotificationParams) -> None:
        logs.append(message)

    async with connect(server_target, era, log_handler=on_log) as client:
        result = await client.call_tool("test_tool_with_logging")
        assert texts(result.content) == ["Logging test completed"]
    assert [m.data for m in logs] == LOG_MESSAGES
    assert all(m.level == "info" for m in logs)


async def test_elicitation(server_target, era):
    asked: list[tuple[str, Any]] = []

    async def on_elicit(message, response_type, params, context):
        asked.append((message, params.requested_schema))
        return ElicitResult(action="accept", content={"username": "u", "email": "e@x"})

    async with connect(server_target, era, elicitation_handler=on_elicit) as client:
        result = await client.call_tool("test_elicitation", {"message": "hi"})
    (text,) = texts(result.content)
    assert "action=accept" in text
    assert '"username":"u"' in text
    assert [m for m, _ in asked] == ["hi"]
    assert set(asked[0][1]["required"]) == {"username", "email"}


async def test_elicitation_returning_plain_data(server_target, era):
    """FastMCP turns a handler's plain return value into an `accept`."""

    async def on_elicit(message, response_type, params, context):
        assert message == "What is your name?"
        return {"name": "Linus"}

    async with connect(server_target, era, elicitation_handler=on_elicit) as client:
        result = await client.call_tool("test_input_required_result_elicitation")
    assert texts(result.content) == ["Hello, Linus!"]


async def test_elicitation_cancel(server_target, era):
    async def on_elicit(message, response_type, params, context):
        return ElicitResult(action="cancel")

    async with connect(server_target, era, elicitation_handler=on_elicit) as client:
        result = await client.call_tool("test_input_required_result_elicitation")
    assert texts(result.content) == ["Hello, (cancelled)!"]


async def test_sampling(server_target, era):
    prompts: list[str] = []

    def on_sample(messages, params, context):
        prompts.append(messages[0].content.text)
        return "pong from fastmcp"

    async with connect(server_target, era, sampling_handler=on_sample) as client:
        result = await client.call_tool("test_sampling", {"prompt": "hello llm"})
    assert texts(result.content) == ["LLM response: pong from fastmcp"]
    assert prompts == ["hello llm"]


async def test_resources(server_target, era):
    async with connect(server_target, era) as client:
        listed = await client.list_resources()
        assert EXPECTED_RESOURCES <= {str(r.uri) for r in listed}
        templates = await client.list_resource_templates()
        assert [t.uri_template for t in templates] == ["test://template/{id}/data"]

        (text,) = await client.read_resource("test://static-text")
        assert text.text == STATIC_TEXT
        (binary,) = await client.read_resource("test://static-binary")
        assert base64.b64decode(binary.blob).startswith(PNG_MAGIC)
        (templated,) = await client.read_resource("test://template/42/data")
        assert json.loads(templated.text)["id"] == "42"


async def test_prompts(server_target, era):
    async with connect(server_target, era) as client:
        prompts = await client.list_prompts()
        assert EXPECTED_PROMPTS <= {p.name for p in prompts}
        got = await client.get_prompt("test_prompt_with_arguments", {"arg1": "a", "arg2": "b"})
        (message,) = got.messages
        assert "arg1='a'" in message.content.text
        assert "arg2='b'" in message.content.text

        embedded = await client.get_prompt("test_prompt_with_embedded_resource", {"resourceUri": "test://x"})
        assert embedded.messages[0].content.type == "resource"
        assert str(embedded.messages[0].content.resource.uri) == "test://x"


async def test_unknown_tool_is_error(server_target, era):
    async with connect(server_target, era) as client:
        try:
            raw = await client.call_tool_mcp("no_such_tool", {})
        except MCPError as err:
            assert err.code == -32602, err
        else:
            assert raw.is_error is True, raw


async def test_tool_error(server_target, era):
    async with connect(server_target, era) as client:
        with pytest.raises(ToolError, match="intentionally returns an error"):
            await client.call_tool("test_error_handling")
        result = await client.call_tool("test_error_handling", raise_on_error=False)
        assert result.is_error is True
