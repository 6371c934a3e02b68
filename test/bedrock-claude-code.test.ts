import type { Gateway } from '../gateway/src/gateway';
import { streamEvents } from './helpers/bedrock-frames';
import { claudeCodeConfig, runClaude } from './helpers/claude-cli';
import { toolStream } from './helpers/fake-anthropic';
import { defaultReply, eventStream, startFakeBedrock, type FakeBedrock, type RecordedRequest } from './helpers/fake-bedrock';
import { baseURL, snapshotOf, startGateway } from './helpers/gateway';

/**
 * The real Claude Code CLI (`claude -p`) against a Bedrock target. Claude Code sends its own
 * betas (claude-code-*, oauth-*, prompt-caching-scope-*…) and newer fields; the fake Bedrock
 * verifies every signature and refuses an unknown beta or a field Bedrock does not take with
 * Bedrock's 400, so a run that succeeds with nothing refused shows the translation filtered them.
 */
const KEY = 'sk-claude-code-bedrock-client';
const MARK = 'switchyard-bedrock-roundtrip-ok';
const REGION = 'us-east-1';
const MODEL = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';
const AWS = { AWS_ACCESS_KEY_ID: 'AKIACLAUDECODETEST01', AWS_SECRET_ACCESS_KEY: 'claudeCodeBedrockSecret000000000000000Qz7' };

const text = (r: RecordedRequest) => JSON.stringify(r.json?.messages ?? []);
const events = (pairs: Array<[string, unknown]>) => pairs.map(([, d]) => d as Record<string, unknown>).filter((d) => d.type !== 'ping');

describe('Claude Code (real CLI) with a Bedrock target', () => {
  let fake: FakeBedrock;
  let gw: Gateway;

  beforeAll(async () => {
    fake = await startFakeBedrock({
      region: REGION,
      keys: { [AWS.AWS_ACCESS_KEY_ID]: AWS.AWS_SECRET_ACCESS_KEY },
      reply: (rec, res) => {
        if (!rec.path.endsWith('/invoke-with-response-stream')) return defaultReply(rec, res);
        if (text(rec).includes('please run the marker command') && !text(rec).includes('"tool_result"')) {
          return eventStream(
            res,
            events(toolStream(MODEL, { id: 'toolu_bdrk_cc1', name: 'Bash', input: { command: `echo ${MARK}`, description: 'print the marker' } })),
          );
        }
        eventStream(res, streamEvents('PONG from Bedrock'));
      },
    });
    gw = await startGateway(
      snapshotOf(
        claudeCodeConfig(KEY, () => ({ provider: 'bedrock', model: MODEL, region: REGION, baseURL: fake.url, credentialsRef: { name: 'keys' } }), {
          upstreamKeys: AWS,
          routePrefix: 'b-',
        }),
      ),
    );
  });
  afterAll(async () => {
    await gw.close();
    await fake.close();
  });

  test('claude -p answers through Bedrock, streaming; its betas filtered, nothing refused', async () => {
    const r = await runClaude(baseURL(gw), KEY, 'say ping');
    expect(fake.rejected).toEqual([]);
    expect(JSON.parse(r.out)).toMatchObject({ type: 'result', subtype: 'success', is_error: false, result: 'PONG from Bedrock' });
    const main = fake.requests.find((x) => x.path.endsWith('/invoke-with-response-stream') && Array.isArray(x.json.tools) && x.json.tools.length > 0)!;
    expect(main).toMatchObject({ auth: 'sigv4', accessKeyId: AWS.AWS_ACCESS_KEY_ID, path: `/model/${MODEL}/invoke-with-response-stream` });
    expect(main.json.anthropic_version).toBe('bedrock-2023-05-31');
    // Claude Code did ask for Anthropic-only betas; none reached Bedrock.
    expect(String(main.headers['anthropic-beta'] ?? '')).toBe('');
    for (const b of main.json.anthropic_beta ?? []) expect(b).not.toMatch(/^(claude-code|oauth|prompt-caching-scope)-/);
  }, 120_000);

  test('a tool-use round trip: Bedrock asks for Bash, Claude Code runs it and sends the result back', async () => {
    const before = fake.requests.length;
    const r = await runClaude(baseURL(gw), KEY, 'please run the marker command', ['--allowedTools', 'Bash']);
    expect(fake.rejected).toEqual([]);
    expect(JSON.parse(r.out)).toMatchObject({ subtype: 'success', is_error: false, result: 'PONG from Bedrock' });
    const followUp = fake.requests.slice(before).find((x) => text(x).includes('"tool_result"'))!;
    expect(followUp).toBeDefined();
    const blocks = followUp.json.messages.flatMap((m: any) => (Array.isArray(m.content) ? m.content : []));
    expect(blocks.find((b: any) => b.type === 'tool_use')).toMatchObject({ id: 'toolu_bdrk_cc1', name: 'Bash', input: { command: `echo ${MARK}` } });
    const toolResult = blocks.find((b: any) => b.type === 'tool_result');
    expect(toolResult.tool_use_id).toBe('toolu_bdrk_cc1');
    expect(JSON.stringify(toolResult.content)).toContain(MARK);
  }, 120_000);
});
