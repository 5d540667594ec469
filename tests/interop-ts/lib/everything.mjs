// Shared helpers: locate/start ferromcp's `everything` example server and connect the
// official TypeScript SDK client to it over stdio or Streamable HTTP.
//
// The binary comes from FERRO_EVERYTHING_BIN (default: target/debug/examples/everything
// under the repository root; build it with `cargo build --example everything`).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CALL_TIMEOUT_MS = 20_000;
export const TEST_TIMEOUT_MS = Number(process.env.INTEROP_TEST_TIMEOUT ?? 60) * 1000;
const READY_TIMEOUT_MS = 20_000;

export const LEGACY_VERSION = '2025-11-25';
export const SERVER_NAME = 'ferromcp-everything';
export const SIMPLE_TEXT = 'This is a simple text response for testing.';
export const STATIC_TEXT = 'This is the content of the static text resource.';
export const LOG_MESSAGES = ['Tool execution started', 'Tool processing data', 'Tool execution completed'];
export const EXPECTED_TOOLS = [
  'test_simple_text',
  'test_image_content',
  'test_audio_content',
  'test_embedded_resource',
  'test_multiple_content_types',
  'test_error_handling',
  'test_tool_with_logging',
  'test_tool_with_progress',
  'test_sampling',
  'test_elicitation',
  'test_header_param',
  'test_input_required_result_elicitation',
];
export const EXPECTED_PROMPTS = [
  'test_simple_prompt',
  'test_prompt_with_arguments',
  'test_prompt_with_embedded_resource',
  'test_prompt_with_image',
];
export const EXPECTED_RESOURCES = ['test://static-text', 'test://static-binary', 'test://watched-resource'];

/** The server binary; throws a clear error if it is missing. */
export function everythingBin() {
  const raw = process.env.FERRO_EVERYTHING_BIN;
  const bin = raw ? path.resolve(REPO_ROOT, raw) : path.join(REPO_ROOT, 'target', 'debug', 'examples', 'everything');
  try {
    accessSync(bin, constants.X_OK);
  } catch {
    throw new Error(
      `ferromcp \`everything\` server binary not found at ${bin}.\n` +
        'Build it with `cargo build --example everything` from the repository root, ' +
        'or point FERRO_EVERYTHING_BIN at an existing binary.',
    );
  }
  return bin;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Kill a child process: SIGTERM, then SIGKILL after 5 s; resolves when it has exited. */
function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * Start `everything --port N` on a free loopback port and wait (bounded) until it accepts
 * connections. Returns { url, stop }. Retries on another port if the first one was taken.
 */
export async function startHttpServer() {
  const bin = everythingBin();
  const failures = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawn(bin, ['--port', String(port), '--host', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let ready = false;
    while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
      if (await canConnect(port)) {
        ready = true;
        break;
      }
      await sleep(100);
    }
    if (ready) {
      return { url: `http://127.0.0.1:${port}/mcp`, stop: () => stopChild(child) };
    }
    await stopChild(child);
    failures.push(`port ${port}: exit=${child.exitCode} signal=${child.signalCode}\n${output.slice(-2000)}`);
  }
  throw new Error(`everything HTTP server never became ready:\n${failures.join('\n')}`);
}

/** Wraps a transport and records every JSON-RPC message in both directions. */
export class TapTransport {
  constructor(inner) {
    this.inner = inner;
    this.sent = [];
    this.received = [];
  }
  async start() {
    this.inner.onmessage = (message, extra) => {
      this.received.push(message);
      this.onmessage?.(message, extra);
    };
    this.inner.onclose = () => this.onclose?.();
    this.inner.onerror = (error) => this.onerror?.(error);
    return this.inner.start();
  }
  async send(message, options) {
    this.sent.push(message);
    return this.inner.send(message, options);
  }
  async close() {
    return this.inner.close();
  }
  setProtocolVersion(version) {
    this.inner.setProtocolVersion?.(version);
  }
  get sessionId() {
    return this.inner.sessionId;
  }
  /** The response to the request we sent with method `method` (first match). */
  responseTo(method) {
    const req = this.sent.find((m) => m.method === method && m.id !== undefined);
    return req && this.received.find((m) => m.id === req.id && m.method === undefined);
  }
  /** Requests the server sent to us. */
  serverRequests(method) {
    return this.received.filter((m) => m.method === method && m.id !== undefined);
  }
}

/**
 * Connect a TS SDK client. `kind` is 'stdio' or 'http'; `target` is the binary (stdio) or the
 * endpoint URL (http). `setup(client)` may register handlers before connecting.
 */
export async function connectClient(kind, target, { capabilities = {}, setup } = {}) {
  const inner =
    kind === 'stdio'
      ? new StdioClientTransport({ command: target, args: ['--stdio'], stderr: 'pipe' })
      : new StreamableHTTPClientTransport(new URL(target));
  const tap = new TapTransport(inner);
  const client = new Client({ name: 'ferromcp-interop-ts', version: '0.0.0' }, { capabilities });
  setup?.(client);
  await client.connect(tap, { timeout: CALL_TIMEOUT_MS });
  return { client, tap, close: () => closeClient(client, kind === 'http' ? inner : null) };
}

/** Close a client (either SDK); on HTTP, end the session first if there is one. */
export async function closeClient(client, httpTransport) {
  // End the HTTP session politely (DELETE), then close; never wait forever.
  const work = (async () => {
    if (httpTransport?.sessionId) await httpTransport.terminateSession().catch(() => {});
    await client.close();
  })();
  await Promise.race([work, sleep(5000)]);
}

/** Text of every text block in a content list. */
export function texts(content) {
  return content.filter((b) => b.type === 'text').map((b) => b.text);
}

/** Polls `predicate` every 50 ms; fails the test if it is still false after `timeoutMs`. */
export async function waitFor(predicate, what, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate() && Date.now() < deadline) await sleep(50);
  assert.ok(predicate(), `no ${what} within ${timeoutMs / 1000} s`);
}
