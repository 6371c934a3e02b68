import type { Gateway } from '../gateway/src/gateway';
import { claudeCodeConfig, runClaude } from './helpers/claude-cli';
import { startFakeOpenAI, type FakeOpenAI, type OpenAIReceived } from './helpers/fake-openai';
import { baseURL, snapshotOf, startGateway } from './helpers/gateway';

/**
 * The real Claude Code CLI (`claude -p`) against the gateway with only OpenAI-compatible targets
 * behind it: every request Claude Code makes is translated to Chat Completions and back,
 * including a Bash tool round trip whose tool_result must reach the upstream paired with its call.
 */
const KEY = 'sk-claude-code-openai-client';
const MARK = 'switchyard-openai-roundtrip-ok';

const toolMessages = (r: OpenAIReceived) => (r.body?.messages ?? []).filter((m: any) => m.role === 'tool');

describe('Claude Code (real CLI) through the gateway to an OpenAI-compatible target', () => {
  let fake: FakeOpenAI;
  let gw: Gateway;

  beforeAll(async () => {
    fake = await startFakeOpenAI();
    fake.fallback = (r) => {
      const text = JSON.stringify(r.body?.messages ?? []);
      if (text.includes('please run the marker command') && toolMessages(r).length === 0 && r.body?.tools?.length) {
        return {
          kind: 'answer',
          answer: {
            content: 'Running it.',
            tool_calls: [{ id: 'call_SwitchyardBash1', name: 'Bash', arguments: JSON.stringify({ command: `echo ${MARK}`, description: 'print the marker' }) }],
            pieces: 5,
          },
        };
      }
      return { kind: 'answer', answer: { content: 'PONG from GPT', pieces: 3 } };
    };
    gw = await startGateway(
      snapshotOf(
        claudeCodeConfig(
          KEY,
          (m) => ({ provider: 'openai', model: `gpt-for-${m}`, baseURL: `${fake.url}/v1`, credentialsRef: { name: 'keys', key: 'upstream' } }),
          {
            upstreamKeys: { upstream: 'sk-openai-upstream-for-claude-code' },
          },
        ),
      ),
    );
  });
  afterAll(async () => {
    await gw.close();
    await fake.close();
  });

  test('claude -p answers, streaming, from an OpenAI target', async () => {
    const r = await runClaude(baseURL(gw), KEY, 'say ping');
    const result = JSON.parse(r.out);
    expect(result).toMatchObject({ type: 'result', subtype: 'success', is_error: false, result: 'PONG from GPT' });
    const main = fake.received.find((x) => x.body?.stream && Array.isArray(x.body.tools) && x.body.tools.length > 0)!;
    expect(main.path).toBe('/v1/chat/completions');
    expect(main.body.model).toMatch(/^gpt-for-claude-/);
    expect(main.headers.authorization).toBe('Bearer sk-openai-upstream-for-claude-code');
    expect(JSON.stringify(main)).not.toContain(KEY);
  }, 120_000);

  test('a Bash tool round trip: the tool result reaches the upstream as a tool message for its call id', async () => {
    const before = fake.received.length;
    const r = await runClaude(baseURL(gw), KEY, 'please run the marker command', ['--allowedTools', 'Bash']);
    expect(JSON.parse(r.out)).toMatchObject({ subtype: 'success', is_error: false });
    const followUp = fake.received.slice(before).find((x) => toolMessages(x).length > 0)!;
    expect(followUp).toBeDefined();
    const msgs = followUp.body.messages;
    const at = msgs.findIndex((m: any) => m.role === 'tool');
    expect(msgs[at - 1]).toMatchObject({ role: 'assistant', tool_calls: [{ id: 'call_SwitchyardBash1', function: { name: 'Bash' } }] });
    expect(msgs[at]).toMatchObject({ role: 'tool', tool_call_id: 'call_SwitchyardBash1' });
    expect(msgs[at].content).toContain(MARK);
  }, 120_000);
});
