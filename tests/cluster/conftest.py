"""Fixtures of the cluster suite (done-means 1 of issue 12).

* `redis_dbs`           -- three empty Redis databases for this run; every key deleted afterwards.
* `everything_cluster`  -- three `everything --redis … --port 0 --sealing-key HEX` nodes behind nginx.
* `counter_cluster`     -- three `counter --redis …` nodes behind nginx.
* `counter_kill_cluster` -- three more, one of which the kill test kills.

The binaries come from `FERRO_EVERYTHING_BIN` / `FERRO_COUNTER_BIN` (default
`target/debug/examples/{everything,counter}`). The suite is skipped, loudly, only when
nginx is absent; a missing Redis or binary fails it.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os

import pytest

from cluster_support import (
    NGINX,
    claim_empty_dbs,
    delete_all_keys,
    example_bin,
    nginx_missing,
    redis_available,
    start_cluster,
)

TEST_TIMEOUT = float(os.environ.get("CLUSTER_TEST_TIMEOUT", "90"))


def pytest_collection_modifyitems(config, items):
    if nginx_missing():
        reason = f"SKIPPED LOUDLY: nginx not found at {NGINX} (install the Debian package `nginx`); the cluster suite needs a real load balancer"
        print(f"\n*** {reason} ***\n")
        for item in items:
            item.add_marker(pytest.mark.skip(reason=reason))


def pytest_pyfunc_call(pyfuncitem):
    """Runs async tests under a hard deadline, so a hang fails the test instead of the run."""
    fn = pyfuncitem.obj
    if not inspect.iscoroutinefunction(fn):
        return None
    original = fn

    @functools.wraps(original)
    async def bounded(*args, **kwargs):
        return await asyncio.wait_for(original(*args, **kwargs), TEST_TIMEOUT)

    pyfuncitem.obj = bounded
    return None


@pytest.fixture(scope="session")
def redis_dbs():
    """Three databases: one per cluster (their bus channels differ by database number too)."""
    if not redis_available():
        pytest.fail("Redis does not answer on 127.0.0.1:6379; the cluster suite needs it", pytrace=False)
    dbs = claim_empty_dbs(3)
    yield dbs
    for db in dbs:
        delete_all_keys(db)


def _binary(name: str, var: str) -> str:
    path = example_bin(name, var)
    if not path.is_file():
        pytest.fail(f"{path} not found: build it with `cargo build --example {name}` (or set {var})", pytrace=False)
    return str(path)


@pytest.fixture(scope="session")
def everything_cluster(redis_dbs, tmp_path_factory):
    c = start_cluster(_binary("everything", "FERRO_EVERYTHING_BIN"), [], tmp_path_factory.mktemp("everything"), redis_dbs[0])
    yield c
    c.stop()


@pytest.fixture(scope="session")
def counter_cluster(redis_dbs, tmp_path_factory):
    c = start_cluster(_binary("counter", "FERRO_COUNTER_BIN"), [], tmp_path_factory.mktemp("counter"), redis_dbs[1])
    yield c
    c.stop()


@pytest.fixture
def counter_kill_cluster(redis_dbs, tmp_path_factory):
    """Its own three counter nodes: the kill test kills one."""
    c = start_cluster(_binary("counter", "FERRO_COUNTER_BIN"), [], tmp_path_factory.mktemp("counter-kill"), redis_dbs[2])
    yield c
    c.stop()
