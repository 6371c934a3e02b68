import type { Gateway } from '../gateway/src/gateway';
import { claudeCodeConfig, runClaude } from './helpers/claude-cli';
import { startFakeGemini, textChunks, type FakeGemini, type GReceived } from './helpers/fake-gemini';
import { UPSTREAM_KEY, baseURL, snapshotOf, startGateway } from './helpers/gateway';

/**
 * The real Claude Code CLI (`claude -p`) against a Gemini 3 target: Claude Code sends its real
 * request (tools with JSON Schema 2020-12, a mid-conversation system message, adaptive thinking),
 * gets a Gemini function call back as tool_use, runs the tool, and echoes the turn; the fake
 * Gemini rejects the follow-up unless the thought signature on the call came back.
 */
const KEY = 'sk-claude-code-gemini-client';
const MARK = 'switchyard-gemini-roundtrip-ok';

const text = (r: GReceived) => JSON.stringify(r.body ?? {});

describe('Claude Code (real CLI) with a Gemini target', () => {
  let fake: FakeGemini;
  let gw: Gateway;

  beforeAll(async () => {
    fake = await startFakeGemini();
    fake.fallback = (r) => {
      if (r.action === 'countTokens') return { kind: 'count', totalTokens: 100 };
      if (text(r).includes('please run the marker command') && !text(r).includes('"functionResponse"')) {
        return {
          kind: 'answer',
          chunks: [
            {
              candidates: [{ content: { role: 'model', parts: [{ text: 'The user wants the marker printed.', thought: true }] } }],
              usageMetadata: { promptTokenCount: 900 },
              modelVersion: 'gemini-3-pro-preview',
              responseId: 'cc1',
            },
            {
              candidates: [
                {
                  content: {
                    role: 'model',
                    parts: [
                      {
                        functionCall: { name: 'Bash', args: { command: `echo ${MARK}`, description: 'print the marker' } },
                        thoughtSignature: `CcSig${'A'.repeat(600)}==`,
                      },
                    ],
                  },
                  finishReason: 'STOP',
                },
              ],
              usageMetadata: { promptTokenCount: 900, candidatesTokenCount: 20, thoughtsTokenCount: 12 },
              modelVersion: 'gemini-3-pro-preview',
              responseId: 'cc1',
            },
          ],
        };
      }
      return { kind: 'answer', chunks: textChunks('PONG from Gemini', { model: 'gemini-3-pro-preview' }) };
    };
    gw = await startGateway(
      snapshotOf(
        claudeCodeConfig(
          KEY,
          () => ({ provider: 'gemini', model: 'gemini-3-pro-preview', baseURL: `${fake.url}/v1beta`, credentialsRef: { name: 'keys', key: 'gemini' } }),
          {
            upstreamKeys: { gemini: UPSTREAM_KEY },
            routePrefix: 'g-',
          },
        ),
      ),
    );
  });
  afterAll(async () => {
    await gw.close();
    await fake.close();
  });

  test('a tool-use round trip: Gemini asks for Bash, Claude Code runs it, the signature comes back, Gemini answers', async () => {
    const r = await runClaude(baseURL(gw), KEY, 'please run the marker command', ['--allowedTools', 'Bash']);
    expect(fake.received.filter((x) => x.rejected).map((x) => x.rejected)).toEqual([]);
    const result = JSON.parse(r.out);
    expect(result).toMatchObject({ subtype: 'success', is_error: false, result: 'PONG from Gemini' });
    const followUp = fake.received.find((x) => text(x).includes('"functionResponse"'))!;
    expect(followUp).toBeDefined();
    const parts = followUp.body.contents.flatMap((c: any) => c.parts);
    expect(parts.find((p: any) => p.functionCall)).toMatchObject({
      functionCall: { name: 'Bash', args: { command: `echo ${MARK}` } },
      thoughtSignature: `CcSig${'A'.repeat(600)}==`,
    });
    const response = parts.find((p: any) => p.functionResponse).functionResponse;
    expect(response.name).toBe('Bash');
    expect(JSON.stringify(response.response)).toContain(MARK);
    expect(followUp.headers['x-goog-api-key']).toBe(UPSTREAM_KEY);
  }, 120_000);
});
