import type { Gateway } from '../gateway/src/gateway';
import { claudeCodeConfig, runClaude } from './helpers/claude-cli';
import { startFakeAnthropic, textStream, toolStream, type FakeAnthropic, type Received } from './helpers/fake-anthropic';
import { baseURL, snapshotOf, startGateway } from './helpers/gateway';

/**
 * The truest compatibility test: the real Claude Code CLI (`claude -p`) pointed at the gateway,
 * with a fake Anthropic upstream behind it, including a tool-use round trip.
 */
const KEY = 'sk-claude-code-client';
const MARK = 'switchyard-tool-roundtrip-ok';

const hasToolResult = (r: Received) => JSON.stringify(r.body?.messages ?? []).includes('"tool_result"');

describe('Claude Code (real CLI) through the gateway', () => {
  let fake: FakeAnthropic;
  let gw: Gateway;

  beforeAll(async () => {
    fake = await startFakeAnthropic();
    // Claude Code asks for whatever model it defaults to; a glob-allowed key and a catch-all route
    // per model name it may use keep the test independent of its defaults.
    fake.fallback = (r) => {
      if (r.path.startsWith('/v1/messages/count_tokens')) return { kind: 'count', input_tokens: 100 };
      const wantsTool = JSON.stringify(r.body?.messages ?? []).includes('please run the marker command');
      if (r.body?.stream && wantsTool && !hasToolResult(r)) {
        return {
          kind: 'stream',
          events: toolStream(r.body.model, { id: 'toolu_01Switchyard', name: 'Bash', input: { command: `echo ${MARK}`, description: 'print the marker' } }),
        };
      }
      return r.body?.stream ? { kind: 'stream', events: textStream(r.body.model, ['PONG ', 'from the gateway']) } : { kind: 'message' };
    };
    gw = await startGateway(snapshotOf(claudeCodeConfig(KEY, (m) => ({ provider: 'anthropic', model: `upstream-${m}`, baseURL: fake.url }))));
  });
  afterAll(async () => {
    await gw.close();
    await fake.close();
  });

  test('claude -p answers through the gateway, streaming', async () => {
    const r = await runClaude(baseURL(gw), KEY, 'say ping');
    expect(r.err).not.toMatch(/error/i);
    const result = JSON.parse(r.out);
    expect(result).toMatchObject({ type: 'result', subtype: 'success', is_error: false, result: 'PONG from the gateway' });
    const main = fake.received.find((x) => x.body?.stream && Array.isArray(x.body.tools) && x.body.tools.length > 0)!;
    expect(main.path).toMatch(/^\/v1\/messages/);
    expect(main.headers['x-api-key']).toBeUndefined(); // the route has no upstream key; the client's never leaks
    expect(main.body.model).toMatch(/^upstream-claude-/);
  }, 120_000);

  test('a tool-use round trip: Claude Code runs the tool and sends the result back through the gateway', async () => {
    const before = fake.received.length;
    const r = await runClaude(baseURL(gw), KEY, 'please run the marker command', ['--allowedTools', 'Bash']);
    const result = JSON.parse(r.out);
    expect(result).toMatchObject({ subtype: 'success', is_error: false });
    const followUp = fake.received.slice(before).find(hasToolResult)!;
    expect(followUp).toBeDefined();
    const blocks = followUp.body.messages.flatMap((m: any) => (Array.isArray(m.content) ? m.content : []));
    const toolResult = blocks.find((b: any) => b.type === 'tool_result');
    expect(toolResult.tool_use_id).toBe('toolu_01Switchyard');
    expect(JSON.stringify(toolResult.content)).toContain(MARK);
    const toolUse = blocks.find((b: any) => b.type === 'tool_use');
    expect(toolUse).toMatchObject({ id: 'toolu_01Switchyard', name: 'Bash', input: { command: `echo ${MARK}` } });
  }, 120_000);
});
