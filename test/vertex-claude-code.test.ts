import type { Gateway } from '../gateway/src/gateway';
import { claudeCodeConfig, runClaude } from './helpers/claude-cli';
import { textStream, toolStream } from './helpers/fake-anthropic';
import { startFakeGoogleOAuth, serviceAccountKey, type FakeGoogleOAuth } from './helpers/fake-google-oauth';
import { startFakeVertex, type FakeVertex, type VertexCall } from './helpers/fake-vertex';
import { baseURL, snapshotOf, startGateway } from './helpers/gateway';

/**
 * The real Claude Code CLI (`claude -p`) through a `vertex` Claude target. Claude Code sends
 * betas and fields Vertex refuses with 400 (claude-code-*, prompt-caching-scope-*, effort-*); the
 * fake Vertex refuses them the same way, so the run only succeeds if the gateway filters them.
 */
const KEY = 'sk-claude-code-vertex-client';
const MARK = 'switchyard-vertex-roundtrip-ok';
const PROJECT = 'cc-project';
const REGION = 'us-east5';

const hasToolResult = (c: VertexCall) => JSON.stringify(c.body?.messages ?? []).includes('"tool_result"');

describe('Claude Code (real CLI) with a vertex Claude target', () => {
  let vertex: FakeVertex;
  let oauth: FakeGoogleOAuth;
  let gw: Gateway;

  beforeAll(async () => {
    const key = serviceAccountKey(PROJECT);
    vertex = await startFakeVertex({ tokens: ['ya29.claude-code-token'], project: PROJECT, region: REGION });
    oauth = await startFakeGoogleOAuth({ publicKeyPem: key.publicKeyPem, clientEmail: key.clientEmail, token: 'ya29.claude-code-token' });
    vertex.claudeFallback = (c) => {
      if (c.model === 'count-tokens') return { kind: 'count', input_tokens: 100 };
      const wantsTool = JSON.stringify(c.body.messages).includes('please run the marker command');
      if (c.body.stream && wantsTool && !hasToolResult(c)) {
        return {
          kind: 'stream',
          events: toolStream(c.model, { id: 'toolu_01Vertex', name: 'Bash', input: { command: `echo ${MARK}`, description: 'print the marker' } }),
        };
      }
      return c.body.stream ? { kind: 'stream', events: textStream(c.model, ['PONG ', 'from Vertex']) } : { kind: 'message' };
    };
    gw = await startGateway(
      snapshotOf(
        claudeCodeConfig(
          KEY,
          (m) => ({
            provider: 'vertex',
            model: `${m}@20250929`,
            region: REGION,
            project: PROJECT,
            baseURL: `${vertex.url}/v1`,
            credentialsRef: { name: 'keys', key: 'sa' },
          }),
          { upstreamKeys: { sa: key.json(`${oauth.url}/token`) }, routePrefix: 'v-' },
        ),
      ),
    );
  });
  afterAll(async () => {
    await gw.close();
    await Promise.all([vertex.close(), oauth.close()]);
  });

  test('claude -p answers through Vertex, streaming, with no request refused', async () => {
    const r = await runClaude(baseURL(gw), KEY, 'say ping');
    expect(vertex.calls.filter((c) => c.rejected).map((c) => c.rejected)).toEqual([]);
    expect(JSON.parse(r.out)).toMatchObject({ type: 'result', subtype: 'success', is_error: false, result: 'PONG from Vertex' });
    const main = vertex.calls.find((c) => c.body?.stream && Array.isArray(c.body.tools) && c.body.tools.length > 0)!;
    expect(main.method).toBe('streamRawPredict');
    expect(main.headers.authorization).toBe('Bearer ya29.claude-code-token');
    expect(main.headers['x-api-key']).toBeUndefined();
    // Claude Code did send betas; only those Vertex knows went on.
    expect(String(main.headers['anthropic-beta'] ?? '')).not.toMatch(/claude-code-|prompt-caching-scope-|effort-/);
  }, 120_000);

  test('a tool-use round trip: Claude Code runs the tool and sends the result back through Vertex', async () => {
    const before = vertex.calls.length;
    const r = await runClaude(baseURL(gw), KEY, 'please run the marker command', ['--allowedTools', 'Bash']);
    expect(vertex.calls.filter((c) => c.rejected).map((c) => c.rejected)).toEqual([]);
    expect(JSON.parse(r.out)).toMatchObject({ subtype: 'success', is_error: false });
    const followUp = vertex.calls.slice(before).find(hasToolResult)!;
    expect(followUp).toBeDefined();
    const blocks = followUp.body.messages.flatMap((m: any) => (Array.isArray(m.content) ? m.content : []));
    const toolResult = blocks.find((b: any) => b.type === 'tool_result');
    expect(toolResult.tool_use_id).toBe('toolu_01Vertex');
    expect(JSON.stringify(toolResult.content)).toContain(MARK);
  }, 120_000);
});
