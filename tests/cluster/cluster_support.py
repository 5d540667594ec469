"""A test cluster: Redis (one fresh database), N server nodes on loopback, nginx in round robin.

Nodes bind port 0 and print their address; nginx listens on a loopback port it is
given (retried if another process took it first), logs the upstream of every request
(`access.log`: `METHOD UPSTREAM STATUS`), keeps no stickiness and buffers nothing.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop"))

from support import REPO_ROOT, free_port, stop_process  # noqa: E402

NGINX = os.environ.get("FERRO_NGINX", "/usr/sbin/nginx")
REDIS_HOST, REDIS_PORT = "127.0.0.1", int(os.environ.get("FERRO_REDIS_PORT", "6379"))
READY = 30.0
ADDR_LINE = re.compile(rb"on http://(127\.0\.0\.1:\d+)/mcp")


# --------------------------------------------------------------------------- Redis (RESP, no client library)


def redis(*args: str | bytes, db: int = 0):
    """One Redis command on a fresh connection (after SELECT db); returns the decoded reply."""
    with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=5) as s:
        f = s.makefile("rb")

        def send(*a):
            out = [b"*%d\r\n" % len(a)]
            for x in a:
                x = x if isinstance(x, bytes) else str(x).encode()
                out.append(b"$%d\r\n%s\r\n" % (len(x), x))
            s.sendall(b"".join(out))
            return read()

        def read():
            line = f.readline()
            kind, rest = line[:1], line[1:-2]
            if kind in (b"+", b":"):
                return int(rest) if kind == b":" else rest.decode()
            if kind == b"-":
                raise RuntimeError(rest.decode())
            if kind == b"$":
                n = int(rest)
                if n < 0:
                    return None
                data = f.read(n + 2)[:-2]
                return data
            if kind == b"*":
                return [read() for _ in range(int(rest))]
            raise RuntimeError(f"unexpected Redis reply {line!r}")

        send("SELECT", db)
        return send(*args)


def redis_available() -> bool:
    try:
        return redis("PING") == "PONG"
    except OSError:
        return False


def claim_empty_dbs(n: int) -> list[int]:
    """`n` empty Redis databases (15 down to 1): this run's, their keys deleted afterwards."""
    dbs = [db for db in range(15, 0, -1) if redis("DBSIZE", db=db) == 0][:n]
    if len(dbs) < n:
        raise RuntimeError(f"fewer than {n} empty Redis databases (1-15) for the cluster test")
    return dbs


def delete_all_keys(db: int) -> int:
    """Deletes every key of database `db` (SCAN + UNLINK, never FLUSHALL); returns how many."""
    cursor, n = b"0", 0
    while True:
        cursor, keys = redis("SCAN", cursor, "COUNT", "500", db=db)
        if keys:
            n += redis("UNLINK", *keys, db=db)
        if cursor in (b"0", "0"):
            return n


# --------------------------------------------------------------------------- nodes and nginx


@dataclass
class Cluster:
    url: str
    nodes: list[str]
    procs: list[subprocess.Popen]
    logs: list[Path]
    access_log: Path
    nginx: subprocess.Popen | None = None
    extra: dict = field(default_factory=dict)

    def node_log(self, i: int) -> str:
        return self.logs[i].read_text(errors="replace")

    def all_logs(self) -> str:
        return "\n".join(self.node_log(i) for i in range(len(self.logs)))

    def upstreams(self, method: str | None = None) -> list[str]:
        """The upstream of every request nginx proxied so far, in order (optionally one method's)."""
        out = []
        for line in self.access_log.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and (method is None or parts[0] == method):
                out.append(parts[1])
        return out

    def stop(self) -> None:
        if self.nginx is not None:
            stop_process(self.nginx)
        for p in self.procs:
            stop_process(p)


def start_node(cmd: list[str], log: Path, env: dict) -> tuple[subprocess.Popen, str]:
    """Starts one node; returns it and the address it printed."""
    out = open(log, "wb")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env)
    deadline = time.monotonic() + READY
    while time.monotonic() < deadline:
        m = ADDR_LINE.search(log.read_bytes())
        if m:
            return proc, m.group(1).decode()
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    stop_process(proc)
    raise RuntimeError(f"node {cmd[0]} did not report its address:\n{log.read_text(errors='replace')}")


NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 512; }}
http {{
    log_format up '$request_method $upstream_addr $status';
    access_log {tmp}/access.log up;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream mcp {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://mcp;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_cache off;
            proxy_read_timeout 120s;
        }}
    }}
}}
"""


def start_nginx(tmp: Path, nodes: list[str]) -> tuple[subprocess.Popen, str]:
    servers = "\n".join(f"        server {n};" for n in nodes)
    for _ in range(5):  # the port picked may be taken before nginx binds it: retry
        port = free_port()
        conf = tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, servers=servers, port=port))
        log = open(tmp / "nginx.out", "wb")
        proc = subprocess.Popen([NGINX, "-p", str(tmp), "-c", str(conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return proc, f"http://127.0.0.1:{port}/mcp"
            except OSError:
                time.sleep(0.05)
        stop_process(proc)
    raise RuntimeError(f"nginx did not start:\n{(tmp / 'nginx.out').read_text(errors='replace')}")


def start_cluster(binary: str, extra_args: list[str], tmp: Path, db: int, n: int = 3) -> Cluster:
    key = secrets.token_hex(32)
    env = dict(os.environ, FERROMCP_LOG="ferromcp_core::bus=debug,warn")
    procs, nodes, logs = [], [], []
    try:
        for i in range(n):
            log = tmp / f"node-{i}.log"
            cmd = [binary, "--port", "0", "--redis", f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}", "--sealing-key", key]
            proc, addr = start_node(cmd + extra_args, log, env)
            procs.append(proc)
            nodes.append(addr)
            logs.append(log)
        nginx, url = start_nginx(tmp, nodes)
    except BaseException:
        for p in procs:
            stop_process(p)
        raise
    return Cluster(url=url, nodes=nodes, procs=procs, logs=logs, access_log=tmp / "access.log", nginx=nginx)


def example_bin(name: str, env_var: str) -> Path:
    raw = os.environ.get(env_var)
    path = Path(raw) if raw else REPO_ROOT / "target" / "debug" / "examples" / name
    return path if path.is_absolute() else REPO_ROOT / path


def nginx_missing() -> bool:
    return shutil.which(NGINX) is None and not Path(NGINX).exists()
