// The official MCP TypeScript SDK (@modelcontextprotocol/sdk 1.32.2) drives ferromcp's
// `everything` example over stdio and Streamable HTTP.
//
// SDK 1.32.2 only speaks the handshake era (it always offers LATEST_PROTOCOL_VERSION =
// 2025-11-25 in `initialize` and has no 2026-07-28 / server/discover support), so every test
// here runs on 2025-11-25; elicitation and sampling arrive as real server->client requests.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ErrorCode,
  LoggingMessageNotificationSchema,
  McpError,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';

import {
  CALL_TIMEOUT_MS,
  EXPECTED_PROMPTS,
  EXPECTED_RESOURCES,
  EXPECTED_TOOLS,
  LEGACY_VERSION,
  LOG_MESSAGES,
  SERVER_NAME,
  SIMPLE_TEXT,
  STATIC_TEXT,
  TEST_TIMEOUT_MS,
  connectClient,
  everythingBin,
  startHttpServer,
  texts,
  waitFor,
} from '../lib/everything.mjs';

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const T = { timeout: TEST_TIMEOUT_MS };
const CALL = { timeout: CALL_TIMEOUT_MS };

for (const kind of ['stdio', 'http']) {
  describe(`TypeScript SDK client over ${kind}`, () => {
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

    /** Connect, run `fn({client, tap})`, always close. */
    async function withClient(options, fn) {
      const conn = await connectClient(kind, target, options);
      try {
        return await fn(conn);
      } finally {
        await conn.close();
      }
    }

    test('initialize negotiates 2025-11-25 and identifies the server', T, async () => {
      await withClient({}, async ({ client, tap }) => {
        assert.equal(client.getServerVersion()?.name, SERVER_NAME);
        assert.ok(client.getServerCapabilities()?.tools, 'tools capability advertised');
        assert.match(client.getInstructions() ?? '', /conformance fixture/);
        const init = tap.responseTo('initialize');
        assert.ok(init, 'initialize answered');
        assert.equal(init.result.protocolVersion, LEGACY_VERSION);
        assert.deepEqual(await client.ping(CALL), {});
      });
    });

    test('tools/list contains the fixture tools', T, async () => {
      await withClient({}, async ({ client }) => {
        const { tools } = await client.listTools(undefined, CALL);
        const names = new Set(tools.map((t) => t.name));
        const missing = EXPECTED_TOOLS.filter((n) => !names.has(n));
        assert.deepEqual(missing, []);
        const sampling = tools.find((t) => t.name === 'test_sampling');
        assert.equal(sampling.inputSchema.properties.prompt.type, 'string');
      });
    });

    test('test_simple_text returns the exact text', T, async () => {
      await withClient({}, async ({ client }) => {
        const result = await client.callTool({ name: 'test_simple_text', arguments: {} }, undefined, CALL);
        assert.ok(!result.isError);
        assert.deepEqual(texts(result.content), [SIMPLE_TEXT]);
      });
    });

    test('a tool with arguments', T, async () => {
      await withClient({}, async ({ client }) => {
        const result = await client.callTool({ name: 'test_header_param', arguments: { region: 'us-east-2' } }, undefined, CALL);
        assert.deepEqual(texts(result.content), ['region=us-east-2']);
      });
    });

    test('image and mixed content', T, async () => {
      await withClient({}, async ({ client }) => {
        const image = await client.callTool({ name: 'test_image_content', arguments: {} }, undefined, CALL);
        assert.deepEqual(image.content.map((b) => [b.type, b.mimeType]), [['image', 'image/png']]);
        assert.ok(Buffer.from(image.content[0].data, 'base64').subarray(0, 8).equals(PNG_MAGIC));
        const mixed = await client.callTool({ name: 'test_multiple_content_types', arguments: {} }, undefined, CALL);
        assert.deepEqual(mixed.content.map((b) => b.type), ['text', 'image', 'resource']);
        assert.deepEqual(JSON.parse(mixed.content[2].resource.text), { test: 'data', value: 123 });
      });
    });

    test('progress: >= 3 non-decreasing notifications ending at 100', T, async () => {
      await withClient({}, async ({ client }) => {
        const seen = [];
        const result = await client.callTool({ name: 'test_tool_with_progress', arguments: {} }, undefined, {
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

    test('logging: three info messages in order', T, async () => {
      const logs = [];
      await withClient(
        { setup: (c) => c.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logs.push(n.params)) },
        async ({ client }) => {
          const result = await client.callTool({ name: 'test_tool_with_logging', arguments: {} }, undefined, CALL);
          assert.deepEqual(texts(result.content), ['Logging test completed']);
        },
      );
      assert.deepEqual(logs.map((l) => l.data), LOG_MESSAGES);
      assert.ok(logs.every((l) => l.level === 'info'));
    });

    test('logging/setLevel warning suppresses info messages', T, async () => {
      const logs = [];
      await withClient(
        { setup: (c) => c.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logs.push(n.params)) },
        async ({ client }) => {
          await client.setLoggingLevel('warning', CALL);
          const result = await client.callTool({ name: 'test_tool_with_logging', arguments: {} }, undefined, CALL);
          assert.deepEqual(texts(result.content), ['Logging test completed']);
        },
      );
      assert.deepEqual(logs, []);
    });

    test('elicitation: the client handler answers a real elicitation/create request', T, async () => {
      const asked = [];
      await withClient(
        {
          capabilities: { elicitation: { form: {} } },
          setup: (c) =>
            c.setRequestHandler(ElicitRequestSchema, async (request) => {
              asked.push(request.params);
              return { action: 'accept', content: { username: 'u', email: 'e@x' } };
            }),
        },
        async ({ client, tap }) => {
          const result = await client.callTool({ name: 'test_elicitation', arguments: { message: 'hi' } }, undefined, CALL);
          const [text] = texts(result.content);
          assert.match(text, /^User response: /);
          assert.match(text, /action=accept/);
          assert.ok(text.includes('"username":"u"'), text);
          assert.ok(text.includes('"email":"e@x"'), text);
          assert.equal(tap.serverRequests('elicitation/create').length, 1);
        },
      );
      assert.equal(asked.length, 1);
      assert.equal(asked[0].message, 'hi');
      assert.deepEqual(Object.keys(asked[0].requestedSchema.properties).sort(), ['email', 'username']);
    });

    test('test_input_required_result_elicitation greets the elicited name', T, async () => {
      await withClient(
        {
          capabilities: { elicitation: { form: {} } },
          setup: (c) =>
            c.setRequestHandler(ElicitRequestSchema, async (request) => {
              assert.equal(request.params.message, 'What is your name?');
              return { action: 'accept', content: { name: 'Ada' } };
            }),
        },
        async ({ client, tap }) => {
          const result = await client.callTool({ name: 'test_input_required_result_elicitation', arguments: {} }, undefined, CALL);
          assert.deepEqual(texts(result.content), ['Hello, Ada!']);
          // 2025-11-25: the MRTR tool falls back to a real server->client request.
          assert.equal(tap.serverRequests('elicitation/create').length, 1);
        },
      );
    });

    test('elicitation decline is reported', T, async () => {
      await withClient(
        {
          capabilities: { elicitation: { form: {} } },
          setup: (c) => c.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'decline' })),
        },
        async ({ client }) => {
          const result = await client.callTool({ name: 'test_elicitation', arguments: { message: 'hi' } }, undefined, CALL);
          assert.match(texts(result.content)[0], /action=decline/);
        },
      );
    });

    test('sampling: the client handler answers sampling/createMessage', T, async () => {
      const asked = [];
      await withClient(
        {
          capabilities: { sampling: {} },
          setup: (c) =>
            c.setRequestHandler(CreateMessageRequestSchema, async (request) => {
              asked.push(request.params);
              return {
                role: 'assistant',
                content: { type: 'text', text: 'pong from ts' },
                model: 'interop-fake-llm',
                stopReason: 'endTurn',
              };
            }),
        },
        async ({ client }) => {
          const result = await client.callTool({ name: 'test_sampling', arguments: { prompt: 'ping?' } }, undefined, CALL);
          assert.ok(!result.isError);
          assert.deepEqual(texts(result.content), ['LLM response: pong from ts']);
        },
      );
      assert.equal(asked.length, 1);
      assert.equal(asked[0].maxTokens, 100);
      assert.deepEqual(asked[0].messages.map((m) => [m.role, m.content.text]), [['user', 'ping?']]);
    });

    test('resources: list, templates, static text, binary, template read', T, async () => {
      await withClient({}, async ({ client }) => {
        const { resources } = await client.listResources(undefined, CALL);
        const uris = new Set(resources.map((r) => r.uri));
        assert.deepEqual(EXPECTED_RESOURCES.filter((u) => !uris.has(u)), []);
        const { resourceTemplates } = await client.listResourceTemplates(undefined, CALL);
        assert.ok(resourceTemplates.some((t) => t.uriTemplate === 'test://template/{id}/data'));

        const text = await client.readResource({ uri: 'test://static-text' }, CALL);
        assert.equal(text.contents.length, 1);
        assert.equal(text.contents[0].text, STATIC_TEXT);
        assert.equal(text.contents[0].mimeType, 'text/plain');

        const binary = await client.readResource({ uri: 'test://static-binary' }, CALL);
        assert.ok(binary.contents[0].blob.length > 0);
        assert.ok(Buffer.from(binary.contents[0].blob, 'base64').subarray(0, 8).equals(PNG_MAGIC));

        const templated = await client.readResource({ uri: 'test://template/42/data' }, CALL);
        const data = JSON.parse(templated.contents[0].text);
        assert.equal(data.id, '42');
        assert.equal(data.templateTest, true);
      });
    });

    test('prompts: list and get with arguments', T, async () => {
      await withClient({}, async ({ client }) => {
        const { prompts } = await client.listPrompts(undefined, CALL);
        const names = new Set(prompts.map((p) => p.name));
        assert.deepEqual(EXPECTED_PROMPTS.filter((n) => !names.has(n)), []);
        const withArgs = prompts.find((p) => p.name === 'test_prompt_with_arguments');
        assert.deepEqual(withArgs.arguments.map((a) => a.name).sort(), ['arg1', 'arg2']);

        const got = await client.getPrompt({ name: 'test_prompt_with_arguments', arguments: { arg1: 'a', arg2: 'b' } }, CALL);
        assert.equal(got.messages.length, 1);
        assert.equal(got.messages[0].role, 'user');
        assert.ok(got.messages[0].content.text.includes("arg1='a'"), got.messages[0].content.text);
        assert.ok(got.messages[0].content.text.includes("arg2='b'"), got.messages[0].content.text);
      });
    });

    test('completion/complete for a prompt argument', T, async () => {
      await withClient({}, async ({ client }) => {
        const result = await client.complete(
          { ref: { type: 'ref/prompt', name: 'test_prompt_with_arguments' }, argument: { name: 'arg1', value: 'te' } },
          CALL,
        );
        assert.deepEqual(result.completion.values.slice(0, 3), ['test', 'testing', 'tested']);
      });
    });

    test('resources/subscribe delivers updates; tool list changes are announced', T, async () => {
      const updated = [];
      let toolListChanged = 0;
      await withClient(
        {
          setup: (c) => {
            c.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => updated.push(n.params.uri));
            c.setNotificationHandler(ToolListChangedNotificationSchema, () => toolListChanged++);
          },
        },
        async ({ client }) => {
          assert.equal(client.getServerCapabilities()?.resources?.subscribe, true);
          await client.subscribeResource({ uri: 'test://watched-resource' }, CALL);
          await waitFor(() => updated.length > 0, 'notifications/resources/updated'); // changes every 3 s
          assert.equal(updated[0], 'test://watched-resource');

          const result = await client.callTool({ name: 'test_trigger_tool_change', arguments: {} }, undefined, CALL);
          assert.deepEqual(texts(result.content), ['tool list changed']);
          await waitFor(() => toolListChanged > 0, 'notifications/tools/list_changed');
          const { tools } = await client.listTools(undefined, CALL);
          assert.ok(tools.some((t) => t.name === 'test_dynamic_tool'));
        },
      );
    });

    test('unknown tool is an error', T, async () => {
      await withClient({}, async ({ client }) => {
        let result;
        try {
          result = await client.callTool({ name: 'no_such_tool', arguments: {} }, undefined, CALL);
        } catch (err) {
          assert.ok(err instanceof McpError, `unexpected ${err}`);
          assert.equal(err.code, ErrorCode.InvalidParams);
          return;
        }
        assert.equal(result.isError, true, JSON.stringify(result));
      });
    });

    test('test_error_handling returns isError', T, async () => {
      await withClient({}, async ({ client }) => {
        const result = await client.callTool({ name: 'test_error_handling', arguments: {} }, undefined, CALL);
        assert.equal(result.isError, true);
        assert.deepEqual(texts(result.content), ['This tool intentionally returns an error for testing']);
      });
    });
  });
}
