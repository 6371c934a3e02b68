import Anthropic from '@anthropic-ai/sdk';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeAnthropic, textStream, type FakeAnthropic } from './helpers/fake-anthropic';
import { runCli, startGatewayProcess } from './helpers/process';
import { waitFor } from './helpers/http-server';

const dir = mkdtempSync(join(tmpdir(), 'switchyard-cli-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

const goodYaml = (upstream: string, model = 'claude-test') => `
apiVersion: v1
kind: Secret
metadata: { name: keys }
stringData:
  client: \${CLIENT_KEY}
  upstream: \${UPSTREAM_KEY:-fallback-upstream-key}
---
apiVersion: switchyard.dev/v1alpha1
kind: ModelRoute
metadata: { name: main }
spec:
  model: ${model}
  targets:
    - { provider: anthropic, model: upstream-model, baseURL: "${upstream}", credentialsRef: { name: keys, key: upstream } }
---
apiVersion: switchyard.dev/v1alpha1
kind: ApiKey
metadata: { name: team }
spec:
  secretRef: { name: keys, key: client }
`;

describe('switchyard CLI', () => {
  let fake: FakeAnthropic;
  beforeAll(async () => {
    fake = await startFakeAnthropic();
  });
  afterAll(() => fake.close());

  test('validate prints a summary for a good file', async () => {
    const p = runCli(['validate', file('good.yaml', goodYaml(fake.url))], { CLIENT_KEY: 'sk-cli' });
    expect(await p.exited).toBe(0);
    expect(p.stdout()).toMatch(/OK — 1 route\(s\), 1 key\(s\)/);
    expect(p.stdout()).toContain('claude-test → anthropic:upstream-model');
  });

  test('the bundled example validates', async () => {
    const p = runCli(['validate', join(__dirname, '..', 'examples', 'standalone.yaml')]);
    expect(await p.exited).toBe(0);
  });

  test.each([
    ['a bad enum names file, document and field', goodYaml('http://x').replace('provider: anthropic', 'provider: bedrock'), /bad\.yaml: document 2 \(ModelRoute default\/main\): spec\.targets\.0\.provider: must be one of anthropic, openai, gemini/],
    ['a missing Secret names the reference', goodYaml('http://x').replace('name: keys, key: upstream', 'name: nope, key: upstream'), /document 2 \(ModelRoute default\/main\): SecretNotFound: spec\.targets\.0\.credentialsRef: Secret default\/nope not found/],
    ['an unset environment variable names the field', goodYaml('http://x').replace('${CLIENT_KEY}', '${NOT_SET_ANYWHERE}'), /document 1 \(Secret default\/keys\): stringData\.client: environment variable NOT_SET_ANYWHERE is not set/],
    ['YAML syntax errors give a line', 'kind: ModelRoute\n  bad: [unclosed\n', /bad\.yaml:\d+: YAML syntax error/],
    ['an unknown kind is refused', 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n', /document 1 \(ConfigMap default\/x\): kind must be one of ModelRoute, ApiKey, Secret/],
    ['a duplicate model across routes', goodYaml('http://x') + '---\n' + goodYaml('http://y').split('---')[1].replace('name: main', 'name: second'), /ModelRoute default\/second\): DuplicateModel: model name 'claude-test' is already served by ModelRoute default\/main/],
  ])('%s, and exits 2', async (_n, yaml, expected) => {
    const path = file('bad.yaml', yaml);
    for (const cmd of [['validate', path], ['gateway', '--config', path, '--port', '0', '--admin-port', '0']]) {
      const p = runCli(cmd, { CLIENT_KEY: 'sk-cli' });
      expect(await p.exited).toBe(2);
      expect(p.stderr()).toMatch(expected);
    }
  });

  test('a port already in use exits 1 instead of lingering half-started', async () => {
    const gw = await startGatewayProcess(['--config', file('busy.yaml', goodYaml(fake.url))], { CLIENT_KEY: 'sk-busy' });
    const p = runCli(['gateway', '--config', file('busy.yaml', goodYaml(fake.url)), '--port', '0', '--admin-port', String(gw.adminPort), '--host', '127.0.0.1'], { CLIENT_KEY: 'sk-busy' });
    expect(await p.exited).toBe(1);
    expect(p.stderr()).toContain('cannot listen');
    expect(await gw.stop()).toBe(0);
  });

  test('unknown commands and flags exit 2 with usage', async () => {
    const p = runCli(['frobnicate']);
    expect(await p.exited).toBe(2);
    expect(p.stderr()).toContain('Usage:');
    const q = runCli(['gateway', '--no-such-flag']);
    expect(await q.exited).toBe(2);
  });

  test('serves with ${ENV} expansion, and SIGTERM lets an in-flight stream finish before exiting 0', async () => {
    const gw = await startGatewayProcess(['--config', file('serve.yaml', goodYaml(fake.url)), '--drain-seconds', '10'], { CLIENT_KEY: 'sk-cli-serve' });
    const client = new Anthropic({ baseURL: `http://127.0.0.1:${gw.port}`, apiKey: 'sk-cli-serve', maxRetries: 0 });
    await client.messages.create({ model: 'claude-test', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });
    expect(fake.last().headers['x-api-key']).toBe('fallback-upstream-key');

    fake.queue.push({ kind: 'stream', events: textStream('upstream-model', ['one ', 'two ', 'three ', 'four']), delayMs: 150 });
    const stream = client.messages.stream({ model: 'claude-test', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });
    await new Promise((r) => stream.once('text', () => r(undefined)));
    let streamEnded = false;
    const finished = stream.finalMessage().finally(() => (streamEnded = true));
    gw.child.kill('SIGTERM');
    // Readiness drops at once, while the stream still runs, so load balancers stop sending.
    const ready = await waitFor(async () => {
      const status = await fetch(`http://127.0.0.1:${gw.adminPort}/readyz`).then((r) => r.status).catch(() => 'closed');
      return status === 200 ? undefined : status;
    }, 2000, 'readiness to drop');
    expect([503, 'closed']).toContain(ready);
    expect(streamEnded).toBe(false);
    const final = await finished;
    expect(final.content[0]).toMatchObject({ text: 'one two three four' });
    expect(await gw.exited).toBe(0);
    expect(gw.stderr()).toContain('"msg":"stopped","forced":0');
    expect(gw.stderr() + gw.stdout()).not.toContain('sk-cli-serve');
  });

  test('SIGTERM with a stream longer than the drain timeout still exits 0, cutting it', async () => {
    const gw = await startGatewayProcess(['--config', file('serve2.yaml', goodYaml(fake.url)), '--drain-seconds', '0.3'], { CLIENT_KEY: 'sk-cli-2' });
    fake.queue.push({ kind: 'stream', events: textStream('upstream-model', Array.from({ length: 50 }, () => 'x')), delayMs: 100 });
    const client = new Anthropic({ baseURL: `http://127.0.0.1:${gw.port}`, apiKey: 'sk-cli-2', maxRetries: 0 });
    const stream = client.messages.stream({ model: 'claude-test', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });
    stream.on('error', () => undefined);
    await new Promise((r) => stream.once('text', () => r(undefined)));
    gw.child.kill('SIGTERM');
    expect(await gw.exited).toBe(0);
    expect(gw.stderr()).toContain('"forced":1');
    await expect(stream.finalMessage()).rejects.toBeDefined();
  });

  test('SIGHUP reloads the file; a broken file keeps the running configuration', async () => {
    const path = file('reload.yaml', goodYaml(fake.url));
    const gw = await startGatewayProcess(['--config', path], { CLIENT_KEY: 'sk-cli-3' });
    const client = new Anthropic({ baseURL: `http://127.0.0.1:${gw.port}`, apiKey: 'sk-cli-3', maxRetries: 0 });
    writeFileSync(path, goodYaml(fake.url, 'claude-renamed'));
    gw.child.kill('SIGHUP');
    await waitFor(() => gw.stderr().includes('configuration reloaded'), 10_000, 'reload');
    await client.messages.create({ model: 'claude-renamed', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });
    writeFileSync(path, 'not: [valid');
    gw.child.kill('SIGHUP');
    await waitFor(() => gw.stderr().includes('configuration reload failed'), 10_000, 'failed reload');
    await client.messages.create({ model: 'claude-renamed', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });
    expect(await gw.stop()).toBe(0);
  });
});
