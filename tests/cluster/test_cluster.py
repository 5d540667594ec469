"""Three nodes on one Redis behind nginx (round robin, no stickiness) are one server.

Done-means 1 of issue 12, with the official `mcp` SDK and the FastMCP client:
a legacy session's state survives requests landing on every node, asks answered on
another node complete, progress and log notifications arrive once each, a GET stream
resumed on another node replays exactly the missed events, and 2026-07-28 MRTR
retries that land on other nodes complete.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import anyio
import httpx
import mcp_types as types
import pytest
from fastmcp import Client as FastClient
from fastmcp.client.transports import StreamableHttpTransport
from mcp import Client
from mcp.shared.exceptions import MCPDeprecationWarning

from support import CALL_TIMEOUT, LEGACY_VERSION, LOG_MESSAGES, MODERN_VERSION, texts

ACCEPT = "application/json, text/event-stream"


def text_of(result) -> str:
    (t,) = texts(result.content)
    return t


# --------------------------------------------------------------------------- state


async def test_counter_twenty_increments_through_the_balancer(counter_cluster):
    """20 × increment = 20 in one legacy session whose requests land on every node."""
    before = len(counter_cluster.upstreams("POST"))
    client = FastClient(StreamableHttpTransport(counter_cluster.url), mode="legacy", timeout=CALL_TIMEOUT)
    async with client:
        assert client.protocol_version == LEGACY_VERSION
        for i in range(1, 21):
            got = await client.call_tool("increment", {})
            assert text_of(got) == str(i), f"increment #{i} answered {got.content}"
        final = await client.call_tool("get_counter", {})
        assert text_of(final) == "20"
    served = set(counter_cluster.upstreams("POST")[before:])
    assert served == set(counter_cluster.nodes), f"POSTs reached {served}, not every node {counter_cluster.nodes}"


async def test_counter_with_the_official_sdk(counter_cluster):
    async with Client(counter_cluster.url, mode="legacy", read_timeout_seconds=CALL_TIMEOUT) as client:
        for i in range(1, 21):
            got = await client.call_tool("increment", {})
            assert text_of(got) == str(i)
        assert text_of(await client.call_tool("get_counter", {})) == "20"


# --------------------------------------------------------------------------- asks answered on another node


class Asked:
    def __init__(self) -> None:
        self.elicit_messages: list[str] = []
        self.prompts: list[str] = []

    async def elicit(self, context, params):
        self.elicit_messages.append(params.message)
        return types.ElicitResult(action="accept", content={"username": params.message, "email": "e@x"})

    async def sample(self, context, params):
        prompt = params.messages[0].content.text
        self.prompts.append(prompt)
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text=f"echo {prompt}"), model="fake"
        )


async def test_ten_concurrent_asks_in_one_session_official_sdk(everything_cluster):
    """5 elicitations and 5 samplings at once in one legacy session: 10 of 10 complete."""
    asked = Asked()
    forwarded_before = everything_cluster.all_logs().count("answer forwarded to its node")
    results: dict[str, str] = {}
    async with Client(
        everything_cluster.url,
        mode="legacy",
        read_timeout_seconds=CALL_TIMEOUT,
        elicitation_callback=asked.elicit,
        sampling_callback=asked.sample,
    ) as client:
        assert client.protocol_version == LEGACY_VERSION

        async def elicit(i: int):
            r = await client.call_tool("test_elicitation", {"message": f"user{i}"})
            results[f"e{i}"] = text_of(r)

        async def sample(i: int):
            r = await client.call_tool("test_sampling", {"prompt": f"prompt{i}"})
            results[f"s{i}"] = text_of(r)

        async with anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(elicit, i)
                tg.start_soon(sample, i)
    assert len(results) == 10, results
    for i in range(5):
        assert f'"username":"user{i}"' in results[f"e{i}"], results[f"e{i}"]
        assert results[f"s{i}"] == f"LLM response: echo prompt{i}"
    assert sorted(asked.elicit_messages) == [f"user{i}" for i in range(5)]
    assert sorted(asked.prompts) == [f"prompt{i}" for i in range(5)]
    forwarded = everything_cluster.all_logs().count("answer forwarded to its node") - forwarded_before
    delivered = everything_cluster.all_logs().count("answer from another node delivered")
    # Round robin over 3 nodes: an answer lands on the asking node about one time in three.
    assert forwarded >= 1, "no answer landed on another node: the bus path was not exercised"
    print(f"answers forwarded over the bus: {forwarded} of 10; deliveries logged so far: {delivered}")


async def test_ten_concurrent_asks_in_one_session_fastmcp(everything_cluster):
    prompts: list[str] = []

    def on_sample(messages, params, context):
        prompts.append(messages[0].content.text)
        return f"fast {messages[0].content.text}"

    async def on_elicit(message, response_type, params, context):
        return {"username": message, "email": "f@x"}

    results: dict[str, str] = {}
    client = FastClient(
        StreamableHttpTransport(everything_cluster.url),
        mode="legacy",
        timeout=CALL_TIMEOUT,
        sampling_handler=on_sample,
        elicitation_handler=on_elicit,
    )
    async with client:

        async def elicit(i: int):
            results[f"e{i}"] = text_of(await client.call_tool("test_elicitation", {"message": f"fm{i}"}))

        async def sample(i: int):
            results[f"s{i}"] = text_of(await client.call_tool("test_sampling", {"prompt": f"fp{i}"}))

        async with anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(elicit, i)
                tg.start_soon(sample, i)
    assert len(results) == 10
    for i in range(5):
        assert "action=accept" in results[f"e{i}"] and f'"username":"fm{i}"' in results[f"e{i}"], results[f"e{i}"]
        assert results[f"s{i}"] == f"LLM response: fast fp{i}"
    assert sorted(prompts) == [f"fp{i}" for i in range(5)]


# --------------------------------------------------------------------------- notifications once each


async def test_progress_and_logs_arrive_once_each(everything_cluster):
    logs: list[Any] = []
    progress: list[float] = []

    async def on_log(params):
        logs.append(params.data)

    async def on_progress(p, total, message):
        progress.append(p)

    async with Client(
        everything_cluster.url, mode="legacy", read_timeout_seconds=CALL_TIMEOUT, logging_callback=on_log
    ) as client:
        for _ in range(3):
            r = await client.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
            assert text_of(r) == "Progress test completed"
            r = await client.call_tool("test_tool_with_logging", {})
            assert text_of(r) == "Logging test completed"
        await anyio.sleep(0.3)  # a duplicate would arrive late, on another stream
    assert logs == LOG_MESSAGES * 3, logs
    assert progress == [0, 50, 100] * 3, progress


# --------------------------------------------------------------------------- GET stream resumed on another node


class Sse:
    """Reads SSE events with data from one streamed response, across calls."""

    def __init__(self, response) -> None:
        self.lines = response.aiter_lines()

    async def events(self, n: int) -> list[tuple[str, str]]:
        """The next `n` events with data: (id, data)."""
        out: list[tuple[str, str]] = []
        ev_id, data = None, []
        with anyio.fail_after(15):
            async for line in self.lines:
                if line.startswith("id:"):
                    ev_id = line[3:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line == "":
                    if data and "".join(data):
                        out.append((ev_id, "".join(data)))
                        if len(out) == n:
                            return out
                    ev_id, data = None, []
        raise AssertionError(f"the stream ended after {out}")


async def test_get_stream_resumed_on_another_node_replays_exactly_the_missed_events(everything_cluster):
    c = everything_cluster
    async with httpx.AsyncClient(timeout=20) as http:
        init = await http.post(
            c.url,
            headers={"accept": ACCEPT},
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {"protocolVersion": LEGACY_VERSION, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
            },
        )
        assert init.status_code == 200, init.text
        sid = init.headers["mcp-session-id"]
        h = {"accept": ACCEPT, "mcp-session-id": sid, "mcp-protocol-version": LEGACY_VERSION}
        r = await http.post(c.url, headers=h, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert r.status_code == 202

        async def notify(label: str, count: int, rid: int):
            r = await http.post(
                c.url,
                headers=h,
                json={"jsonrpc": "2.0", "id": rid, "method": "tools/call",
                      "params": {"name": "notify_session", "arguments": {"label": label, "count": count}}},
            )
            assert r.status_code == 200 and f"sent {count}" in r.text, r.text

        gets_before = len(c.upstreams("GET"))
        async with http.stream("GET", c.url, headers={"accept": "text/event-stream", "mcp-session-id": sid}) as get:
            assert get.status_code == 200
            await anyio.sleep(0.3)  # the stream is attached before the notifications are sent
            await notify("first", 4, 2)
            events = await Sse(get).events(4)
        assert [json.loads(d)["params"]["data"] for _, d in events] == [f"first #{i}" for i in range(1, 5)]
        assert all(i for i, _ in events), f"events without ids: {events}"
        # nginx logs a request when it ends: the GET just closed.
        await anyio.sleep(0.3)
        first_node = c.upstreams("GET")[gets_before]
        other = next(n for n in c.nodes if n != first_node)
        # The client "missed" everything after the first event; resume on another node, directly.
        last_seen = events[0][0]
        async with http.stream(
            "GET",
            f"http://{other}/mcp",
            headers={"accept": "text/event-stream", "mcp-session-id": sid, "last-event-id": last_seen},
        ) as resumed:
            assert resumed.status_code == 200
            sse = Sse(resumed)
            replay = await sse.events(3)
            assert replay == events[1:], f"replayed {replay}, missed were {events[1:]}"
            # The resumed stream goes on as the session's stream: live events reach it too,
            # whichever node the call lands on.
            await notify("second", 2, 3)
            live = await sse.events(2)
        assert [json.loads(d)["params"]["data"] for _, d in live] == ["second #1", "second #2"]
        assert not {i for i, _ in live} & {i for i, _ in events}, "a live event reused a replayed id"
        await http.delete(c.url, headers=h)


# --------------------------------------------------------------------------- 2026-07-28 MRTR retries on other nodes


class Full:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def elicit(self, context, params):
        self.asked.append("elicit")
        props = (getattr(params, "requested_schema", None) or {}).get("properties", {})
        if "color" in props:
            return types.ElicitResult(action="accept", content={"color": "blue"})
        if "ok" in props:
            return types.ElicitResult(action="accept", content={"ok": True})
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async def sample(self, context, params):
        self.asked.append("sample")
        return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text="Paris"), model="m")

    async def roots(self, context):
        self.asked.append("roots")
        return types.ListRootsResult(roots=[types.Root(uri="file:///tmp/a", name="a"), types.Root(uri="file:///tmp/b")])


@pytest.mark.parametrize(
    ("tool", "expected"),
    [
        ("test_input_required_result_multi_round", "Ada likes blue"),
        ("test_input_required_result_multiple_inputs", "name=Ada, greeting=Paris, roots=2"),
        ("test_input_required_result_request_state", "state-ok: confirmed=true"),
    ],
)
async def test_mrtr_retries_on_other_nodes_complete(everything_cluster, tool, expected):
    full = Full()
    before = len(everything_cluster.upstreams("POST"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        async with Client(
            everything_cluster.url,
            mode=MODERN_VERSION,
            read_timeout_seconds=CALL_TIMEOUT,
            elicitation_callback=full.elicit,
            sampling_callback=full.sample,
            list_roots_callback=full.roots,
        ) as client:
            for _ in range(3):
                r = await client.call_tool(tool, {})
                assert r.is_error is False
                assert texts(r.content) == [expected]
    assert full.asked, "the server asked nothing: no retry happened"
    served = everything_cluster.upstreams("POST")[before:]
    assert len(set(served)) >= 2, f"every round landed on one node: {served}"


# --------------------------------------------------------------------------- kill -9 of one node under load (done-means 2)


def _result_of(r: httpx.Response) -> dict:
    """The JSON-RPC response in a POST's answer (plain JSON or the last SSE message)."""
    if r.headers.get("content-type", "").startswith("text/event-stream"):
        messages = [json.loads(line[5:]) for line in r.text.splitlines() if line.startswith("data:") and line[5:].strip()]
        return next(m for m in reversed(messages) if "id" in m)
    return r.json()


async def test_kill_9_of_one_node_under_load(counter_kill_cluster):
    """Sessions continue on the other nodes; a call that fails is retried and succeeds; the
    counter ends within what the calls could have done (a call cut by the kill may or may
    not have counted)."""
    c = counter_kill_cluster
    sessions = 4
    async with httpx.AsyncClient(timeout=10) as http:
        ids = []
        for i in range(sessions):
            init = await http.post(
                c.url,
                headers={"accept": ACCEPT},
                json={"jsonrpc": "2.0", "id": 1, "method": "initialize",
                      "params": {"protocolVersion": LEGACY_VERSION, "capabilities": {}, "clientInfo": {"name": f"k{i}", "version": "1"}}},
            )
            assert init.status_code == 200, init.text
            ids.append(init.headers["mcp-session-id"])
        stats = {sid: {"ok": 0, "failed": 0} for sid in ids}

        async def load(sid: str):
            h = {"accept": ACCEPT, "mcp-session-id": sid, "mcp-protocol-version": LEGACY_VERSION}
            for n in range(40):
                for attempt in range(5):  # a failed call is retried (bounded)
                    try:
                        r = await http.post(c.url, headers=h, json={"jsonrpc": "2.0", "id": 100 + n, "method": "tools/call",
                                                                     "params": {"name": "increment", "arguments": {}}})
                        if r.status_code == 200 and "result" in _result_of(r) and not _result_of(r)["result"].get("isError"):
                            stats[sid]["ok"] += 1
                            break
                        assert r.status_code != 404, f"session {sid} lost: {r.text}"
                    except httpx.TransportError:
                        pass
                    stats[sid]["failed"] += 1
                    await anyio.sleep(0.05)
                else:
                    raise AssertionError(f"increment #{n} of {sid} failed 5 times: {stats[sid]}")

        done_at_kill = []

        async def killer():
            await anyio.sleep(0.4)
            c.procs[1].kill()  # SIGKILL
            done_at_kill.append(sum(s["ok"] for s in stats.values()))
            c.procs[1].wait(timeout=5)

        async with anyio.create_task_group() as tg:
            for sid in ids:
                tg.start_soon(load, sid)
            tg.start_soon(killer)
        assert c.procs[1].poll() is not None, "the node was not killed"
        assert done_at_kill[0] < 40 * sessions, f"the kill came after the load: {done_at_kill}"
        for sid in ids:
            h = {"accept": ACCEPT, "mcp-session-id": sid, "mcp-protocol-version": LEGACY_VERSION}
            r = await http.post(c.url, headers=h, json={"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                                                        "params": {"name": "get_counter", "arguments": {}}})
            assert r.status_code == 200, r.text
            value = int(_result_of(r)["result"]["content"][0]["text"])
            s = stats[sid]
            assert s["ok"] == 40
            assert 40 <= value <= 40 + s["failed"], f"session {sid}: counter {value}, {s}"
        print(f"kill -9 under load: {done_at_kill[0]} calls done at the kill; {stats}")
    served_after = set(c.upstreams("POST")[-sessions:])
    assert c.nodes[1] not in served_after
