"""Session-scoped state, driven by real clients against `examples/counter`.

The server binary comes from `FERRO_COUNTER_BIN` (default `target/debug/examples/counter`;
build it with `cargo build --example counter`). Every test starts its own server(s) on free
loopback ports (and, for the Redis tests, its own `redis-server`), and stops them at the end.

Clients (see `state_support.py`): FastMCP `Client` in legacy mode (2025-11-25) and in auto
mode (discovers 2026-07-28), and the official SDK's `ClientSession` with `initialize()`
(2025-11-25) or `discover()` (2026-07-28).

Scopes under test (`ferromcp_core::state::scope`):

* 2025-11-25: the Streamable HTTP session (`Mcp-Session-Id`), or the stdio connection.
* 2026-07-28: the authenticated principal (`Authorization: Bearer`), or an explicit handle
  from `open_session` passed as `session`; over HTTP with neither, state tools fail with a
  tool error that says how to get a scope. Over stdio the scope is the server process.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from state_support import (
    KINDS,
    StateClient,
    connect,
    counter_bin_or_reason,
    is_modern,
    redis_server_or_reason,
    Resp,
    start_counter_http,
    start_redis,
)

LEGACY_KINDS = [k for k in KINDS if not is_modern(k)]
MODERN_KINDS = [k for k in KINDS if is_modern(k)]
OTHER = {
    "fastmcp-legacy": "sdk-legacy",
    "sdk-legacy": "fastmcp-legacy",
    "fastmcp-modern": "sdk-modern",
    "sdk-modern": "fastmcp-modern",
}

TTL_SLEEP = 2.5  # with --state-ttl 1


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def counter_bin() -> str:
    path, reason = counter_bin_or_reason()
    if path is None:
        pytest.fail(reason, pytrace=False)
    return path


@pytest.fixture
def counter_http(counter_bin: str, tmp_path):
    """Factory: `counter_http(*flags)` starts `counter --port N *flags`; returns ("http", url)."""
    started = []

    def start(*flags: str) -> tuple[str, str]:
        proc = start_counter_http(counter_bin, list(flags), tmp_path)
        started.append(proc)
        return ("http", f"http://127.0.0.1:{proc.port}/mcp")

    yield start
    for proc in started:
        proc.stop()
        print(f"--- counter log ({proc.log_path}, exit {proc.proc.returncode}):\n{proc.log_tail(1500)}")


@pytest.fixture
def redis_port(tmp_path) -> int:
    """A private `redis-server` on a free loopback port (no persistence); killed at the end."""
    redis_bin, reason = redis_server_or_reason()
    if redis_bin is None:
        pytest.fail(reason, pytrace=False)
    proc = start_redis(redis_bin, tmp_path)
    try:
        yield proc.port
    finally:
        proc.stop()


def _target(transport: str, counter_http, counter_bin: str, *flags: str) -> tuple[str, ...]:
    """("http", url) of a fresh server, or ("stdio", bin, *flags) (each client spawns its own)."""
    if transport == "http":
        return counter_http(*flags)
    return ("stdio", counter_bin, *flags)


def _assert_invalid_session(reply, what: str) -> None:
    assert reply.is_error, f"{what}: expected an 'invalid session' tool error, got {reply}"
    assert "invalid session" in reply.text, f"{what}: {reply.text!r}"


# --------------------------------------------------------------------------- 1. isolation


async def _scope_up(client: StateClient) -> None:
    """Modern clients without a principal scope their state with an explicit handle."""
    if is_modern(client.kind):
        client.handle = await client.open_session()


async def _write_phase(client: StateClient, name: str, n: int) -> list[int]:
    assert await client.value("recall", key="greeted") is True, f"{name}: fresh scope not greeted"
    seen = [await client.value("increment") for _ in range(n)]
    assert await client.value("remember", key="who", value=name) == "remembered who"
    await client.value("remember", key=f"only_{name}", value={"owner": name, "n": n, "tags": [name, None, 1.5]})
    return seen


async def _check_phase(client: StateClient, name: str, other: str, n: int) -> None:
    assert await client.value("get_counter") == n
    assert await client.value("recall", key="who") == name
    assert await client.value("recall", key=f"only_{name}") == {"owner": name, "n": n, "tags": [name, None, 1.5]}
    assert await client.value("recall", key=f"only_{other}") is None, f"{other}'s value leaked into {name}"
    assert await client.value("forget", key=f"only_{other}") is False
    assert await client.value("forget", key="who") is True
    assert await client.value("recall", key="who") is None
    assert await client.value("forget", key="who") is False
    assert await client.value("increment", by=10) == n + 10


PAIRS = [(k, k) for k in KINDS] + [("fastmcp-legacy", "sdk-legacy"), ("fastmcp-modern", "sdk-modern")]


@pytest.mark.parametrize("transport", ["http", "stdio"])
@pytest.mark.parametrize("kind_a,kind_b", PAIRS, ids=[f"{a}+{b}" for a, b in PAIRS])
async def test_isolation_and_persistence(transport, kind_a, kind_b, counter_http, counter_bin):
    """Two concurrent clients (one HTTP server, or two stdio server processes) never share state."""
    target = _target(transport, counter_http, counter_bin)
    async with connect(kind_a, target) as a, connect(kind_b, target) as b:
        await asyncio.gather(_scope_up(a), _scope_up(b))
        seen_a, seen_b = await asyncio.gather(_write_phase(a, "A", 3), _write_phase(b, "B", 2))
        assert seen_a == [1, 2, 3]
        assert seen_b == [1, 2]
        await asyncio.gather(_check_phase(a, "A", "B", 3), _check_phase(b, "B", "A", 2))

        who_a, who_b = await asyncio.gather(a.value("whoami"), b.value("whoami"))
        for who, client in ((who_a, a), (who_b, b)):
            if is_modern(client.kind):
                assert who["scope"] == "handle", who
            else:
                assert who["scope"] == ("session" if transport == "http" else "connection"), who
        assert who_a["session_id"] and who_b["session_id"] and who_a["session_id"] != who_b["session_id"]

    if transport == "http" and not is_modern(kind_a):
        # A new legacy session starts from scratch (and is greeted again).
        async with connect(kind_a, target) as c:
            assert await c.value("get_counter") == 0
            assert await c.value("recall", key="only_A") is None
            assert await c.value("recall", key="greeted") is True


@pytest.mark.parametrize("kind", MODERN_KINDS)
async def test_modern_stdio_without_handle_is_process_scoped(kind, counter_bin):
    """2026-07-28 over stdio: without a handle the scope is the server process (one client)."""
    target = ("stdio", counter_bin)
    async with connect(kind, target) as a, connect(kind, target) as b:
        who = await a.value("whoami")
        assert who["scope"] == "process", who
        assert (await b.value("whoami"))["session_id"] != who["session_id"]
        assert [await a.value("increment") for _ in range(3)] == [1, 2, 3]
        assert await b.value("increment") == 1  # another process
        await a.value("remember", key="k", value="from-a")
        assert await b.value("recall", key="k") is None
        assert await a.value("recall", key="k") == "from-a"
        # A handle opened in the process is a separate scope from the process itself.
        h = await a.open_session()
        assert await a.value("get_counter", session=h) == 0
        assert await a.value("recall", key="greeted", session=h) is True
        assert await a.value("get_counter") == 3


# --------------------------------------------------------------------------- 2. TTL


@pytest.mark.parametrize("transport", ["http", "stdio"])
@pytest.mark.parametrize("kind", LEGACY_KINDS)
async def test_ttl_legacy(transport, kind, counter_http, counter_bin):
    target = _target(transport, counter_http, counter_bin, "--state-ttl", "1")
    async with connect(kind, target) as c:
        await c.value("remember", key="k", value={"v": 1})
        assert await c.value("recall", key="k") == {"v": 1}
        assert await c.value("increment") == 1
        await asyncio.sleep(TTL_SLEEP)
        assert await c.value("recall", key="k") is None
        assert await c.value("recall", key="greeted") is None  # written at initialize, expired too
        assert await c.value("increment") == 1  # the counter expired as well
        await c.value("remember", key="k", value="again")
        assert await c.value("recall", key="k") == "again"


@pytest.mark.parametrize("kind", MODERN_KINDS)
async def test_ttl_modern_principal(kind, counter_http):
    target = counter_http("--state-ttl", "1", "--token", "t1=alice")
    async with connect(kind, target, token="t1") as c:
        assert (await c.value("whoami"))["scope"] == "principal"
        await c.value("remember", key="k", value="soon gone")
        assert await c.value("recall", key="k") == "soon gone"
        await asyncio.sleep(TTL_SLEEP)
        assert await c.value("recall", key="k") is None


@pytest.mark.parametrize("kind", MODERN_KINDS)
async def test_ttl_modern_handle(kind, counter_http):
    """Values expire after the TTL; the handle itself lives while used (sliding) and then
    expires after the same TTL without use ("invalid session")."""
    target = counter_http("--state-ttl", "1")
    async with connect(kind, target) as c:
        h = await c.open_session()
        await c.value("remember", key="k", value=[1, 2, 3], session=h)
        assert await c.value("recall", key="k", session=h) == [1, 2, 3]
        deadline = time.monotonic() + TTL_SLEEP
        for _ in range(100):  # keep the handle in use, without touching `k`
            if time.monotonic() >= deadline:
                break
            assert await c.value("get_counter", session=h) == 0
            await asyncio.sleep(0.25)
        assert await c.value("recall", key="k", session=h) is None
        await asyncio.sleep(TTL_SLEEP)  # unused for > TTL
        _assert_invalid_session(await c.call("recall", key="k", session=h), "expired handle")


# --------------------------------------------------------------------------- 3. modern, anonymous


@pytest.mark.parametrize("kind", MODERN_KINDS)
async def test_modern_anonymous_needs_handle(kind, counter_http):
    target = counter_http("--token", "t1=alice")
    async with connect(kind, target) as c1:
        for tool, args in [("increment", {}), ("get_counter", {}), ("remember", {"key": "k", "value": 1}),
                           ("recall", {"key": "greeted"}), ("forget", {"key": "k"})]:
            reply = await c1.call(tool, **args)
            assert reply.is_error, f"{tool} without scope should fail: {reply}"
            low = reply.text.lower()
            for hint in ("no session scope", "authenticate", "open_session", "`session` argument"):
                assert hint in low, f"{tool}: error text lacks {hint!r}: {reply.text!r}"
        assert (await c1.value("whoami"))["scope"] == "none"

        h = await c1.open_session()
        assert await c1.value("increment", session=h) == 1
        assert await c1.value("increment", session=h) == 2
        assert await c1.value("recall", key="greeted", session=h) is True
        who = await c1.value("whoami", session=h)
        assert who["scope"] == "handle", who

        # Another anonymous connection (the other client library) shares the handle's state.
        async with connect(OTHER[kind], target) as c2:
            assert await c2.value("get_counter", session=h) == 2
            assert await c2.value("increment", session=h) == 3
            await c2.value("remember", key="shared", value={"by": "c2"}, session=h)
            h2 = await c2.open_session()
            assert h2 != h
            assert await c2.value("increment", session=h2) == 1  # handles are isolated
            assert await c2.value("recall", key="shared", session=h2) is None
        assert await c1.value("get_counter", session=h) == 3
        assert await c1.value("recall", key="shared", session=h) == {"by": "c2"}

        # An authenticated principal may not use an anonymous handle.
        async with connect(kind, target, token="t1") as alice:
            _assert_invalid_session(await alice.call("increment", session=h), "alice with an anonymous handle")
            _assert_invalid_session(await alice.call("recall", key="greeted", session=h), "alice recall")
            assert await alice.value("increment") == 1  # her own (principal) scope works
        assert await c1.value("get_counter", session=h) == 3  # untouched by the refused calls
        _assert_invalid_session(await c1.call("increment", session="not-a-handle"), "made-up handle")


# --------------------------------------------------------------------------- 4. modern, principal


@pytest.mark.parametrize("kind", MODERN_KINDS)
async def test_modern_principal_scope(kind, counter_http):
    target = counter_http("--token", "t1=alice", "--token", "t2=bob")
    async with (
        connect(kind, target, token="t1") as a1,
        connect(OTHER[kind], target, token="t1") as a2,
        connect(kind, target, token="t2") as b,
    ):
        w1, w2, wb = await asyncio.gather(a1.value("whoami"), a2.value("whoami"), b.value("whoami"))
        assert w1["scope"] == w2["scope"] == wb["scope"] == "principal", (w1, w2, wb)
        assert w1["session_id"] == w2["session_id"] != wb["session_id"]
        assert w1["session_id"] not in ("alice", "t1") and wb["session_id"] not in ("bob", "t2")

        async def bump(client: StateClient, n: int) -> list[int]:
            return [await client.value("increment") for _ in range(n)]

        seen_a, seen_b = await asyncio.gather(bump(a1, 3), bump(b, 2))
        assert seen_a == [1, 2, 3] and seen_b == [1, 2]
        assert await a2.value("increment") == 4  # same principal, other connection and client library
        assert await a1.value("get_counter") == 4
        assert await b.value("get_counter") == 2

        await a1.value("remember", key="note", value="alice-only")
        assert await a2.value("recall", key="note") == "alice-only"
        assert await b.value("recall", key="note") is None
        await b.value("remember", key="note", value="bob-only")
        assert await a2.value("forget", key="note") is True
        assert await a1.value("recall", key="note") is None
        assert await b.value("recall", key="note") == "bob-only"

        # Handles are bound to the principal that minted them.
        ha = await a1.open_session()
        assert await a2.value("increment", session=ha) == 1
        assert await a2.value("recall", key="greeted", session=ha) is True
        _assert_invalid_session(await b.call("increment", session=ha), "bob with alice's handle")
        hb = await b.open_session()
        _assert_invalid_session(await a1.call("get_counter", session=hb), "alice with bob's handle")
        async with connect(kind, target) as anon:
            _assert_invalid_session(await anon.call("increment", session=ha), "anonymous with alice's handle")
        assert await a1.value("get_counter", session=ha) == 1
        assert await a1.value("get_counter") == 4  # principal scope unaffected by the handle

    # Principal state outlives the connections.
    async with connect(OTHER[kind], target, token="t1") as again:
        assert await again.value("get_counter") == 4
        assert await again.value("get_counter", session=ha) == 1


@pytest.mark.parametrize("kind", LEGACY_KINDS)
async def test_legacy_with_token_stays_session_scoped(kind, counter_http):
    """On 2025-11-25 a bearer token does not widen the scope: it stays the HTTP session."""
    target = counter_http("--token", "t1=alice")
    async with connect(kind, target, token="t1") as a, connect(OTHER[kind], target, token="t1") as b:
        wa, wb = await asyncio.gather(a.value("whoami"), b.value("whoami"))
        assert wa["scope"] == wb["scope"] == "session" and wa["session_id"] != wb["session_id"]
        assert await a.value("increment") == 1
        assert await a.value("increment") == 2
        assert await b.value("increment") == 1
        assert await b.value("recall", key="greeted") is True


# --------------------------------------------------------------------------- 5. atomicity

TASKS, CALLS = 20, 50


async def _hammer(client: StateClient) -> tuple[list[int], float]:
    async def worker() -> list[int]:
        return [await client.value("increment") for _ in range(CALLS)]

    t0 = time.perf_counter()
    results = await asyncio.gather(*(worker() for _ in range(TASKS)))
    elapsed = time.perf_counter() - t0
    return [v for r in results for v in r], elapsed


@pytest.mark.parametrize("kind", LEGACY_KINDS)
@pytest.mark.parametrize("store", ["memory", "redis", "redis-encrypted"])
async def test_atomic_increments(store, kind, counter_http, request):
    flags: list[str] = []
    port = None
    if store != "memory":
        port = request.getfixturevalue("redis_port")
        # --redis puts the whole counter on Redis (a cluster node): it needs a shared key.
        flags += ["--redis", f"redis://127.0.0.1:{port}/", "--sealing-key", "state-test-sealing-key-0123456789abcdef"]
    if store == "redis-encrypted":
        flags += ["--encrypt-key", "k"]
    target = counter_http(*flags)
    secret = f"plain-secret-{uuid.uuid4().hex}"

    async with connect(kind, target) as c:
        session_id = (await c.value("whoami"))["session_id"]
        await c.value("remember", key="vault", value=secret)
        values, elapsed = await _hammer(c)
        total = TASKS * CALLS
        # Every increment returned a distinct value: the returned values are exactly 1..1000.
        assert sorted(values) == list(range(1, total + 1)), f"lost/duplicated updates: {len(set(values))} distinct"
        assert await c.value("get_counter") == total
        assert await c.value("recall", key="vault") == secret
        print(f"\natomicity[{store}, {kind}]: {total} increments by {TASKS} tasks in {elapsed:.2f} s "
              f"= {total / elapsed:.0f} calls/s")
        if port is not None:
            # While the session is live (ending a legacy session deletes its state).
            _check_redis_at_rest(port, store, secret, session_id)

    if port is not None:
        # The client's DELETE ended the session; its state is cleared (asynchronously).
        prefix = f"ferromcp:session:{session_id}:".encode()
        left: list[bytes] = []
        for _ in range(50):  # up to ~5 s
            with Resp(port) as r:
                left = [k for k in r.scan_all() if k.startswith(prefix)]
            if not left:
                break
            await asyncio.sleep(0.1)
        assert not left, f"state of the ended session still in Redis: {left}"


def _check_redis_at_rest(port: int, store: str, secret: str, session_id: str) -> None:
    with Resp(port) as r:
        dumped = r.dump_values()
    mine = {k: v for k, v in dumped.items() if f":session:{session_id}:".encode() in k}
    assert {k.rsplit(b":", 1)[-1] for k in mine} >= {b"counter", b"vault", b"greeted"}, f"keys: {list(dumped)}"
    holding_secret = [k for k, vals in dumped.items() if any(secret.encode() in v for v in vals)]
    if store == "redis":  # control: the plain store does keep the text, so the check can see it
        assert holding_secret, f"secret not found in plain Redis values: {dumped}"
    else:
        assert not holding_secret, f"plain-text secret stored under {holding_secret}"
        # A scope's key index (`<scope>\xffkeys`, a sorted set that bounds keys per scope)
        # holds key names, which Redis already shows in plain text as the keys themselves.
        index = f"ferromcp:session:{session_id}:".encode() + b"\xffkeys"
        assert {m.decode() for m in dumped.get(index, [])} <= {"counter", "mem:vault", "mem:greeted"}, dumped.get(index)
        # `--encrypt-key` seals state values; the event store (`ferromcp:ev:`) and the session
        # directory (`ferromcp:dir:`) that `--redis` also puts in Redis are other stores.
        other_stores = (b"ferromcp:ev:", b"ferromcp:dir:")
        values = {
            k: vals for k, vals in dumped.items() if not k.endswith(b"\xffkeys") and not k.startswith(other_stores)
        }
        clear = {k: vals for k, vals in values.items() if not all(v.startswith(b'"fenc1:') for v in vals)}
        assert not clear, f"values stored without the `fenc1:` envelope: {clear}"
