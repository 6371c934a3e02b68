import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Gateway } from '../gateway/src/gateway';
import { startFakeAnthropic, textStream, toolStream, type FakeAnthropic } from './helpers/fake-anthropic';
import { startFakeOpenAI, type FakeOpenAI } from './helpers/fake-openai';
import { startFakeGemini, textChunks, type FakeGemini } from './helpers/fake-gemini';
import { CLIENT_KEY, UPSTREAM_KEY, apiKey, baseURL, modelRoute, secret, snapshotOf, startGateway } from './helpers/gateway';
import { runCli } from './helpers/process';
import { waitFor } from './helpers/http-server';
import { assertBuilt } from './helpers/gateway-process';

/**
 * `switchyard compare` as a user runs it: the built CLI against a real gateway that routes each
 * model to a fake upstream speaking its provider's wire format. Answers are a function of the
 * prompt (and contain markup, to prove the report escapes them), so each JSONL line can be
 * checked against what the upstream was told to say, and the table recomputed from the JSONL.
 */
const dir = mkdtempSync(join(tmpdir(), 'switchyard-compare-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

const userText = (body: any): string => {
  const last = body.messages[body.messages.length - 1];
  return typeof last.content === 'string' ? last.content : last.content.map((b: any) => b.text ?? '').join('');
};
const gemUserText = (body: any): string => body.contents[body.contents.length - 1].parts.map((p: any) => p.text ?? '').join('');

// What each upstream answers for a prompt, so the test knows every expected answer.
const sonnetAnswer = (p: string) => `Sonnet <b>says</b> "${p}" & 'more'`;
const gptAnswer = (p: string) => `GPT <i>replies</i> to ${p} </div>`;
const gemAnswer = (p: string) => `Gemini <script>alert(1)</script> ${p}`;
const sonnetUsage = (p: string) => ({ input_tokens: 10 + p.length, output_tokens: 3 + (p.length % 7) });

const PROMPTS = ['What is 2+2?', 'Name a <colour> & a shape', 'Say "hi"'];

describe('switchyard compare', () => {
  let anthropic: FakeAnthropic;
  let openai: FakeOpenAI;
  let gemini: FakeGemini;
  let gw: Gateway;
  let url: string;

  beforeAll(async () => {
    assertBuilt();
    [anthropic, openai, gemini] = await Promise.all([startFakeAnthropic(), startFakeOpenAI(), startFakeGemini()]);
    anthropic.fallback = (r) => {
      const p = userText(r.body);
      if (r.body.model === 'claude-broken') return { kind: 'error', status: 400, type: 'invalid_request_error', message: 'this model refuses everything' };
      if (r.body.model === 'claude-slow') return { kind: 'stream', events: textStream(r.body.model, ['never', 'done']), hangAfter: 3 };
      if (p.includes('weather')) return { kind: 'stream', events: toolStream(r.body.model, { id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }) };
      // Latency differs per prompt so percentiles are not all equal.
      return {
        kind: 'stream',
        events: textStream(r.body.model, [sonnetAnswer(p).slice(0, 5), sonnetAnswer(p).slice(5)], sonnetUsage(p)),
        delayMs: 2 * p.length,
      };
    };
    openai.fallback = (r) => {
      const p = userText(r.body);
      return {
        kind: 'answer',
        answer: { content: gptAnswer(p), usage: { prompt_tokens: 20 + p.length, completion_tokens: 4 + (p.length % 5), total_tokens: 0 } },
      };
    };
    gemini.fallback = (r) =>
      r.action === 'countTokens'
        ? { kind: 'count', totalTokens: 1 }
        : { kind: 'answer', chunks: textChunks(gemAnswer(gemUserText(r.body)), { model: r.model }) };
    const target = (provider: string, model: string, base: string) => ({ provider, model, baseURL: base, credentialsRef: { name: 'upstream' } });
    gw = await startGateway(
      snapshotOf([
        secret('upstream', { apiKey: UPSTREAM_KEY }),
        secret('client', { key: CLIENT_KEY }),
        modelRoute('sonnet', { model: 'sonnet', targets: [target('anthropic', 'claude-upstream-1', anthropic.url)] }),
        modelRoute('gpt', { model: 'gpt', targets: [target('openai', 'gpt-test', `${openai.url}/v1`)] }),
        modelRoute('gem', { model: 'gem', targets: [target('gemini', 'gemini-2.5-pro', `${gemini.url}/v1beta`)] }),
        modelRoute('broken', { model: 'broken', targets: [target('anthropic', 'claude-broken', anthropic.url)] }),
        modelRoute('slow', { model: 'slow', targets: [target('anthropic', 'claude-slow', anthropic.url)] }),
        apiKey('team-a', { secretRef: { name: 'client' } }),
      ]),
    );
    url = baseURL(gw);
  });
  afterAll(async () => {
    await gw?.close();
    await Promise.all([anthropic?.close(), openai?.close(), gemini?.close()]);
  });

  const compare = (args: string[]) => runCli(['compare', '--url', url, '--key', CLIENT_KEY, ...args]);

  // Prompts 0 and 2 as shorthand; prompt 1 as a full body whose `model` must be dropped.
  const promptsFile = () =>
    file(
      'prompts.jsonl',
      [
        JSON.stringify({ prompt: PROMPTS[0] }),
        JSON.stringify({
          model: 'ignored-model',
          system: 'Be brief.',
          max_tokens: 50,
          messages: [{ role: 'user', content: [{ type: 'text', text: PROMPTS[1] }] }],
        }),
        '',
        JSON.stringify({ prompt: PROMPTS[2] }),
      ].join('\n') + '\n',
    );
  const pricing = () =>
    file('pricing.yaml', 'sonnet: { inputPerMTok: 3, outputPerMTok: 15, cacheRead: 0.3, cacheWrite: 3.75 }\ngpt: { inputPerMTok: 2, outputPerMTok: 8 }\n');
  const PRICES: Record<string, [number, number]> = { sonnet: [3, 15], gpt: [2, 8] };

  test('every prompt through every model, repeated: JSONL holds the answers and the table matches it', async () => {
    const out = join(dir, 'results.jsonl');
    const report = join(dir, 'report.html');
    const models = ['sonnet', 'gpt', 'gem', 'broken'];
    const p = compare([
      '--models',
      models.join(','),
      '--prompts',
      promptsFile(),
      '--repeat',
      '2',
      '--concurrency',
      '3',
      '--pricing',
      pricing(),
      '--out',
      out,
      '--report',
      report,
    ]);
    expect(await p.exited).toBe(0);

    const recs = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(recs).toHaveLength(PROMPTS.length * 2 * models.length);
    for (const [i, prompt] of PROMPTS.entries()) {
      for (const repeat of [0, 1]) {
        const at = (m: string) => recs.find((r) => r.prompt === i && r.repeat === repeat && r.model === m);
        expect(at('sonnet')).toMatchObject({ ok: true, answer: sonnetAnswer(prompt), stop_reason: 'end_turn', usage: sonnetUsage(prompt), error: null });
        expect(at('gpt')).toMatchObject({
          ok: true,
          answer: gptAnswer(prompt),
          stop_reason: 'end_turn',
          usage: { input_tokens: 20 + prompt.length, output_tokens: 4 + (prompt.length % 5) },
        });
        expect(at('gem')).toMatchObject({ ok: true, answer: gemAnswer(prompt), usage: { input_tokens: 9, output_tokens: 5 }, cost_usd: null });
        // The fake waits 2·len ms after each event: TTFT is the first text delta (after
        // message_start, content_block_start and a ping), not the first byte of the stream.
        const delay = 2 * prompt.length;
        expect(at('sonnet').ttft_ms).toBeGreaterThanOrEqual(3 * delay * 0.9);
        // Latency runs to the last event (seven delays in all). No bound on latency − TTFT: a loaded
        // machine delivers the later events in one burst right after the first.
        expect(at('sonnet').latency_ms).toBeGreaterThanOrEqual(7 * delay * 0.9);
        expect(at('broken')).toMatchObject({ ok: false, status: 400, error: { type: 'invalid_request_error', message: 'this model refuses everything' } });
        for (const m of ['sonnet', 'gpt', 'gem']) {
          expect(at(m).ttft_ms).toBeGreaterThan(0);
          expect(at(m).latency_ms).toBeGreaterThanOrEqual(at(m).ttft_ms);
          expect(at(m).request_id).toMatch(/\S/);
        }
      }
    }
    // The full body kept its own fields but not its model; shorthand got the default max_tokens.
    const sent = anthropic.received.filter((r) => r.body?.model === 'claude-upstream-1');
    const full = sent.find((r) => userText(r.body) === PROMPTS[1])!;
    expect(full.body).toMatchObject({ system: 'Be brief.', max_tokens: 50, stream: true });
    expect(sent.find((r) => userText(r.body) === PROMPTS[0])!.body.max_tokens).toBe(1024);
    expect(anthropic.received.every((r) => r.body?.model !== 'ignored-model')).toBe(true);

    // Recompute the table from the JSONL, independently of the CLI's code.
    const table = parseTable(p.stdout());
    expect(Object.keys(table['success'])).toEqual(models);
    const pct = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.ceil((q / 100) * xs.length) - 1];
    for (const m of models) {
      const mine = recs.filter((r) => r.model === m);
      const ok = mine.filter((r) => r.ok);
      const row = (k: string) => table[k][m];
      expect(row('success')).toBe(`${ok.length}/${mine.length} (${((100 * ok.length) / mine.length).toFixed(1)}%)`);
      if (!ok.length) {
        expect(row('latency p50')).toBe('n/a');
        expect(row('cost')).toBe('n/a');
        expect(row('errors')).toBe(`invalid_request_error×${mine.length}`);
        continue;
      }
      const lat = ok.map((r) => r.latency_ms);
      const ttft = ok.map((r) => r.ttft_ms);
      expect(row('latency p50')).toBe(`${Math.round(pct(lat, 50))} ms`);
      expect(row('latency p95')).toBe(`${Math.round(pct(lat, 95))} ms`);
      expect(row('ttft p50')).toBe(`${Math.round(pct(ttft, 50))} ms`);
      expect(row('ttft p95')).toBe(`${Math.round(pct(ttft, 95))} ms`);
      const outTok = ok.reduce((s, r) => s + r.usage.output_tokens, 0);
      const inTok = ok.reduce((s, r) => s + r.usage.input_tokens, 0);
      expect(row('output tok/s')).toBe((outTok / (lat.reduce((s, v) => s + v, 0) / 1000)).toFixed(1));
      expect(row('input tokens')).toBe(String(inTok));
      expect(row('output tokens')).toBe(String(outTok));
      expect(row('stop reasons')).toBe(`end_turn×${ok.length}`);
      expect(row('errors')).toBe('-');
      const price = PRICES[m];
      expect(row('cost')).toBe(price ? `$${((inTok * price[0] + outTok * price[1]) / 1e6).toFixed(6)}` : 'n/a');
    }
    // The failing model is reported per prompt, and the run is still a success.
    for (let i = 1; i <= PROMPTS.length; i++) expect(p.stderr()).toContain(`compare: prompt ${i} #1 broken: invalid_request_error (HTTP 400)`);
    // stderr is not a terminal here: plain progress lines, no carriage returns.
    expect(p.stderr()).toContain(`compare: ${recs.length}/${recs.length} done, ${PROMPTS.length * 2} failed`);
    expect(p.stderr()).not.toContain('\r');
    // The run ends by itself: no connection or timer left to hold the process.
    expect(p.stderr()).not.toContain('exiting with handles still open');

    // The report: balanced markup, no external references, every answer present and escaped.
    const html = readFileSync(report, 'utf8');
    expect(checkMarkup(html)).toEqual([]);
    expect(html).not.toMatch(/(src|href)\s*=|https?:\/\/|@import|url\(/i);
    for (const r of recs) expect(html).toContain(escape(r.ok ? r.answer : r.error.message));
    for (const p of PROMPTS) expect(html).toContain(escape(p));
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<b>says');
    for (const m of models) expect(html).toContain(`<th>${m}</th>`);
  });

  test('tool calls are rendered readably in the answer and their stop reason counted', async () => {
    const out = join(dir, 'tools.jsonl');
    const p = compare(['--models', 'sonnet', '--prompts', file('tools.jsonl', '{"prompt": "weather in Paris?"}\n'), '--out', out]);
    expect(await p.exited).toBe(0);
    const [rec] = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rec).toMatchObject({
      ok: true,
      answer: 'Let me check.\n[tool_use get_weather {"city":"Paris"}]',
      stop_reason: 'tool_use',
      usage: { input_tokens: 377, output_tokens: 65 },
    });
    expect(parseTable(p.stdout())['stop reasons'].sonnet).toBe('tool_use×1');
    expect(parseTable(p.stdout())['cost'].sonnet).toBe('n/a'); // no --pricing
  });

  test('Ctrl-C while a slow upstream holds requests: prints and writes what finished, aborts the rest, exits 130', async () => {
    const out = join(dir, 'partial.jsonl');
    const report = join(dir, 'partial.html');
    const before = anthropic.received.length;
    const slowBefore = anthropic.received.filter((r) => r.body?.model === 'claude-slow').length;
    const p = compare(['--models', 'sonnet,slow', '--prompts', promptsFile(), '--concurrency', '2', '--out', out, '--report', report]);
    // Both workers end up held by the slow model after sonnet answered prompts 1 and 2.
    const held = await waitFor(
      () => {
        const slow = anthropic.received.filter((r) => r.body?.model === 'claude-slow').slice(slowBefore);
        return slow.length === 2 ? slow : null;
      },
      15000,
      'two requests held by the slow upstream',
    );
    await waitFor(() => p.stderr().includes('compare: 2/6 done'), 15000, 'the two fast answers');
    p.child.kill('SIGINT');
    expect(await p.exited).toBe(130);
    // The in-flight requests were aborted, all the way to the upstream.
    for (const r of held) expect(await r.closed).toEqual({ aborted: true });
    const recs = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(recs.map((r) => [r.prompt, r.model, r.ok, r.answer])).toEqual([
      [0, 'sonnet', true, sonnetAnswer(PROMPTS[0])],
      [1, 'sonnet', true, sonnetAnswer(PROMPTS[1])],
    ]);
    const table = parseTable(p.stdout());
    expect(table['success']).toEqual({ sonnet: '2/2 (100.0%)', slow: '0/0 (0.0%)' });
    expect(p.stderr()).toContain('interrupted: showing the 2 request(s) that finished');
    expect(p.stderr()).not.toContain('exiting with handles still open');
    const html = readFileSync(report, 'utf8');
    expect(checkMarkup(html)).toEqual([]);
    expect(html).toContain('interrupted: partial results');
    expect(html).toContain(escape(sonnetAnswer(PROMPTS[1])));
    // Nothing new started after the interrupt: prompt 3 never reached an upstream in this run.
    expect(
      anthropic.received
        .slice(before)
        .map((r) => userText(r.body))
        .sort(),
    ).toEqual([PROMPTS[0], PROMPTS[0], PROMPTS[1], PROMPTS[1]].sort());
  });

  test('when every request fails the exit code is 1', async () => {
    const p = compare(['--models', 'broken', '--prompts', promptsFile()]);
    expect(await p.exited).toBe(1);
    expect(parseTable(p.stdout())['success'].broken).toBe('0/3 (0.0%)');
  });

  test('a wrong key fails every request with the gateway error, not a crash', async () => {
    const p = runCli(['compare', '--url', url, '--key', 'sk-wrong', '--models', 'sonnet', '--prompts', promptsFile()]);
    expect(await p.exited).toBe(1);
    expect(p.stderr()).toContain('compare: prompt 1 #1 sonnet: authentication_error (HTTP 401)');
    expect(p.stderr() + p.stdout()).not.toContain('sk-wrong');
  });

  test.each<[string, () => string[]]>([
    ['an unknown flag', () => ['--models', 'sonnet', '--prompts', promptsFile(), '--bogus']],
    ['a zero concurrency', () => ['--models', 'sonnet', '--prompts', promptsFile(), '--concurrency', '0']],
    ['a missing --models', () => ['--models', '', '--prompts', promptsFile()]],
    ['a prompts line that is not JSON', () => ['--models', 'sonnet', '--prompts', file('bad.jsonl', '{"prompt": "ok"}\nnot json\n')]],
    ['a prompts line without messages or prompt', () => ['--models', 'sonnet', '--prompts', file('odd.jsonl', '{"text": "no"}\n')]],
    ['a missing prompts file', () => ['--models', 'sonnet', '--prompts', join(dir, 'nope.jsonl')]],
    ['a pricing entry without prices', () => ['--models', 'sonnet', '--prompts', promptsFile(), '--pricing', file('p.yaml', 'sonnet: { inputPerMTok: 3 }\n')]],
  ])('%s exits 2 with the usage, before sending anything', async (_name, args) => {
    const before = anthropic.received.length;
    const p = compare(args());
    expect(await p.exited).toBe(2);
    expect(p.stderr()).toContain('Usage: switchyard compare');
    expect(anthropic.received.length).toBe(before);
  });

  test('--help lists the flags and exits 0', async () => {
    const p = runCli(['compare', '--help']);
    expect(await p.exited).toBe(0);
    for (const f of ['--url', '--key', '--models', '--prompts', '--concurrency', '--repeat', '--pricing', '--out', '--report']) expect(p.stdout()).toContain(f);
  });
});

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/** The table's rows by label, then by model column. */
function parseTable(stdout: string): Record<string, Record<string, string>> {
  const lines = stdout.split('\n').filter((l) => l.trim() && !/^-+(\s+-+)*$/.test(l));
  const models = lines[0].trim().split(/\s{2,}/);
  const rows: Record<string, Record<string, string>> = {};
  for (const l of lines.slice(1)) {
    const [label, ...cells] = l.split(/\s{2,}/);
    rows[label] = Object.fromEntries(models.map((m, i) => [m, cells[i]]));
  }
  return rows;
}

/**
 * Enough of an HTML parser to prove the page is well-formed: a doctype, every non-void element
 * closed in order, nothing but known entities, and no raw `<` in text (answers escaped).
 */
function checkMarkup(html: string): string[] {
  const problems: string[] = [];
  if (!html.startsWith('<!DOCTYPE html>')) problems.push('no doctype');
  const VOID = new Set(['meta', 'br', 'hr', 'img', 'link', 'input']);
  const stack: string[] = [];
  const body = html.replace(/^<!DOCTYPE html>/, '').replace(/<style>[\s\S]*?<\/style>/, '<style></style>');
  const re = /<(\/?)([a-zA-Z][a-zA-Z0-9]*)([^<>]*)>|<|&(#\d+|[a-z]+);|&/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(body))) {
    if (m[2]) {
      const tag = m[2].toLowerCase();
      if (m[1]) {
        if (stack.pop() !== tag) problems.push(`unbalanced </${tag}> at ${m.index}`);
      } else if (!VOID.has(tag)) stack.push(tag);
      if (/["']/.test(m[3]) && !/^(\s+[a-z-]+="[^"]*")*\s*$/.test(m[3])) problems.push(`bad attributes in <${tag}${m[3]}>`);
    } else if (m[0] === '<') problems.push(`raw < at ${m.index}`);
    else if (m[0] === '&') problems.push(`raw & at ${m.index}`);
    else if (!['amp', 'lt', 'gt', 'quot', '#39'].includes(m[4])) problems.push(`unknown entity &${m[4]};`);
  }
  if (stack.length) problems.push(`unclosed: ${stack.join(',')}`);
  return problems;
}
