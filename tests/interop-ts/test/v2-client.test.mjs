// The SDK's v2 client (@modelcontextprotocol/client 2.4.0) drives ferromcp's `everything`
// example over stdio and Streamable HTTP, on both protocol eras:
// - legacy: the v2 client's default negotiation mode, the 2025-11-25 `initialize` handshake
//   (sessions, server->client requests);
// - modern: negotiation pinned to 2026-07-28 (`server/discover`, `_meta` on every request,
//   elicitation as an `input_required` result the client fulfils and retries).
// One more test per transport checks that the 'auto' mode probes and picks the modern era.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { ProtocolError, ProtocolErrorCode, ResourceNotFoundError } from '@modelcontextprotocol/client';

import {
  CALL_TIMEOUT_MS,
  EXPECTED_PROMPTS,
  EXPECTED_RESOURCES,
  EXPECTED_TOOLS,
  LEGACY_VERSION,
  SERVER_NAME,
  SIMPLE_TEXT,
  STATIC_TEXT,
  TEST_TIMEOUT_MS,
  everythingBin,
  startHttpServer,
  texts,
  waitFor,
} from '../lib/everything.mjs';
import { MODERN_VERSION, connectV2 } from '../lib/v2-client.mjs';

const T = { timeout: TEST_TIMEOUT_MS };
const CALL = { timeout: CALL_TIMEOUT_MS };
const ELICIT = { elicitation: { form: {} } };

/** Runs `fn`, which must reject with a JSON-RPC error; returns that error. */
async function protocolError(fn) {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof ProtocolError, `expected a JSON-RPC error, got ${err?.stack ?? err}`);
    return err;
  }
  assert.fail('expected a JSON-RPC error, got a result');
}

for (const kind of ['stdio', 'http']) {
  describe(`TypeScript SDK v2 client over ${kind}`, () => {
    let target;
    let server;

    before(async () => {
      if (kind === 'http') {
        server = await startHttpServer();
        target = server.url;
      } else {
        target = everythingBin();
      }
    });

    after(async () => {
      await server?.stop();
    });

    /** Connect on `era`, run `fn({client, tap})`, always close. */
    async function withClient(era, options, fn) {
      const conn = await connectV2(kind, target, era, options);
      try {
        return await fn(conn);
      } finally {
        await conn.close();
      }
    }

    test("'auto' negotiation picks 2026-07-28 via server/discover", T, async () => {
      await withClient('auto', {}, async ({ client, tap }) => {
        assert.equal(client.getProtocolEra(), 'modern');
        assert.equal(client.getNegotiatedProtocolVersion(), MODERN_VERSION);
        assert.equal(tap.sentRequests('initialize').length, 0, 'no initialize on the modern era');
        const { tools } = await client.listTools(undefined, CALL);
        assert.ok(tools.some((t) => t.name === 'test_simple_text'));
      });
    });

    for (const era of ['legacy', 'modern']) {
      const version = era === 'modern' ? MODERN_VERSION : LEGACY_VERSION;

      describe(`${era} era (${version})`, () => {
        test('connect negotiates the era and identifies the server', T, async () => {
          await withClient(era, {}, async ({ client, tap }) => {
            assert.equal(client.getProtocolEra(), era);
            assert.equal(client.getNegotiatedProtocolVersion(), version);
            assert.equal(client.getServerVersion()?.name, SERVER_NAME);
            assert.ok(client.getServerCapabilities()?.tools, 'tools capability advertised');
            if (era === 'modern') {
              assert.equal(tap.sentRequests('initialize').length, 0);
              // Over stdio the SDK sends its probe from a short-lived sibling process, so
              // only HTTP shows it on this connection.
              if (kind === 'http') assert.equal(tap.sentRequests('server/discover').length, 1);
              assert.ok(client.getDiscoverResult()?.supportedVersions.includes(MODERN_VERSION));
            } else {
              assert.equal(tap.responsesTo('initialize')[0]?.result?.protocolVersion, LEGACY_VERSION);
            }
          });
        });

        test('tools/list contains the fixture tools', T, async () => {
          await withClient(era, {}, async ({ client }) => {
            const { tools } = await client.listTools(undefined, CALL);
            const names = new Set(tools.map((t) => t.name));
            assert.deepEqual(EXPECTED_TOOLS.filter((n) => !names.has(n)), []);
            const sampling = tools.find((t) => t.name === 'test_sampling');
            assert.equal(sampling.inputSchema.properties.prompt.type, 'string');
          });
        });

        test('tools/call without and with arguments', T, async () => {
          await withClient(era, {}, async ({ client, tap }) => {
            const simple = await client.callTool({ name: 'test_simple_text', arguments: {} }, CALL);
            assert.ok(!simple.isError);
            assert.deepEqual(texts(simple.content), [SIMPLE_TEXT]);
            const region = await client.callTool({ name: 'test_header_param', arguments: { region: 'us-east-2' } }, CALL);
            assert.deepEqual(texts(region.content), ['region=us-east-2']);
            if (era === 'modern') {
              // Every modern request carries its own `_meta` (no session); every result says
              // it is complete.
              for (const request of tap.sentRequests('tools/call')) {
                assert.equal(request.params._meta?.['io.modelcontextprotocol/protocolVersion'], MODERN_VERSION);
              }
              const responses = tap.responsesTo('tools/call');
              for (const response of responses.filter((r) => r.result)) assert.equal(response.result.resultType, 'complete');
              if (kind === 'http') {
                // `region` is mirrored in the Mcp-Param-Region header (SEP-2243). The client
                // learns that from tools/list, which it had not called yet: the server
                // rejects the first attempt (-32020), the client lists tools and retries
                // with the header.
                const errors = responses.filter((r) => r.error).map((r) => [r.error.code, r.error.message]);
                assert.deepEqual(errors, [[-32020, 'Missing Mcp-Param-Region header']]);
                assert.equal(tap.sentRequests('tools/list').length, 1);
                assert.equal(tap.sentRequests('tools/call').length, 3);
              } else {
                assert.ok(responses.every((r) => r.result), JSON.stringify(responses));
              }
            }
          });
        });

        test('progress: >= 3 non-decreasing notifications ending at 100', T, async () => {
          await withClient(era, {}, async ({ client }) => {
            const seen = [];
            const result = await client.callTool({ name: 'test_tool_with_progress', arguments: {} }, {
              ...CALL,
              onprogress: (p) => seen.push(p),
            });
            assert.deepEqual(texts(result.content), ['Progress test completed']);
            const values = seen.map((p) => p.progress);
            assert.ok(values.length >= 3, `progress: ${JSON.stringify(seen)}`);
            assert.deepEqual(values, [...values].sort((a, b) => a - b));
            assert.equal(values.at(-1), 100);
            assert.ok(seen.every((p) => p.total === 100));
          });
        });

        test('resources: list, static text read, template read', T, async () => {
          await withClient(era, {}, async ({ client }) => {
            const { resources } = await client.listResources(undefined, CALL);
            const uris = new Set(resources.map((r) => r.uri));
            assert.deepEqual(EXPECTED_RESOURCES.filter((u) => !uris.has(u)), []);

            const text = await client.readResource({ uri: 'test://static-text' }, CALL);
            assert.equal(text.contents.length, 1);
            assert.equal(text.contents[0].text, STATIC_TEXT);
            assert.equal(text.contents[0].mimeType, 'text/plain');

            const templated = await client.readResource({ uri: 'test://template/42/data' }, CALL);
            const data = JSON.parse(templated.contents[0].text);
            assert.equal(data.id, '42');
            assert.equal(data.templateTest, true);
          });
        });

        test('prompts: list and get with arguments', T, async () => {
          await withClient(era, {}, async ({ client }) => {
            const { prompts } = await client.listPrompts(undefined, CALL);
            const names = new Set(prompts.map((p) => p.name));
            assert.deepEqual(EXPECTED_PROMPTS.filter((n) => !names.has(n)), []);
            const got = await client.getPrompt(
              { name: 'test_prompt_with_arguments', arguments: { arg1: 'a', arg2: 'b' } },
              CALL,
            );
            assert.equal(got.messages.length, 1);
            assert.equal(got.messages[0].role, 'user');
            assert.ok(got.messages[0].content.text.includes("arg1='a'"), got.messages[0].content.text);
            assert.ok(got.messages[0].content.text.includes("arg2='b'"), got.messages[0].content.text);
          });
        });

        test('elicitation: the client handler answers, the tool sees the answer', T, async () => {
          const asked = [];
          await withClient(
            era,
            {
              capabilities: ELICIT,
              setup: (c) =>
                c.setRequestHandler('elicitation/create', async (request) => {
                  asked.push(request.params);
                  return { action: 'accept', content: { username: 'u', email: 'e@x' } };
                }),
            },
            async ({ client, tap }) => {
              const result = await client.callTool({ name: 'test_elicitation', arguments: { message: 'hi' } }, CALL);
              const [text] = texts(result.content);
              assert.match(text, /^User response: /);
              assert.match(text, /action=accept/);
              assert.ok(text.includes('"username":"u"'), text);
              assert.ok(text.includes('"email":"e@x"'), text);
              if (era === 'modern') {
                // No server->client request: an input_required result, then a retry that
                // carries the answer.
                assert.equal(tap.serverRequests('elicitation/create').length, 0);
                const kinds = tap.responsesTo('tools/call').map((r) => r.result?.resultType);
                assert.deepEqual(kinds, ['input_required', 'complete']);
                const retry = tap.sentRequests('tools/call')[1];
                assert.ok(retry.params.inputResponses, JSON.stringify(retry.params));
              } else {
                assert.equal(tap.serverRequests('elicitation/create').length, 1);
              }
            },
          );
          assert.equal(asked.length, 1);
          assert.equal(asked[0].message, 'hi');
          assert.deepEqual(Object.keys(asked[0].requestedSchema.properties).sort(), ['email', 'username']);
        });

        test('test_input_required_result_elicitation greets the elicited name', T, async () => {
          await withClient(
            era,
            {
              capabilities: ELICIT,
              setup: (c) =>
                c.setRequestHandler('elicitation/create', async (request) => {
                  assert.equal(request.params.message, 'What is your name?');
                  return { action: 'accept', content: { name: 'Ada' } };
                }),
            },
            async ({ client, tap }) => {
              const result = await client.callTool({ name: 'test_input_required_result_elicitation', arguments: {} }, CALL);
              assert.deepEqual(texts(result.content), ['Hello, Ada!']);
              const serverAsked = tap.serverRequests('elicitation/create').length;
              assert.equal(serverAsked, era === 'modern' ? 0 : 1);
            },
          );
        });

        test('sampling: the client handler answers, the tool sees the sampled text', T, async () => {
          const asked = [];
          await withClient(
            era,
            {
              capabilities: { sampling: {} },
              setup: (c) =>
                c.setRequestHandler('sampling/createMessage', async (request) => {
                  asked.push(request.params);
                  return {
                    role: 'assistant',
                    content: { type: 'text', text: 'pong from ts v2' },
                    model: 'interop-fake-llm',
                    stopReason: 'endTurn',
                  };
                }),
            },
            async ({ client, tap }) => {
              const result = await client.callTool({ name: 'test_sampling', arguments: { prompt: 'ping?' } }, CALL);
              assert.ok(!result.isError);
              assert.deepEqual(texts(result.content), ['LLM response: pong from ts v2']);
              assert.equal(tap.serverRequests('sampling/createMessage').length, era === 'modern' ? 0 : 1);
            },
          );
          assert.equal(asked.length, 1);
          assert.equal(asked[0].maxTokens, 100);
          assert.deepEqual(asked[0].messages.map((m) => [m.role, m.content.text]), [['user', 'ping?']]);
        });

        test('change notifications: resource updates and tools/list_changed', T, async () => {
          const updated = [];
          let toolListChanged = 0;
          await withClient(
            era,
            {
              setup: (c) => {
                c.setNotificationHandler('notifications/resources/updated', (n) => updated.push(n.params.uri));
                c.setNotificationHandler('notifications/tools/list_changed', () => toolListChanged++);
              },
            },
            async ({ client, tap }) => {
              const watched = 'test://watched-resource';
              let subscription;
              if (era === 'modern') {
                // 2026-07-28: one long-lived subscriptions/listen stream, acknowledged first.
                subscription = await client.listen({ toolsListChanged: true, resourceSubscriptions: [watched] }, CALL);
                assert.equal(subscription.honoredFilter.toolsListChanged, true);
                assert.deepEqual(subscription.honoredFilter.resourceSubscriptions, [watched]);
              } else {
                await client.subscribeResource({ uri: watched }, CALL);
              }
              await waitFor(() => updated.length > 0, 'notifications/resources/updated'); // every 3 s
              assert.equal(updated[0], watched);

              const result = await client.callTool({ name: 'test_trigger_tool_change', arguments: {} }, CALL);
              assert.deepEqual(texts(result.content), ['tool list changed']);
              await waitFor(() => toolListChanged > 0, 'notifications/tools/list_changed');
              const { tools } = await client.listTools(undefined, CALL);
              assert.ok(tools.some((t) => t.name === 'test_dynamic_tool'));

              if (era === 'modern') {
                // Every notification on the stream names the listen request it belongs to.
                const [listen] = tap.sentRequests('subscriptions/listen');
                const tagged = tap.received.filter((m) => m.method?.startsWith('notifications/') && m.method !== 'notifications/progress');
                assert.ok(tagged.length >= 3, JSON.stringify(tagged));
                for (const n of tagged) {
                  assert.deepEqual(n.params?._meta?.['io.modelcontextprotocol/subscriptionId'], listen.id, JSON.stringify(n));
                }
                await subscription.close();
              }
            },
          );
        });

        test('errors: unknown tool, unknown resource; the tool error result', T, async () => {
          await withClient(era, {}, async ({ client, tap }) => {
            const unknownTool = await protocolError(() =>
              client.callTool({ name: 'no_such_tool', arguments: {} }, CALL),
            );
            assert.equal(unknownTool.code, ProtocolErrorCode.InvalidParams);
            assert.match(unknownTool.message, /no_such_tool/);

            const missing = 'test://no-such-resource';
            const unknownResource = await protocolError(() => client.readResource({ uri: missing }, CALL));
            // The SDK turns either wire code into its ResourceNotFoundError (code -32602).
            assert.ok(unknownResource instanceof ResourceNotFoundError, `${unknownResource}`);
            assert.equal(unknownResource.uri, missing);
            // On the wire, SEP-2164: -32602 with data.uri on 2026-07-28; 2025-11-25 keeps -32002.
            const [wire] = tap.responsesTo('resources/read');
            const code = era === 'modern' ? ProtocolErrorCode.InvalidParams : ProtocolErrorCode.ResourceNotFound;
            assert.equal(wire.error.code, code);
            assert.deepEqual(wire.error.data, { uri: missing });

            const failing = await client.callTool({ name: 'test_error_handling', arguments: {} }, CALL);
            assert.equal(failing.isError, true);
            assert.deepEqual(texts(failing.content), ['This tool intentionally returns an error for testing']);
          });
        });
      });
    }
  });
}
