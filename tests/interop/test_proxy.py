"""Real clients through `examples/proxy` (affinity mode) in front of `examples/everything`.

The seed's scenario (FastMCP PR #3172: the second call through a stateful proxy hung) and
its concurrent generalisation, with the official `mcp` SDK client and FastMCP's `Client`,
over every combination of:

* backend transport: stdio child process / Streamable HTTP;
* backend era: the proxy pinned to 2025-11-25 (real server->client requests) or
  2026-07-28 (InputRequiredResult rounds) towards the backend;
* frontend era: the client in 2025-11-25 (`mode="legacy"`) or 2026-07-28 (`mode="auto"`).

Every handler answers with a value derived from the call's own arguments, and every
result must carry its own value: an ask routed to the wrong caller shows up as a wrong
or missing value, never as luck.

The proxy binary comes from `FERRO_PROXY_BIN` (default `target/debug/examples/proxy`;
build it with `cargo build --example proxy`).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from fastmcp import Client as FastClient
from fastmcp.client.transports import StreamableHttpTransport
from mcp import Client as SdkClient

from support import CALL_TIMEOUT, LEGACY_VERSION, MODERN_VERSION, READY_TIMEOUT, REPO_ROOT, free_port, stop_process, texts, wait_port

SESSIONS = 3
CALLS = 4


# --------------------------------------------------------------------------- the proxy


def _proxy_bin() -> str:
    raw = os.environ.get("FERRO_PROXY_BIN")
    path = Path(raw) if raw else REPO_ROOT / "target" / "debug" / "examples" / "proxy"
    if not path.is_absolute():
        path = REPO_ROOT / path
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"ferromcp proxy binary not found at {path}.\n"
            "Build it with `cargo build --example proxy`, or point FERRO_PROXY_BIN at one.",
            pytrace=False,
        )
    return str(path)


class Proxies:
    """One proxy per (backend transport, backend era), started on first use."""

    def __init__(self, everything_bin: str, request: pytest.FixtureRequest, tmp: Path) -> None:
        self.everything_bin = everything_bin
        self.request = request
        self.tmp = tmp
        self.running: dict[tuple[str, str, str], tuple[subprocess.Popen, str]] = {}

    def url(self, backend: str, backend_era: str, mode: str = "affinity") -> str:
        key = (backend, backend_era, mode)
        if key not in self.running:
            self.running[key] = self._start(backend, backend_era, mode)
        return self.running[key][1]

    def _start(self, backend: str, backend_era: str, mode: str) -> tuple[subprocess.Popen, str]:
        version = LEGACY_VERSION if backend_era == "legacy" else MODERN_VERSION
        entry: dict[str, Any] = {"mode": mode, "protocolVersion": version, "timeoutMs": 20000}
        if backend == "stdio":
            entry.update(command=self.everything_bin, args=["--stdio"])
        else:
            entry.update(url=self.request.getfixturevalue("http_url"))
        cfg = self.tmp / f"proxy-{backend}-{backend_era}-{mode}.json"
        cfg.write_text(json.dumps({"mcpServers": {"everything": entry}}))
        port = free_port()
        log = open(self.tmp / f"proxy-{backend}-{backend_era}-{mode}.log", "wb")
        proc = subprocess.Popen(
            [_proxy_bin(), "--config", str(cfg), "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if not wait_port(proc, port, time.monotonic() + READY_TIMEOUT):
            stop_process(proc)
            pytest.fail(f"proxy never became ready: {Path(log.name).read_text(errors='replace')[-2000:]}")
        return proc, f"http://127.0.0.1:{port}/mcp"

    def stop(self) -> None:
        for proc, _ in self.running.values():
            stop_process(proc)


@pytest.fixture(scope="module")
def proxies(everything_bin: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    p = Proxies(everything_bin, request, tmp_path_factory.mktemp("proxy"))
    yield p
    p.stop()


@pytest.fixture(params=["stdio", "http"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(params=["legacy", "modern"])
def backend_era(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(params=["mcp", "fastmcp"])
def client_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def proxy_url(proxies: Proxies, backend: str, backend_era: str) -> str:
    return proxies.url(backend, backend_era)


# --------------------------------------------------------------------------- clients


def _tag_of(message: str) -> str:
    return message.split(":", 1)[0]


def _sampled_prompt(messages) -> str:
    content = messages[0].content
    return content.text if hasattr(content, "text") else content[0].text


class Session:
    """A connected client of either kind with uniform call/ask/progress/log hooks."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.logs: list[str] = []
        self.asked: list[str] = []

    # answers derived from the asking call's own arguments
    def answer_elicit(self, message: str) -> str:
        self.asked.append(message)
        return f"v-{_tag_of(message)}"

    def answer_sample(self, prompt: str) -> str:
        self.asked.append(prompt)
        return f"s-{prompt}"

    async def call(self, name: str, args: dict, progress=None):
        if self.kind == "mcp":
            kwargs = {"progress_callback": progress} if progress else {}
            return await self.client.call_tool(name, args, **kwargs)
        kwargs = {"progress_handler": progress} if progress else {}
        return await self.client.call_tool(name, args, **kwargs)


@asynccontextmanager
async def connect(url: str, kind: str, era: str):
    session = Session(kind)
    mode = "legacy" if era == "legacy" else "auto"
    expected = LEGACY_VERSION if era == "legacy" else MODERN_VERSION
    if kind == "mcp":

        async def elicit(context, params: types.ElicitRequestParams) -> types.ElicitResult:
            return types.ElicitResult(action="accept", content={"value": session.answer_elicit(params.message)})

        async def sample(context, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
            text = session.answer_sample(_sampled_prompt(params.messages))
            return types.CreateMessageResult(
                role="assistant", content=types.TextContent(type="text", text=text), model="fake", stop_reason="endTurn"
            )

        async def log(params: types.LoggingMessageNotificationParams) -> None:
            session.logs.append(str(params.data))

        kwargs: dict[str, Any] = {"elicitation_callback": elicit, "sampling_callback": sample, "logging_callback": log}
        if era == "modern":
            kwargs["log_level"] = "debug"
        async with SdkClient(url, mode=mode, read_timeout_seconds=CALL_TIMEOUT, **kwargs) as client:
            assert client.protocol_version == expected
            session.client = client
            yield session
        return

    async def f_elicit(message, response_type, params, context):
        return {"value": session.answer_elicit(message)}

    def f_sample(messages, params, context):
        return session.answer_sample(_sampled_prompt(messages))

    async def f_log(message: types.LoggingMessageNotificationParams) -> None:
        session.logs.append(str(message.data))

    client = FastClient(
        StreamableHttpTransport(url),
        mode=mode,
        timeout=CALL_TIMEOUT,
        init_timeout=CALL_TIMEOUT,
        elicitation_handler=f_elicit,
        sampling_handler=f_sample,
        log_handler=f_log,
    )
    async with client:
        assert client.protocol_version == expected
        session.client = client
        yield session


# --------------------------------------------------------------------------- the seed


async def test_two_sequential_elicitations_complete(proxy_url, client_kind, era):
    """FastMCP #3169: the second eliciting call through a stateful proxy hung forever."""
    async with connect(proxy_url, client_kind, era) as s:
        first = await s.call("proxy_elicit_tagged", {"tag": "first"})
        second = await s.call("proxy_elicit_tagged", {"tag": "second"})
    assert texts(first.content) == ["tag=first value=v-first"]
    assert texts(second.content) == ["tag=second value=v-second"]
    assert [_tag_of(m) for m in s.asked] == ["first", "second"]


async def _fan_out(
    proxy_url: str, kind: str, era: str, tool: str, check, progress: bool = False, sessions: int = SESSIONS, calls: int = CALLS
):
    """`sessions` sessions x `calls` concurrent calls of `tool`; `check(session, tag, result, progress)`."""

    async def one_session(i: int):
        async with connect(proxy_url, kind, era) as s:
            seen: dict[str, list] = {}

            async def call(j: int):
                tag = f"s{i}c{j}"
                seen[tag] = []

                async def on_progress(p, total, message):
                    seen[tag].append((p, total, message))

                result = await s.call(tool, {"tag": tag}, on_progress if progress else None)
                return tag, result

            results = await asyncio.gather(*(call(j) for j in range(calls)))
        for tag, result in results:
            check(s, tag, result, seen[tag])
        return s

    return await asyncio.gather(*(one_session(i) for i in range(sessions)))


async def test_concurrent_elicitations_reach_their_own_callers(proxy_url, client_kind, era):
    def check(s, tag, result, _):
        assert texts(result.content) == [f"tag={tag} value=v-{tag}"]

    sessions = await _fan_out(proxy_url, client_kind, era, "proxy_elicit_tagged", check)
    for i, s in enumerate(sessions):
        # Each session answered exactly its own four asks (none of another session's).
        assert sorted(_tag_of(m) for m in s.asked) == [f"s{i}c{j}" for j in range(CALLS)]


async def test_concurrent_samplings_reach_their_own_callers(proxy_url, client_kind, era):
    def check(s, tag, result, _):
        assert texts(result.content) == [f"tag={tag} sampled=s-{tag}"]

    sessions = await _fan_out(proxy_url, client_kind, era, "proxy_sample_tagged", check)
    for i, s in enumerate(sessions):
        assert sorted(s.asked) == [f"s{i}c{j}" for j in range(CALLS)]


async def test_progress_reaches_only_its_own_caller(proxy_url, client_kind, era, backend, backend_era):
    def check(s, tag, result, progress):
        assert texts(result.content) == [f"tag={tag} done"]
        assert [(p, t, m) for p, t, m in progress] == [(i, 3, f"{tag}:{i}") for i in (1, 2, 3)], progress

    sessions = await _fan_out(proxy_url, client_kind, era, "proxy_progress_tagged", check, progress=True)
    # Logs: only where the backend's wire says which call a log belongs to (Streamable
    # HTTP) and the proxy forwards per call (not the modern-over-modern relay).
    attributable = backend == "http" and not (era == "modern" and backend_era == "modern")
    for i, s in enumerate(sessions):
        own = sorted(f"log:s{i}c{j}" for j in range(CALLS))
        if attributable:
            assert sorted(s.logs) == own, s.logs
        else:
            assert set(s.logs) <= set(own), f"a log reached the wrong session: {s.logs}"


# --------------------------------------------------------------------------- never guess


@pytest.mark.parametrize("mode", ["affinity", "fresh"])
async def test_legacy_stdio_backend_never_shares_a_connection_between_calls_in_flight(proxies, mode):
    """A 2025-11-25 stdio backend cannot say which call an ask belongs to, so two calls
    in flight never share its connection: affinity mode serialises them on the session's
    one backend process; fresh mode gives each call a connection (a process) of its own."""
    url = proxies.url("stdio", "legacy", mode)
    async with connect(url, "mcp", "legacy") as s:
        await s.call("proxy_whoami", {"hold_ms": 0})  # the session's backend is up
        results = await asyncio.gather(*(s.call("proxy_whoami", {"hold_ms": 400}) for _ in range(2)))
    a, b = sorted((json.loads(texts(r.content)[0]) for r in results), key=lambda w: w["start_ms"])
    if mode == "affinity":
        assert a["pid"] == b["pid"], "affinity keeps one backend process per frontend session"
        assert b["start_ms"] >= a["end_ms"], f"calls overlapped on one stdio connection: {a} {b}"
    else:
        assert a["pid"] != b["pid"], "fresh mode gives concurrent calls separate connections"
        assert b["start_ms"] < a["end_ms"], f"fresh calls were needlessly serialised: {a} {b}"


# --------------------------------------------------------------------------- backend changes


async def _wait_for(predicate, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert predicate(), f"no {what} within {timeout:.0f} s"


async def test_backend_resource_updates_and_list_changes_reach_the_frontend(proxies, backend, backend_era, era):
    """`test://watched-resource` changes every 3 s on the backend; `test_trigger_tool_change`
    adds a tool there. Both reach the proxy's subscribed/listening frontend sessions. (A
    2026-07-28 stdio backend is not watched; a tool added in one stdio backend process is
    not a change of the process the watcher follows, so list changes are checked over HTTP.)"""
    if backend == "stdio" and backend_era == "modern":
        pytest.skip("2026-07-28 stdio backends are not watched (see ferromcp-proxy watch.rs)")
    from mcp.client.subscriptions import ResourceUpdated, ToolsListChanged
    from mcp.shared.exceptions import MCPDeprecationWarning
    import warnings

    url = proxies.url(backend, backend_era)
    mode = "legacy" if era == "legacy" else "auto"
    if era == "legacy":
        received: list[Any] = []

        async def on_message(message) -> None:
            received.append(message)

        def methods() -> list[str]:
            return [getattr(m, "method", None) for m in received]

        async with SdkClient(url, mode=mode, read_timeout_seconds=CALL_TIMEOUT, message_handler=on_message) as client:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                await client.subscribe_resource("test://watched-resource")
            await _wait_for(lambda: "notifications/resources/updated" in methods(), "resources/updated")
            updated = next(m for m in received if getattr(m, "method", None) == "notifications/resources/updated")
            assert updated.params.uri == "test://watched-resource"
            if backend == "http":
                await client.call_tool("test_trigger_tool_change", {})
                await _wait_for(lambda: "notifications/tools/list_changed" in methods(), "tools/list_changed")
                listed = await client.list_tools()
                assert "test_dynamic_tool" in {t.name for t in listed.tools}
        return
    async with SdkClient(url, mode=mode, read_timeout_seconds=CALL_TIMEOUT) as client:
        async with client.listen(tools_list_changed=True, resource_subscriptions=["test://watched-resource"]) as sub:
            async with asyncio.timeout(10):
                async for event in sub:
                    assert event == ResourceUpdated(uri="test://watched-resource")
                    break
            if backend == "http":
                await client.call_tool("test_trigger_tool_change", {})
                async with asyncio.timeout(10):
                    async for event in sub:
                        if isinstance(event, ToolsListChanged):
                            break
        if backend == "http":
            listed = await client.list_tools(cache_mode="refresh")
            assert "test_dynamic_tool" in {t.name for t in listed.tools}


async def test_roots_requests_reach_their_own_sessions(proxy_url, era):
    """Three sessions, each with roots of its own, two concurrent roots-listing calls each."""
    import warnings

    from mcp.shared.exceptions import MCPDeprecationWarning

    mode = "legacy" if era == "legacy" else "auto"

    async def one_session(i: int) -> list[str]:
        async def roots(context):
            return types.ListRootsResult(roots=[types.Root(uri=f"file:///session{i}", name=f"s{i}")])

        async with SdkClient(proxy_url, mode=mode, read_timeout_seconds=CALL_TIMEOUT, list_roots_callback=roots) as c:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                results = await asyncio.gather(
                    *(c.call_tool("test_input_required_result_list_roots", {}) for _ in range(2))
                )
        return [texts(r.content)[0] for r in results]

    for i, answers in enumerate(await asyncio.gather(*(one_session(i) for i in range(SESSIONS)))):
        assert answers == [f"Client roots: file:///session{i}"] * 2


# --------------------------------------------------------------------------- a FastMCP backend


@pytest.fixture(scope="module")
def fastmcp_backend_proxy(tmp_path_factory: pytest.TempPathFactory):
    """The proxy (affinity) over a FastMCP server on stdio, spoken to in 2025-11-25."""
    import sys

    tmp = tmp_path_factory.mktemp("proxy-fastmcp")
    script = Path(__file__).with_name("proxy_fastmcp_backend.py")
    entry = {"command": sys.executable, "args": [str(script)], "mode": "affinity", "protocolVersion": LEGACY_VERSION}
    cfg = tmp / "proxy.json"
    cfg.write_text(json.dumps({"mcpServers": {"fastmcp": entry}}))
    port = free_port()
    log = open(tmp / "proxy.log", "wb")
    proc = subprocess.Popen(
        [_proxy_bin(), "--config", str(cfg), "--port", str(port)], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
    )
    if not wait_port(proc, port, time.monotonic() + 2 * READY_TIMEOUT):
        stop_process(proc)
        pytest.fail(f"proxy over FastMCP never became ready: {(tmp / 'proxy.log').read_text(errors='replace')[-2000:]}")
    yield f"http://127.0.0.1:{port}/mcp"
    stop_process(proc)
    log.close()


async def test_fastmcp_backend_elicitations_reach_their_own_callers(fastmcp_backend_proxy, era):
    """Two sessions x three concurrent eliciting calls to a FastMCP stdio backend (one
    Python backend process per session, the session's calls serialised on it)."""

    def check(s, tag, result, _):
        assert texts(result.content) == [f"tag={tag} value=v-{tag}"]

    sessions = await _fan_out(fastmcp_backend_proxy, "mcp", era, "fastmcp_ask", check, sessions=2, calls=3)
    for i, s in enumerate(sessions):
        assert sorted(_tag_of(m) for m in s.asked) == [f"s{i}c{j}" for j in range(3)]


# --------------------------------------------------------------------------- an HTTP+SSE backend


@pytest.fixture(scope="module")
def sse_backend_proxy(everything_bin: str, tmp_path_factory: pytest.TempPathFactory):
    """everything on the 2024-11-05 HTTP+SSE transport, behind the proxy (`"transport": "sse"`)."""
    tmp = tmp_path_factory.mktemp("proxy-sse")
    procs = []
    try:
        bport = free_port()
        blog = open(tmp / "everything.log", "wb")
        procs.append(
            subprocess.Popen(
                [everything_bin, "--port", str(bport), "--legacy-sse"], stdin=subprocess.DEVNULL, stdout=blog, stderr=subprocess.STDOUT
            )
        )
        assert wait_port(procs[-1], bport, time.monotonic() + READY_TIMEOUT), "everything (HTTP+SSE) did not start"
        entry = {"url": f"http://127.0.0.1:{bport}/sse", "transport": "sse", "mode": "affinity"}
        cfg = tmp / "proxy.json"
        cfg.write_text(json.dumps({"mcpServers": {"old": entry}}))
        port = free_port()
        log = open(tmp / "proxy.log", "wb")
        procs.append(
            subprocess.Popen(
                [_proxy_bin(), "--config", str(cfg), "--port", str(port)], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        )
        assert wait_port(procs[-1], port, time.monotonic() + READY_TIMEOUT), (tmp / "proxy.log").read_text(errors="replace")
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        for p in procs:
            stop_process(p)


async def test_legacy_sse_backend_serves_calls_and_asks(sse_backend_proxy, era):
    async with connect(sse_backend_proxy, "mcp", era) as s:
        plain = await s.call("test_simple_text", {})
        results = await asyncio.gather(*(s.call("proxy_elicit_tagged", {"tag": f"t{j}"}) for j in range(3)))
    assert texts(plain.content) == ["This is a simple text response for testing."]
    assert [texts(r.content)[0] for r in results] == [f"tag=t{j} value=v-t{j}" for j in range(3)]


async def test_a_frontend_without_sampling_gets_a_clear_error_and_the_session_goes_on(proxy_url, era):
    """The backend asks for sampling; this frontend client declared no sampling capability:
    the call fails clearly (-32021 or an error result naming sampling), never hangs, and
    the session's next call works (the backend connection was not thrown away)."""
    from mcp.shared.exceptions import MCPError

    mode = "legacy" if era == "legacy" else "auto"
    async with SdkClient(proxy_url, mode=mode, read_timeout_seconds=CALL_TIMEOUT) as c:
        try:
            result = await c.call_tool("proxy_sample_tagged", {"tag": "nope"})
        except MCPError as err:
            assert err.error.code == -32021, err
        else:
            assert result.is_error is True, result
            assert "sampling" in texts(result.content)[0].lower(), result
        after = await c.call_tool("proxy_whoami", {"hold_ms": 0})
        assert "pid" in json.loads(texts(after.content)[0])
