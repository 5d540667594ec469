#!/usr/bin/env bash
# Runs every test ferromcp has, in order, and ends with "N passed, N failed" (stages).
#
#   scripts/test-all.sh            # everything
#   SKIP_LINT=1 scripts/test-all.sh
#
# Stages: lint (fmt, clippy, module cycles) · cargo tests · official MCP conformance suite (both
# revisions) against examples/everything, and again through examples/proxy in front
# of it · its client leg (both revisions) driving
# examples/conformance_client · real-client interop (Python mcp SDK,
# fastmcp Client, TypeScript SDK v1 and v2 clients; stdio and HTTP) · cluster (three
# `--redis` nodes behind nginx, tests/cluster) · fuzz smoke.
# Needs: cargo, python3, npm, curl, Redis, nginx; installs the Python venv and npm packages itself
# (scripts/setup-test-env.sh). The conformance suite comes from ../shared/tools.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SHARED=${FERRO_SHARED:-$ROOT/../shared}
export FERRO_VENV=${FERRO_VENV:-$ROOT/.venv}
# ferromcp-client's foreign-server tests (TypeScript reference server, FastMCP) fail
# instead of skipping when their npm package or the venv is missing.
export FERRO_REQUIRE_FOREIGN=1
PASSED=0; FAILED=0; FAILED_NAMES=()
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done; }
trap cleanup EXIT

stage() {
  local name=$1; shift
  echo; echo "=== $name ==="
  local t0=$(date +%s)
  if "$@"; then PASSED=$((PASSED+1)); echo "--- $name: ok ($(( $(date +%s) - t0 ))s)"
  else FAILED=$((FAILED+1)); FAILED_NAMES+=("$name"); echo "--- $name: FAILED ($(( $(date +%s) - t0 ))s)"; fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

wait_http() { # url
  for _ in $(seq 1 100); do curl -s -o /dev/null -m 2 "$1" && return 0; sleep 0.2; done
  echo "server at $1 did not come up" >&2; return 1
}

lint() {
  cargo fmt --all -- --check && cargo clippy --workspace --all-targets -- -D warnings && python3 scripts/module-cycles.py
}

cargo_tests() {
  cargo build --workspace --examples && cargo test --workspace --no-fail-fast
}

conformance() {
  local port; port=$(free_port)
  target/debug/examples/everything --port "$port" >"$ROOT/target/everything-conformance.log" 2>&1 &
  local pid=$!; PIDS+=("$pid")
  wait_http "http://127.0.0.1:$port/mcp" || return 1
  local out; out=$(mktemp)
  # Scored scenarios of both revisions must all pass (exit status), and the
  # not-scored scenarios ferromcp implements must pass too.
  MCP_CONFORMANCE_COUNT=scored "$SHARED/tools/conformance.sh" "http://127.0.0.1:$port/mcp" both | tee "$out"
  local rc=${PIPESTATUS[0]}
  MCP_CONFORMANCE_COUNT=all "$SHARED/tools/conformance.sh" "http://127.0.0.1:$port/mcp" both >"$out.all" 2>&1
  local extra_rc=0
  for s in server-session-lifecycle server-sse-polling json-schema-2020-12 http-header-validation http-custom-header-server-validation; do
    if grep -E "^\S+\s+$s\s" "$out.all" | grep -qv " PASS "; then
      echo "not-scored scenario $s failed:"; grep -E "^\S+\s+$s\s" "$out.all"; extra_rc=1
    fi
  done
  kill "$pid" 2>/dev/null
  [ "$rc" -eq 0 ] && [ "$extra_rc" -eq 0 ]
}

conformance_proxy() {
  # The same scored scenarios, through examples/proxy in front of `everything` (one
  # HTTP backend, so names are unchanged): every one must pass on both revisions.
  local bport pport; bport=$(free_port); pport=$(free_port)
  target/debug/examples/everything --port "$bport" >"$ROOT/target/everything-proxied.log" 2>&1 &
  local bpid=$!; PIDS+=("$bpid")
  wait_http "http://127.0.0.1:$bport/mcp" || return 1
  local cfg; cfg=$(mktemp --suffix=.json)
  printf '{"mcpServers": {"everything": {"url": "http://127.0.0.1:%s/mcp"}}}\n' "$bport" >"$cfg"
  target/debug/examples/proxy --config "$cfg" --port "$pport" >"$ROOT/target/proxy-conformance.log" 2>&1 &
  local ppid=$!; PIDS+=("$ppid")
  wait_http "http://127.0.0.1:$pport/mcp" || return 1
  MCP_CONFORMANCE_COUNT=scored "$SHARED/tools/conformance.sh" "http://127.0.0.1:$pport/mcp" both
  local rc=$?
  kill "$ppid" "$bpid" 2>/dev/null
  rm -f "$cfg"
  [ "$rc" -eq 0 ]
}

conformance_client() {
  # The suite's client leg drives examples/conformance_client against its own mock
  # servers and authorization servers. Every scored scenario of both revisions must
  # pass (exit status), and so must the not-scored ones ferromcp implements.
  local out; out=$(mktemp)
  MCP_CONFORMANCE_COUNT=scored "$SHARED/tools/conformance.sh" --client "$ROOT/target/debug/examples/conformance_client" both | tee "$out"
  local rc=${PIPESTATUS[0]}
  local extra_rc=0
  for s in auth/client-credentials-basic json-schema-2020-12-preservation; do
    if grep -E "^\S+\s+$s\s" "$out" | grep -qv " PASS "; then
      echo "not-scored scenario $s failed:"; grep -E "^\S+\s+$s\s" "$out"; extra_rc=1
    fi
  done
  [ "$rc" -eq 0 ] && [ "$extra_rc" -eq 0 ]
}

python_interop() {
  FERRO_EVERYTHING_BIN="$ROOT/target/debug/examples/everything" FERRO_PROXY_BIN="$ROOT/target/debug/examples/proxy" \
    "$FERRO_VENV/bin/python" -m pytest tests/interop -q
}

cluster() {
  FERRO_EVERYTHING_BIN="$ROOT/target/debug/examples/everything" FERRO_COUNTER_BIN="$ROOT/target/debug/examples/counter" \
    "$FERRO_VENV/bin/python" -m pytest tests/cluster -q -rs
}

ts_interop() {
  (cd tests/interop-ts && FERRO_EVERYTHING_BIN="$ROOT/target/debug/examples/everything" npm test)
}

fuzz_smoke() {
  scripts/fuzz-smoke.sh "${FUZZ_SECONDS:-20}"
}

guide() {
  # The guide (docs/guide, an mdBook) builds; its Rust samples are compiled and run by
  # `cargo test --doc -p ferromcp` in the cargo tests stage (src/guide.rs).
  command -v mdbook >/dev/null || { echo "mdbook not found: cargo install mdbook --locked --version 0.5.4"; return 1; }
  mdbook build docs/guide
}

stage "setup (venv, npm)" scripts/setup-test-env.sh
[ "${SKIP_LINT:-0}" = 1 ] || stage "lint (fmt, clippy, module cycles)" lint
stage "cargo tests" cargo_tests
stage "guide (mdbook build)" guide
stage "conformance (2025-11-25 + 2026-07-28)" conformance
stage "conformance through proxy" conformance_proxy
stage "conformance client (both revisions)" conformance_client
stage "interop: Python mcp SDK + fastmcp" python_interop
stage "interop: TypeScript SDK" ts_interop
stage "cluster: 3 nodes on Redis behind nginx" cluster
[ "${SKIP_FUZZ:-0}" = 1 ] || stage "fuzz smoke" fuzz_smoke

echo
[ "$FAILED" -eq 0 ] || echo "failed stages: ${FAILED_NAMES[*]}"
echo "stages: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
