"""Shared fixtures for the interop suite: real MCP clients drive `examples/everything`.

The server binary comes from `FERRO_EVERYTHING_BIN` (default:
`target/debug/examples/everything` under the repository root; build it with
`cargo build --example everything`).

* `everything_bin`  -- the binary's path; fails every test with a clear message if missing.
* `http_url`        -- one Streamable HTTP server for the session, on a free loopback port.
* `transport`       -- parametrized "stdio" / "http".
* `era`             -- parametrized "legacy" (2025-11-25 initialize handshake) /
                       "modern" (2026-07-28, reached through `server/discover`).

Every async test runs under a hard deadline (`INTEROP_TEST_TIMEOUT`, default 60 s),
so a hung client or server fails the test instead of the run.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import subprocess
import time
from pathlib import Path

import pytest

from support import (
    free_port,
    stop_process,
    wait_port,
    DEFAULT_BIN,
    LEGACY_VERSION,
    MODERN_VERSION,
    READY_TIMEOUT,
    REPO_ROOT,
    TEST_TIMEOUT,
)


# --------------------------------------------------------------------------- binary


def _resolve_bin() -> Path:
    raw = os.environ.get("FERRO_EVERYTHING_BIN")
    path = Path(raw) if raw else DEFAULT_BIN
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


@pytest.fixture(scope="session")
def everything_bin() -> str:
    path = _resolve_bin()
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"ferromcp `everything` server binary not found at {path}.\n"
            "Build it with `cargo build --example everything` from the repository root, "
            "or point FERRO_EVERYTHING_BIN at an existing binary.",
            pytrace=False,
        )
    return str(path)


# --------------------------------------------------------------------------- HTTP server


@pytest.fixture(scope="session")
def http_url(everything_bin: str, tmp_path_factory: pytest.TempPathFactory):
    """Start `everything --port N` on a free loopback port; yield its MCP endpoint URL."""
    log_dir = tmp_path_factory.mktemp("everything-http")
    failures = []
    for attempt in range(3):  # the port picked may be taken by someone else before we bind it
        port = free_port()
        log_path = log_dir / f"server-{attempt}.log"
        log = open(log_path, "wb")
        proc = subprocess.Popen(
            [everything_bin, "--port", str(port), "--host", "127.0.0.1"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if wait_port(proc, port, time.monotonic() + READY_TIMEOUT):
            try:
                yield f"http://127.0.0.1:{port}/mcp"
            finally:
                stop_process(proc)
                log.close()
            return
        stop_process(proc)
        log.close()
        failures.append(f"port {port}: exit={proc.returncode}, log: {log_path.read_text(errors='replace')[-2000:]}")
    pytest.fail("everything HTTP server never became ready:\n" + "\n".join(failures), pytrace=False)


# --------------------------------------------------------------------------- parameters


@pytest.fixture(params=["stdio", "http"])
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(params=["legacy", "modern"])
def era(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def expected_version(era: str) -> str:
    return LEGACY_VERSION if era == "legacy" else MODERN_VERSION


# --------------------------------------------------------------------------- deadlines


def _with_deadline(fn):
    @functools.wraps(fn)
    async def wrapper(*args, **kwargs):
        try:
            return await asyncio.wait_for(fn(*args, **kwargs), TEST_TIMEOUT)
        except asyncio.TimeoutError:
            pass
        pytest.fail(f"{fn.__name__} did not finish within {TEST_TIMEOUT:.0f} s", pytrace=False)

    return wrapper


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fn = getattr(item, "obj", None)
        if fn is not None and inspect.iscoroutinefunction(fn):
            item.obj = _with_deadline(fn)


@pytest.fixture
def server_target(transport: str, everything_bin: str, request: pytest.FixtureRequest) -> tuple[str, str]:
    """("stdio", <binary>) or ("http", <endpoint URL>); the HTTP server starts only when needed."""
    if transport == "stdio":
        return ("stdio", everything_bin)
    return ("http", request.getfixturevalue("http_url"))
