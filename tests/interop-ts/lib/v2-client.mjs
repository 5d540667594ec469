// Helpers for the SDK's v2 client (`@modelcontextprotocol/client` 2.x): connect it to the
// `everything` example over stdio or Streamable HTTP on either protocol era, recording every
// JSON-RPC message in both directions.
//
// The server binary and the HTTP server come from ./everything.mjs (FERRO_EVERYTHING_BIN).

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';

import { CALL_TIMEOUT_MS, closeClient } from './everything.mjs';

export const MODERN_VERSION = '2026-07-28';

/**
 * The client's `versionNegotiation.mode` for an era: 'legacy' runs the plain `initialize`
 * handshake (the v2 client's default), 'modern' pins 2026-07-28 (`server/discover`, no
 * fallback), 'auto' probes and picks.
 */
export function negotiationMode(era) {
  if (era === 'modern') return { pin: MODERN_VERSION };
  if (era === 'legacy' || era === 'auto') return era;
  throw new Error(`unknown era ${era}: use 'legacy', 'modern' or 'auto'`);
}

/**
 * Wraps a transport in a Proxy that records sent and received messages. A Proxy rather than
 * a wrapper class, so the client still sees the SDK's own transport (its class, its
 * version-negotiation hooks) and every method the v2 transport interface has.
 */
export function tapTransport(inner) {
  const sent = [];
  const received = [];
  let userOnMessage;
  const proxy = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'send') {
        return (message, options) => {
          sent.push(message);
          return target.send(message, options);
        };
      }
      if (prop === 'onmessage') return userOnMessage;
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
    set(target, prop, value) {
      if (prop === 'onmessage') {
        userOnMessage = value;
        target.onmessage = value
          ? (message, extra) => {
              received.push(message);
              value(message, extra);
            }
          : value;
        return true;
      }
      return Reflect.set(target, prop, value, target);
    },
  });
  return {
    transport: proxy,
    sent,
    received,
    /** Requests we sent with method `method`. */
    sentRequests: (method) => sent.filter((m) => m.method === method && m.id !== undefined),
    /** Requests the server sent to us with method `method`. */
    serverRequests: (method) => received.filter((m) => m.method === method && m.id !== undefined),
    /** Responses (results or errors) the server sent to requests we sent with `method`. */
    responsesTo: (method) => {
      const ids = new Set(sent.filter((m) => m.method === method && m.id !== undefined).map((m) => m.id));
      return received.filter((m) => m.method === undefined && ids.has(m.id));
    },
  };
}

/**
 * Connect a v2 client. `kind` is 'stdio' or 'http'; `target` is the binary (stdio) or the
 * endpoint URL (http); `era` is 'legacy', 'modern' or 'auto'. `setup(client)` may register
 * handlers before connecting. Returns { client, tap, close }.
 */
export async function connectV2(kind, target, era, { capabilities = {}, setup } = {}) {
  const inner =
    kind === 'stdio'
      ? new StdioClientTransport({ command: target, args: ['--stdio'], stderr: 'pipe' })
      : new StreamableHTTPClientTransport(new URL(target));
  const tap = tapTransport(inner);
  const client = new Client(
    { name: 'ferromcp-interop-ts-v2', version: '0.0.0' },
    { capabilities, versionNegotiation: { mode: negotiationMode(era) } },
  );
  setup?.(client);
  await client.connect(tap.transport, { timeout: CALL_TIMEOUT_MS });
  return { client, tap, close: () => closeClient(client, kind === 'http' ? inner : null) };
}
