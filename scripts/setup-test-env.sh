#!/usr/bin/env bash
# Sets up the interop test clients (idempotent; safe to re-run):
#   * a Python venv at ${FERRO_VENV:-.venv} (relative paths are taken from the repository root)
#     with the pinned packages of tests/interop/requirements.txt (+ constraints.txt);
#   * the pinned npm packages of tests/interop-ts (npm ci from package-lock.json);
#   * the official TypeScript reference server (npm @modelcontextprotocol/server-everything)
#     that ferromcp-client's tests drive, in crates/ferromcp-client/tests/foreign-ts (npm ci).
# A re-run skips a step whose pins have not changed since it last succeeded; pass --force
# (or FERRO_SETUP_FORCE=1) to reinstall anyway.
#
# Afterwards:
#   cargo build --example everything
#   "$FERRO_VENV/bin/python" -m pytest tests/interop -q
#   (cd tests/interop-ts && npm test)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

FORCE="${FERRO_SETUP_FORCE:-0}"
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "setup-test-env: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

VENV="${FERRO_VENV:-.venv}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
PY_REQ="tests/interop/requirements.txt"
PY_CONSTRAINTS="tests/interop/constraints.txt"
TS_DIR="tests/interop-ts"

say() { printf '==> %s\n' "$*"; }
die() { printf 'setup-test-env: error: %s\n' "$*" >&2; exit 1; }
run() { printf '  $ %s\n' "$*"; "$@"; }
hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# ---------------------------------------------------------------- Python
command -v python3 >/dev/null || die "python3 not found (need Python >= 3.10)"
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
  || die "python3 is $(python3 --version 2>&1); the interop clients need Python >= 3.10"
[ -f "$PY_REQ" ] || die "$PY_REQ is missing"

if [ ! -x "$VENV/bin/python" ]; then
  say "creating Python venv at $VENV ($(python3 --version 2>&1))"
  run python3 -m venv "$VENV" || die "python3 -m venv failed (on Debian/Ubuntu: apt-get install python3-venv)"
else
  say "reusing Python venv at $VENV ($("$VENV/bin/python" --version 2>&1))"
fi

PY_STAMP="$VENV/.ferro-interop-requirements.sha256"
PY_HASH="$(hash_of "$PY_REQ" "$PY_CONSTRAINTS")"
if [ "$FORCE" != 1 ] && [ -f "$PY_STAMP" ] && [ "$(cat "$PY_STAMP")" = "$PY_HASH" ]; then
  say "Python packages already match $PY_REQ (skipping; --force to reinstall)"
else
  say "installing pinned Python packages from $PY_REQ"
  rm -f "$PY_STAMP"
  run "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$PY_REQ"
  printf '%s\n' "$PY_HASH" > "$PY_STAMP"
fi
say "checking the Python clients import"
run "$VENV/bin/python" -c 'import importlib.metadata as m; import mcp, fastmcp, pytest, pytest_asyncio, anyio; print("   ", ", ".join(f"{p}=={m.version(p)}" for p in ("mcp", "fastmcp", "pytest", "pytest-asyncio", "anyio")))'

# ---------------------------------------------------------------- TypeScript
command -v node >/dev/null || die "node not found (need Node.js >= 20; the suite uses node:test)"
command -v npm >/dev/null || die "npm not found"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
  || die "node is $(node --version); the TypeScript SDK v2 client needs Node.js >= 20"
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

TS_STAMP="$TS_DIR/node_modules/.ferro-interop-lock.sha256"
if [ -f "$TS_DIR/package-lock.json" ]; then
  TS_HASH="$(hash_of "$TS_DIR/package.json" "$TS_DIR/package-lock.json")"
  if [ "$FORCE" != 1 ] && [ -f "$TS_STAMP" ] && [ "$(cat "$TS_STAMP")" = "$TS_HASH" ]; then
    say "npm packages already match $TS_DIR/package-lock.json (skipping; --force to reinstall)"
  else
    say "installing pinned npm packages in $TS_DIR (npm ci, node $(node --version))"
    (cd "$TS_DIR" && run npm ci --no-audit --no-fund)
    printf '%s\n' "$TS_HASH" > "$TS_STAMP"
  fi
else
  say "no package-lock.json in $TS_DIR: npm install (commit the lockfile it writes)"
  (cd "$TS_DIR" && run npm install --no-audit --no-fund)
fi
say "checking the TypeScript SDK resolves"
(cd "$TS_DIR" && run node --input-type=module -e 'import "@modelcontextprotocol/sdk/client/index.js"; import "@modelcontextprotocol/client"; import { readFileSync } from "node:fs"; const v = (p) => JSON.parse(readFileSync(`node_modules/${p}/package.json`, "utf8")).version; console.log(`    @modelcontextprotocol/sdk@${v("@modelcontextprotocol/sdk")}, @modelcontextprotocol/client@${v("@modelcontextprotocol/client")}, zod@${v("zod")}`);')

# The TypeScript reference server for crates/ferromcp-client/tests/foreign_ts.rs.
FOREIGN_TS_DIR="crates/ferromcp-client/tests/foreign-ts"
FOREIGN_STAMP="$FOREIGN_TS_DIR/node_modules/.ferro-foreign-lock.sha256"
FOREIGN_HASH="$(hash_of "$FOREIGN_TS_DIR/package.json" "$FOREIGN_TS_DIR/package-lock.json")"
if [ "$FORCE" != 1 ] && [ -f "$FOREIGN_STAMP" ] && [ "$(cat "$FOREIGN_STAMP")" = "$FOREIGN_HASH" ]; then
  say "npm packages already match $FOREIGN_TS_DIR/package-lock.json (skipping; --force to reinstall)"
else
  say "installing the TypeScript reference server in $FOREIGN_TS_DIR (npm ci)"
  (cd "$FOREIGN_TS_DIR" && run npm ci --no-audit --no-fund)
  printf '%s\n' "$FOREIGN_HASH" > "$FOREIGN_STAMP"
fi
(cd "$FOREIGN_TS_DIR" && node -e 'console.log("    @modelcontextprotocol/server-everything@" + require("./node_modules/@modelcontextprotocol/server-everything/package.json").version)')

say "done. Next: cargo build --example everything && $VENV/bin/python -m pytest tests/interop -q && (cd $TS_DIR && npm test)"
