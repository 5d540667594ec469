"""Helpers for `test_session_state.py`: the `counter` example server, a private Redis, and
one small call interface over the three real clients (FastMCP `Client`, legacy and modern;
the official SDK's `ClientSession`, legacy and modern).

Client kinds (`KINDS`):

* ``fastmcp-legacy`` -- `fastmcp.Client(mode="legacy")`: the 2025-11-25 `initialize` handshake.
* ``fastmcp-modern`` -- `fastmcp.Client(mode="auto")`: probes `server/discover`, adopts 2026-07-28.
* ``sdk-legacy``     -- `mcp.ClientSession` + `initialize()` (2025-11-25).
* ``sdk-modern``     -- `mcp.ClientSession` + `discover()` (2026-07-28).

Every call runs under `CALL_TIMEOUT` (an anyio cancel scope in the caller's own task, so
the clients' anyio task groups are never entered and left in different tasks).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import time
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator

import anyio

from support import (
    CALL_TIMEOUT,
    LEGACY_VERSION,
    MODERN_VERSION,
    READY_TIMEOUT,
    REPO_ROOT,
    free_port,
    stop_process,
    wait_port,
)

DEFAULT_COUNTER_BIN = REPO_ROOT / "target" / "debug" / "examples" / "counter"
KINDS = ("fastmcp-legacy", "fastmcp-modern", "sdk-legacy", "sdk-modern")
CONNECT_TIMEOUT = 20.0


def is_modern(kind: str) -> bool:
    return kind.endswith("-modern")


# --------------------------------------------------------------------------- binaries


def resolve_counter_bin() -> Path:
    raw = os.environ.get("FERRO_COUNTER_BIN")
    path = Path(raw) if raw else DEFAULT_COUNTER_BIN
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


def counter_bin_or_reason() -> tuple[str | None, str]:
    path = resolve_counter_bin()
    if path.is_file() and os.access(path, os.X_OK):
        return str(path), ""
    return None, (
        f"ferromcp `counter` example binary not found at {path}.\n"
        "Build it with `cargo build --example counter` from the repository root, "
        "or point FERRO_COUNTER_BIN at an existing binary."
    )


@dataclass
class Proc:
    proc: subprocess.Popen
    port: int
    log_path: Path
    log: Any

    def stop(self) -> None:
        try:
            stop_process(self.proc)
        finally:
            self.log.close()

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return "<no log>"


def start_on_free_port(argv_for_port, log_dir: Path, name: str, ready) -> Proc:
    """Start `argv_for_port(port)` on a free loopback port (3 attempts); `ready(proc, port)` -> bool."""
    failures = []
    for attempt in range(3):  # a port picked free may be taken by someone else before we bind it
        port = free_port()
        log_path = log_dir / f"{name}-{port}.log"
        log = open(log_path, "wb")
        proc = subprocess.Popen(argv_for_port(port), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        p = Proc(proc, port, log_path, log)
        if ready(proc, port):
            return p
        p.stop()
        failures.append(f"port {port}: exit={proc.returncode}, log: {p.log_tail(2000)}")
    raise RuntimeError(f"{name} never became ready:\n" + "\n".join(failures))


def start_counter_http(bin_path: str, extra: list[str], log_dir: Path) -> Proc:
    return start_on_free_port(
        lambda port: [bin_path, "--port", str(port), *extra],
        log_dir,
        "counter",
        lambda proc, port: wait_port(proc, port, time.monotonic() + READY_TIMEOUT),
    )


# --------------------------------------------------------------------------- redis


def redis_server_or_reason() -> tuple[str | None, str]:
    found = shutil.which("redis-server")
    if found:
        return found, ""
    return None, (
        "`redis-server` is not installed (not on PATH); the Redis-backed state tests start their own "
        "private instance. Install it (e.g. `apt-get install redis-server`) to run them."
    )


class Resp:
    """A minimal blocking RESP2 client on a loopback socket (enough for PING/SCAN/TYPE/GET/...)."""

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "Resp":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("redis closed the connection")
        self.buf += chunk

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2 :]
        return data

    def _reply(self) -> Any:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(f"redis error: {rest.decode(errors='replace')}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError(f"unexpected RESP reply {line!r}")

    def cmd(self, *args: str | bytes) -> Any:
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a.encode() if isinstance(a, str) else a
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))
        return self._reply()

    def scan_all(self, limit: int = 100_000) -> list[bytes]:
        keys: list[bytes] = []
        cursor = b"0"
        for _ in range(10_000):  # bounded
            cursor, batch = self.cmd("SCAN", cursor, "COUNT", "1000")
            keys.extend(batch)
            if cursor == b"0" or len(keys) >= limit:
                break
        return keys

    def dump_values(self) -> dict[bytes, list[bytes]]:
        """Every key's stored bytes (strings, hashes, lists, sets, sorted sets)."""
        out: dict[bytes, list[bytes]] = {}
        for key in self.scan_all():
            kind = self.cmd("TYPE", key)
            if kind == "string":
                v = self.cmd("GET", key)
                vals = [] if v is None else [v]
            elif kind == "hash":
                vals = self.cmd("HGETALL", key)
            elif kind == "list":
                vals = self.cmd("LRANGE", key, "0", "-1")
            elif kind == "set":
                vals = self.cmd("SMEMBERS", key)
            elif kind == "zset":
                vals = self.cmd("ZRANGE", key, "0", "-1")
            else:
                vals = [f"<unhandled type {kind}>".encode()]
            out[key] = vals
        return out


def redis_ready(proc: subprocess.Popen, port: int) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with Resp(port, timeout=1.0) as r:
                if r.cmd("PING") == "PONG":
                    return True
        except (OSError, RuntimeError, ConnectionError):
            time.sleep(0.05)
    return False


def start_redis(redis_bin: str, log_dir: Path) -> Proc:
    return start_on_free_port(
        lambda port: [
            redis_bin,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
        ],
        log_dir,
        "redis",
        redis_ready,
    )


# --------------------------------------------------------------------------- clients


@dataclass
class Reply:
    """A decoded `tools/call` result: the error flag, the joined text, and the JSON value."""

    is_error: bool
    text: str
    structured: Any

    @property
    def value(self) -> Any:
        """The tool's return value: its text content is the value's JSON (or plain text)."""
        assert not self.is_error, f"tool error: {self.text}"
        try:
            return json.loads(self.text)
        except ValueError:
            return self.text


def _reply(result: Any) -> Reply:
    texts = [b.text for b in (result.content or []) if getattr(b, "type", None) == "text"]
    is_error = bool(getattr(result, "is_error", False))
    return Reply(is_error=is_error, text="\n".join(texts), structured=getattr(result, "structured_content", None))


class StateClient:
    """One connected client; `call()` sends `tools/call` and returns a `Reply`."""

    def __init__(self, kind: str, raw: Any, session_handle: str | None = None) -> None:
        self.kind = kind
        self.raw = raw
        self.handle = session_handle  # added as the `session` argument when set

    @property
    def protocol_version(self) -> str:
        return self.raw.protocol_version

    async def call(self, name: str, **arguments: Any) -> Reply:
        if self.handle is not None and name != "open_session":
            arguments.setdefault("session", self.handle)
        with anyio.fail_after(CALL_TIMEOUT + 5):
            if self.kind.startswith("fastmcp"):
                result = await self.raw.call_tool(name, arguments, raise_on_error=False, timeout=CALL_TIMEOUT)
            else:
                result = await self.raw.call_tool(name, arguments, read_timeout_seconds=CALL_TIMEOUT)
        return _reply(result)

    async def value(self, name: str, **arguments: Any) -> Any:
        reply = await self.call(name, **arguments)
        assert not reply.is_error, f"{self.kind}: {name}({arguments}) failed: {reply.text}"
        return reply.value

    async def open_session(self) -> str:
        opened = await self.value("open_session")
        assert isinstance(opened, dict) and isinstance(opened.get("handle"), str) and opened["handle"], opened
        return opened["handle"]


@asynccontextmanager
async def connect(
    kind: str,
    target: tuple[str, ...],
    *,
    token: str | None = None,
) -> AsyncIterator[StateClient]:
    """Connect a client of `kind` to `target` (("http", url) or ("stdio", bin, *args)).

    Asserts the negotiated protocol version matches the kind's era.
    """
    assert kind in KINDS, kind
    modern = is_modern(kind)
    expected = MODERN_VERSION if modern else LEGACY_VERSION
    async with AsyncExitStack() as stack:
        # Not an anyio cancel scope: the clients enter task groups here and leave them at exit,
        # which a scope around only the entering would not nest with. `asyncio.timeout` does not
        # take part in anyio's scope stack (and the per-test deadline still bounds Python 3.10).
        async with _connect_deadline(CONNECT_TIMEOUT):
            if kind.startswith("fastmcp"):
                raw = await stack.enter_async_context(_fastmcp_client(kind, target, token))
            else:
                raw = await _sdk_session(stack, kind, target, token)
        assert raw.protocol_version == expected, f"{kind}: negotiated {raw.protocol_version!r}, wanted {expected!r}"
        yield StateClient(kind, raw)


@asynccontextmanager
async def _connect_deadline(seconds: float) -> AsyncIterator[None]:
    timeout = getattr(asyncio, "timeout", None)  # Python >= 3.11
    if timeout is None:
        yield
        return
    async with timeout(seconds):
        yield


def _fastmcp_client(kind: str, target: tuple[str, ...], token: str | None):
    from fastmcp import Client
    from fastmcp.client.transports import StdioTransport, StreamableHttpTransport

    if target[0] == "stdio":
        assert token is None, "stdio has no bearer tokens"
        transport = StdioTransport(command=target[1], args=["--stdio", *target[2:]], keep_alive=False)
    else:
        transport = StreamableHttpTransport(target[1], auth=token)
    mode = "auto" if is_modern(kind) else "legacy"
    return Client(transport, mode=mode, timeout=CALL_TIMEOUT, init_timeout=CALL_TIMEOUT)


async def _sdk_session(stack: AsyncExitStack, kind: str, target: tuple[str, ...], token: str | None):
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    if target[0] == "stdio":
        assert token is None, "stdio has no bearer tokens"
        params = StdioServerParameters(command=target[1], args=["--stdio", *target[2:]])
        read, write = await stack.enter_async_context(stdio_client(params))
    else:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        http = await stack.enter_async_context(create_mcp_http_client(headers=headers))
        read, write = await stack.enter_async_context(streamable_http_client(target[1], http_client=http))
    session = await stack.enter_async_context(ClientSession(read, write, read_timeout_seconds=CALL_TIMEOUT))
    if is_modern(kind):
        await session.discover()  # one server/discover, adopts 2026-07-28
    else:
        await session.initialize()  # the 2025-11-25 handshake
    return session
