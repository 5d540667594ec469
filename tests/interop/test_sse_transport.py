"""The official MCP Python SDK's SSE client (`mcp` 2.3.0) drives `examples/everything`
over the 2024-11-05 HTTP+SSE transport (`everything --legacy-sse`): `GET /sse` opens the
stream, the client POSTs to the endpoint it announces, and every answer, log message and
server->client request (elicitation) arrives on the stream.
"""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request

import anyio
import mcp_types as types
import pytest
from mcp import ClientSession
from mcp.client.sse import sse_client

from support import (
    free_port,
    stop_process,
    wait_port,
    CALL_TIMEOUT,
    EXPECTED_RESOURCES,
    EXPECTED_TOOLS,
    LEGACY_VERSION,
    LOG_MESSAGES,
    READY_TIMEOUT,
    SERVER_NAME,
    SIMPLE_TEXT,
    STATIC_TEXT,
    texts,
)


@pytest.fixture(scope="module")
def base_url(everything_bin: str, tmp_path_factory: pytest.TempPathFactory):
    """`everything --legacy-sse` on a free loopback port; yields `http://127.0.0.1:PORT`."""
    log_dir = tmp_path_factory.mktemp("everything-sse")
    for attempt in range(3):  # the free port may be taken before the server binds it
        port = free_port()
        log_path = log_dir / f"server-{attempt}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [everything_bin, "--port", str(port), "--host", "127.0.0.1", "--legacy-sse"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                if wait_port(proc, port, time.monotonic() + READY_TIMEOUT):
                    yield f"http://127.0.0.1:{port}"
                    return
            finally:
                stop_process(proc)
    pytest.fail(f"everything --legacy-sse never became ready; log: {log_path.read_text(errors='replace')[-2000:]}")


def _post_status(url: str) -> int:
    req = urllib.request.Request(
        url,
        data=b'{"jsonrpc":"2.0","id":1,"method":"ping"}',
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


async def test_sdk_sse_client_end_to_end(base_url: str):
    logs: list[types.LoggingMessageNotificationParams] = []
    elicitations: list[types.ElicitRequestParams] = []
    sessions: list[str] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params)

    async def on_elicit(context, params: types.ElicitRequestParams) -> types.ElicitResult:
        elicitations.append(params)
        return types.ElicitResult(action="accept", content={"username": "u", "email": "e@x"})

    async with sse_client(f"{base_url}/sse", timeout=CALL_TIMEOUT, on_session_created=sessions.append) as (
        read,
        write,
    ):
        async with ClientSession(
            read,
            write,
            read_timeout_seconds=CALL_TIMEOUT,
            logging_callback=on_log,
            elicitation_callback=on_elicit,
        ) as session:
            init = await session.initialize()
            assert init.protocol_version == LEGACY_VERSION
            assert init.server_info.name == SERVER_NAME
            assert init.capabilities.tools is not None

            listed = await session.list_tools()
            missing = EXPECTED_TOOLS - {tool.name for tool in listed.tools}
            assert not missing, f"tools/list lacks {sorted(missing)}"

            simple = await session.call_tool("test_simple_text", {})
            assert simple.is_error is False
            assert texts(simple.content) == [SIMPLE_TEXT]

            logged = await session.call_tool("test_tool_with_logging", {})
            assert texts(logged.content) == ["Logging test completed"]
            # Notifications and the result share one ordered stream: the logs came first.
            assert [m.data for m in logs] == LOG_MESSAGES

            elicited = await session.call_tool("test_elicitation", {"message": "hi"})
            assert elicited.is_error is False
            (text,) = texts(elicited.content)
            assert "action=accept" in text
            assert '"username":"u"' in text
            assert len(elicitations) == 1 and elicitations[0].message == "hi"

            resources = await session.list_resources()
            assert EXPECTED_RESOURCES <= {str(r.uri) for r in resources.resources}
            read_result = await session.read_resource("test://static-text")
            assert [c.text for c in read_result.contents] == [STATIC_TEXT]

    # The SDK announced the session; once the stream is closed, its endpoint is gone.
    assert len(sessions) == 1 and sessions[0]
    endpoint = f"{base_url}/messages?session_id={sessions[0]}"
    with anyio.fail_after(10):
        while (status := await anyio.to_thread.run_sync(_post_status, endpoint)) != 404:
            assert status == 202, status
            await anyio.sleep(0.05)


async def test_unknown_session_is_404(base_url: str):
    status = await anyio.to_thread.run_sync(_post_status, f"{base_url}/messages?session_id=nope")
    assert status == 404


async def test_streamable_http_still_served(base_url: str):
    """`--legacy-sse` adds routes; the Streamable HTTP endpoint keeps working next to them."""
    from mcp import Client

    async with Client(f"{base_url}/mcp", mode="legacy", read_timeout_seconds=CALL_TIMEOUT) as client:
        result = await client.call_tool("test_simple_text", {})
        assert texts(result.content) == [SIMPLE_TEXT]
