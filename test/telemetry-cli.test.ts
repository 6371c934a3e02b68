import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { startFakeAnthropic, type FakeAnthropic } from './helpers/fake-anthropic';
import { waitFor } from './helpers/http-server';
import { SPAN_KIND, startOtlpReceiver, type OtlpReceiver } from './helpers/otlp-receiver';
import { scrape } from './helpers/prom';

/**
 * The standalone CLI as an operator runs it: telemetry configured from the process environment
 * alone, the access log on stdout (operational logs on stderr), and spans still queued when
 * SIGTERM arrives exported before the process exits. Runs the built CLI (`npm run build` first;
 * `npm test` does).
 */
const CLI = path.join(__dirname, '..', 'dist', 'gateway', 'src', 'cli.js');
const CLIENT_KEY = 'sk-cli-telemetry-client-7781';
const UPSTREAM_KEY = 'sk-ant-cli-telemetry-upstream-3321';

describe('standalone CLI with telemetry from the environment', () => {
  let fake: FakeAnthropic;
  let otlp: OtlpReceiver;
  let child: ChildProcess;
  const stdout: string[] = [];
  const stderr: string[] = [];
  let exit: Promise<number | null>;

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build before jest`);
    fake = await startFakeAnthropic();
    otlp = await startOtlpReceiver();
    const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-cli-'));
    const file = path.join(dir, 'config.yaml');
    writeFileSync(
      file,
      `apiVersion: v1
kind: Secret
metadata: { name: keys, namespace: team }
stringData: { client: ${CLIENT_KEY}, upstream: ${UPSTREAM_KEY} }
---
apiVersion: switchyard.dev/v1alpha1
kind: ModelRoute
metadata: { name: sonnet, namespace: team }
spec:
  model: claude-cli
  targets: [{ provider: anthropic, model: claude-cli-upstream, baseURL: "${fake.url}", credentialsRef: { name: keys, key: upstream } }]
  pricing: { inputPerMTok: 3, outputPerMTok: 15 }
---
apiVersion: switchyard.dev/v1alpha1
kind: ApiKey
metadata: { name: app, namespace: team }
spec:
  secretRef: { name: keys, key: client }
`,
    );
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'switchyard-cli',
    };
    child = spawn(process.execPath, [CLI, 'gateway', '--config', file, '--port', '0', '--admin-port', '0', '--host', '127.0.0.1', '--drain-seconds', '5'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines = (into: string[]) => {
      let buf = '';
      return (chunk: Buffer) => {
        buf += chunk.toString('utf8');
        const parts = buf.split('\n');
        buf = parts.pop()!;
        into.push(...parts.filter(Boolean));
      };
    };
    child.stdout!.on('data', lines(stdout));
    child.stderr!.on('data', lines(stderr));
    exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  });

  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await fake?.close();
    await otlp?.close();
  });

  test('access log on stdout, metrics on the admin port, spans flushed on SIGTERM', async () => {
    const listening = await waitFor(() => stderr.map((l) => JSON.parse(l)).find((l) => l.msg === 'gateway listening'), 15_000, 'the gateway to listen');
    expect(stderr.some((l) => JSON.parse(l).msg === 'tracing on')).toBe(true);
    const client = new Anthropic({ baseURL: `http://127.0.0.1:${listening.port}`, apiKey: CLIENT_KEY, maxRetries: 0 });
    await client.messages.create({ model: 'claude-cli', max_tokens: 10, messages: [{ role: 'user', content: 'Hi from the CLI test' }] });
    await waitFor(() => stdout.length === 1, 5000, 'one access-log line');
    const line = JSON.parse(stdout[0]);
    expect(line).toMatchObject({
      api_key: 'team/app',
      route: 'team/sonnet',
      status: 200,
      input_tokens: 12,
      output_tokens: 6,
      trace_id: expect.stringMatching(/^[0-9a-f]{32}$/),
    });
    expect(line.cost_usd).toBeCloseTo((12 * 3 + 6 * 15) / 1e6, 12);
    const metrics = await scrape(`http://127.0.0.1:${listening.adminPort}`);
    expect(metrics.sum('switchyard_requests_total', { route: 'team/sonnet', code: '200' })).toBe(1);

    // The default batch delay is 5 s: only the shutdown flush delivers the spans this fast.
    expect(otlp.spans).toHaveLength(0);
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    const spans = otlp.spans.filter((s) => s.traceId === line.trace_id);
    expect(spans.map((s) => s.kind).sort()).toEqual([SPAN_KIND.SERVER, SPAN_KIND.CLIENT]);
    expect(spans[0].resource['service.name']).toBe('switchyard-cli');
    const all = [...stdout, ...stderr, otlp.rawText()].join('\n');
    for (const secret of [CLIENT_KEY, UPSTREAM_KEY, 'Hi from the CLI test']) expect(all).not.toContain(secret);
  });
});
