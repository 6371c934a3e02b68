import Anthropic from '@anthropic-ai/sdk';
import yaml from 'js-yaml';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
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
    [
      'a bad enum names file, document and field',
      goodYaml('http://x').replace('provider: anthropic', 'provider: azure'),
      /bad\.yaml: document 2 \(ModelRoute default\/main\): spec\.targets\.0\.provider: must be one of anthropic, openai, gemini, bedrock, vertex/,
    ],
    [
      'a missing Secret names the reference',
      goodYaml('http://x').replace('name: keys, key: upstream', 'name: nope, key: upstream'),
      /document 2 \(ModelRoute default\/main\): SecretNotFound: spec\.targets\.0\.credentialsRef: Secret default\/nope not found/,
    ],
    [
      'an unset environment variable names the field',
      goodYaml('http://x').replace('${CLIENT_KEY}', '${NOT_SET_ANYWHERE}'),
      /document 1 \(Secret default\/keys\): stringData\.client: environment variable NOT_SET_ANYWHERE is not set/,
    ],
    ['YAML syntax errors give a line', 'kind: ModelRoute\n  bad: [unclosed\n', /bad\.yaml:\d+: YAML syntax error/],
    [
      'an unknown kind is refused',
      'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n',
      /document 1 \(ConfigMap default\/x\): kind must be one of ModelRoute, ApiKey, Secret/,
    ],
    [
      'a misspelt field names it and the closest known one',
      goodYaml('http://x').replace('  model: claude-test', '  modle: claude-test\n  model: claude-test'),
      /document 2 \(ModelRoute default\/main\): spec\.modle: unknown field "modle"; did you mean "model"\?/,
    ],
    [
      'a misspelt nested field',
      goodYaml('http://x').replace('  targets:', '  retry: { attemps: 3 }\n  targets:'),
      /spec\.retry\.attemps: unknown field "attemps"; did you mean "attempts"\?/,
    ],
    [
      'a misspelt limit on an ApiKey',
      goodYaml('http://x').replace('  secretRef:', '  limits: { requestPerMinute: 5 }\n  secretRef:'),
      /document 3 \(ApiKey default\/team\): spec\.limits\.requestPerMinute: unknown field "requestPerMinute"; did you mean "requestsPerMinute"\?/,
    ],
    [
      'an unknown field far from any known one lists the known ones',
      goodYaml('http://x').replace('metadata: { name: keys }', 'metadata: { name: keys }\nfrobnication: 1'),
      /document 1 \(Secret default\/keys\): frobnication: unknown field "frobnication" \(known: apiVersion, kind, metadata, type, immutable, data, stringData\)/,
    ],
    [
      'an unknown metadata field',
      goodYaml('http://x').replace('metadata: { name: main }', 'metadata: { name: main, lables: { a: b } }'),
      /metadata\.lables: unknown field "lables"; did you mean "labels"\?/,
    ],
    [
      'a wrong apiVersion',
      goodYaml('http://x').replace('apiVersion: switchyard.dev/v1alpha1\nkind: ApiKey', 'apiVersion: switchyard.dev/v1\nkind: ApiKey'),
      /document 3 \(ApiKey default\/team\): apiVersion: 'switchyard\.dev\/v1' does not serve ApiKey; use switchyard\.dev\/v1alpha1/,
    ],
    [
      'a missing apiVersion',
      goodYaml('http://x').replace('apiVersion: v1\n', ''),
      /document 1 \(Secret default\/keys\): apiVersion: required \(kind Secret is v1\)/,
    ],
    ['an empty file', '# nothing here yet\n', /bad\.yaml: holds no objects/],
    [
      'a duplicate model across routes',
      goodYaml('http://x') + '---\n' + goodYaml('http://y').split('---')[1].replace('name: main', 'name: second'),
      /ModelRoute default\/second\): DuplicateModel: model name 'claude-test' is already served by ModelRoute default\/main/,
    ],
  ])('%s, and exits 2', async (_n, yaml, expected) => {
    const path = file('bad.yaml', yaml);
    for (const cmd of [
      ['validate', path],
      ['gateway', '--config', path, '--port', '0', '--admin-port', '0'],
    ]) {
      const p = runCli(cmd, { CLIENT_KEY: 'sk-cli' });
      expect(await p.exited).toBe(2);
      expect(p.stderr()).toMatch(expected);
    }
  });

  test('validate takes several files and directories, recursing like kubectl apply -f, as one configuration', async () => {
    const root = mkdtempSync(join(tmpdir(), 'switchyard-validate-'));
    const [secret, route, key] = goodYaml(fake.url).split('---');
    mkdirSync(join(root, 'a', 'deeper'), { recursive: true });
    mkdirSync(join(root, 'b'));
    writeFileSync(join(root, 'a', 'deeper', 'secrets.yml'), secret);
    writeFileSync(join(root, 'a', 'README.md'), 'not configuration: skipped, as kubectl skips it');
    writeFileSync(join(root, 'b', 'route.yaml'), route);
    const single = join(dir, 'key.json');
    writeFileSync(single, JSON.stringify(yaml.load(key)));
    const p = runCli(['validate', join(root, 'a'), join(root, 'b'), single], { CLIENT_KEY: 'sk-dirs' });
    expect(await p.exited).toBe(0);
    expect(p.stdout()).toMatch(/OK — 1 route\(s\), 1 key\(s\)/);
    // The same files through the gateway's loader.
    const gw = await startGatewayProcess(['--config', join(root, 'a'), '--config', `${join(root, 'b')},${single}`], { CLIENT_KEY: 'sk-dirs' });
    expect(await gw.stop()).toBe(0);
    const empty = mkdtempSync(join(tmpdir(), 'switchyard-empty-'));
    const q = runCli(['validate', empty]);
    expect(await q.exited).toBe(2);
    expect(q.stderr()).toContain(`${empty}: no .yaml, .yml or .json files in this directory`);
  });

  test('validate reports problems in document order, across files and checking stages', async () => {
    const root = mkdtempSync(join(tmpdir(), 'switchyard-order-'));
    const key = (name: string, secret: string) =>
      `apiVersion: switchyard.dev/v1alpha1\nkind: ApiKey\nmetadata: { name: ${name} }\nspec: { secretRef: { name: ${secret} } }\n`;
    const route = (name: string, secret: string) =>
      `apiVersion: switchyard.dev/v1alpha1\nkind: ModelRoute\nmetadata: { name: ${name} }\nspec: { model: ${name}, targets: [{ provider: anthropic, model: x, credentialsRef: { name: ${secret} } }] }\n`;
    // The compiler checks routes before keys; the report still follows the files.
    writeFileSync(join(root, '1.yaml'), [key('k1', 'missing-1'), route('r1', 'missing-2')].join('---\n'));
    writeFileSync(join(root, '2.yaml'), [key('k2', 'missing-3'), route('r2', 'missing-4')].join('---\n'));
    const p = runCli(['validate', root]);
    expect(await p.exited).toBe(2);
    const lines = p
      .stderr()
      .split('\n')
      .filter((l) => l.includes('document'));
    expect(lines.map((l) => /(\d\.yaml): document (\d) \((\w+)/.exec(l)!.slice(1).join(' '))).toEqual([
      '1.yaml 1 ApiKey',
      '1.yaml 2 ModelRoute',
      '2.yaml 1 ApiKey',
      '2.yaml 2 ModelRoute',
    ]);
  });

  test('a port already in use exits 1 instead of lingering half-started', async () => {
    const gw = await startGatewayProcess(['--config', file('busy.yaml', goodYaml(fake.url))], { CLIENT_KEY: 'sk-busy' });
    const p = runCli(
      ['gateway', '--config', file('busy.yaml', goodYaml(fake.url)), '--port', '0', '--admin-port', String(gw.adminPort), '--host', '127.0.0.1'],
      { CLIENT_KEY: 'sk-busy' },
    );
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
    const ready = await waitFor(
      async () => {
        const status = await fetch(`http://127.0.0.1:${gw.adminPort}/readyz`)
          .then((r) => r.status)
          .catch(() => 'closed');
        return status === 200 ? undefined : status;
      },
      2000,
      'readiness to drop',
    );
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
    fake.queue.push({
      kind: 'stream',
      events: textStream(
        'upstream-model',
        Array.from({ length: 50 }, () => 'x'),
      ),
      delayMs: 100,
    });
    const client = new Anthropic({ baseURL: `http://127.0.0.1:${gw.port}`, apiKey: 'sk-cli-2', maxRetries: 0 });
    const stream = client.messages.stream({ model: 'claude-test', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });
    stream.on('error', () => undefined);
    await new Promise((r) => stream.once('text', () => r(undefined)));
    gw.child.kill('SIGTERM');
    expect(await gw.exited).toBe(0);
    expect(gw.stderr()).toContain('"forced":1');
    await expect(stream.finalMessage()).rejects.toMatchObject({
      error: { type: 'error', error: { type: 'overloaded_error', message: 'gateway shutting down' } },
    });
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

describe('switchyard CLI surface', () => {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8'));
  const COMMANDS = ['gateway', 'validate', 'operator', 'compare'];

  test('--version prints the package version', async () => {
    const p = runCli(['--version']);
    expect(await p.exited).toBe(0);
    expect(p.stdout().trim()).toBe(`switchyard ${pkg.version}`);
  });

  test('no arguments prints usage and exits 2; --help prints it and exits 0', async () => {
    const bare = runCli([]);
    expect(await bare.exited).toBe(2);
    expect(bare.stderr()).toContain('Usage:');
    const help = runCli(['--help']);
    expect(await help.exited).toBe(0);
    for (const c of COMMANDS) expect(help.stdout()).toContain(`switchyard ${c}`);
    expect(help.stdout()).toContain('--version');
  });

  test.each(
    COMMANDS.flatMap((c) => [
      [c, '--help'],
      [c, '-h'],
    ]),
  )('%s %s prints its flags with defaults and its environment, and exits 0 without starting', async (cmd, flag) => {
    // No admin token, no kubeconfig: a command that tried to start would fail or keep running.
    const p = runCli([cmd, flag], { SWITCHYARD_ADMIN_TOKEN: '', KUBECONFIG: '/nonexistent' });
    expect(await p.exited).toBe(0);
    expect(p.stdout()).toContain(`Usage: switchyard ${cmd}`);
    expect(p.stdout()).toContain('-h, --help');
    expect(p.stdout()).toContain('Environment:');
    expect(p.stderr()).not.toContain('listening');
    if (cmd === 'gateway') expect(p.stdout()).toMatch(/--port N +.*\(default 8080; env SWITCHYARD_LISTEN_PORT\)/);
    if (cmd === 'operator') expect(p.stdout()).toMatch(/--health-port N +.*\(default 8081\)/);
    if (cmd === 'validate') expect(p.stdout()).toContain('FILE|DIR...');
  });

  test('every SWITCHYARD_* variable the code reads is listed by --help (top level and the command that reads it)', async () => {
    const root = join(__dirname, '..');
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
        d.isDirectory() ? files(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : [],
      );
    const vars = new Set<string>();
    for (const f of [...files(join(root, 'gateway')), ...files(join(root, 'operator'))])
      for (const m of readFileSync(f, 'utf8').matchAll(/SWITCHYARD_[A-Z_]*[A-Z](_\*)?/g)) vars.add(m[0]);
    expect(vars.size).toBeGreaterThanOrEqual(13);
    const outputs = await Promise.all(
      [['--help'], ...COMMANDS.map((c) => [c, '--help'])].map(async (args) => {
        const p = runCli(args);
        await p.exited;
        return p.stdout();
      }),
    );
    const [top, ...perCommand] = outputs;
    // A family named in a comment (`SWITCHYARD_REDIS_*`) needs at least one listed member.
    const pattern = (v: string) => (v.endsWith('_*') ? `${v.slice(0, -1)}[A-Z_]+` : `${v}\\b`);
    const missingTop = [...vars].filter((v) => !new RegExp(`\\b${pattern(v)}`).test(top));
    // A name as wide as the column is alone on its line, its help on the next.
    const missingCommands = [...vars].filter((v) => !perCommand.some((o) => new RegExp(`^  ${pattern(v)}(?: |$)`, 'm').test(o)));
    expect({ missingTop, missingCommands }).toEqual({ missingTop: [], missingCommands: [] });
  });

  test.each([
    [['gateway', '--port', '70000'], {}, /--port: '70000' is not an integer from 0 to 65535/],
    [['gateway', '--admin-port=-1'], {}, /--admin-port: '-1' is not an integer from 0 to 65535/],
    [['gateway', '--port', '80.5'], {}, /--port: '80.5' is not an integer/],
    [['gateway', '--drain-seconds=-5'], {}, /--drain-seconds: '-5' is not a number >= 0/],
    // Without '=', a negative number reads as a flag; still refused, naming the option.
    [['gateway', '--drain-seconds', '-5'], {}, /Option '--drain-seconds' argument is ambiguous/],
    [['gateway', '--max-body-bytes', 'lots'], {}, /--max-body-bytes: 'lots' is not an integer >= 1/],
    [['gateway'], { SWITCHYARD_LISTEN_PORT: '99999' }, /SWITCHYARD_LISTEN_PORT \(environment\): '99999' is not an integer from 0 to 65535/],
    [['gateway', 'stray-positional'], {}, /Unexpected argument 'stray-positional'/],
    [
      ['operator', '--gateway-service', 'a/b', '--health-port', '70000'],
      { SWITCHYARD_ADMIN_TOKEN: 't' },
      /--health-port: '70000' is not an integer from 0 to 65535/,
    ],
    [['operator', '--gateway-service', 'a/b', '--resync-seconds', 'soon'], { SWITCHYARD_ADMIN_TOKEN: 't' }, /--resync-seconds: 'soon' is not a number >= 1/],
    [['validate'], {}, /validate needs at least one FILE or DIR/],
  ] as [string[], Record<string, string>, RegExp][])('%j fails with exit 2 before starting anything', async (args, env, message) => {
    const p = runCli(args, { SWITCHYARD_ADMIN_TOKEN: '', ...env });
    expect(await p.exited).toBe(2);
    expect(p.stderr()).toMatch(message);
    expect(p.stderr()).toContain(`Usage: switchyard ${args[0]}`);
    expect(p.stderr()).not.toMatch(/listening|operator starting/);
  });
});

describe('switchyard gateway: bind address and startup log', () => {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8'));
  const example = join(__dirname, '..', 'examples', 'standalone.yaml');

  /** Starts the CLI with `args` and returns its parsed "gateway listening" line. */
  async function listening(args: string[]) {
    const p = runCli([...args, '--port', '0', '--admin-port', '0']);
    const line = await waitFor(
      () =>
        p
          .stderr()
          .split('\n')
          .find((l) => l.includes('"gateway listening"')) ?? (p.child.exitCode !== null ? `exited: ${p.stderr()}` : undefined),
      15_000,
      'the gateway to listen',
    );
    return { p, log: JSON.parse(line) };
  }
  // The whole of 127/8 is loopback on Linux: 127.0.0.2 reaches a 0.0.0.0 socket but not a 127.0.0.1 one.
  const reach = (host: string, port: number) =>
    fetch(`http://${host}:${port}/healthz`).then(
      (r) => r.status,
      (e) => (e as { cause?: { code?: string } }).cause?.code ?? 'failed',
    );

  test('the CLI binds every interface by default (a container must be reachable)', async () => {
    const { p, log } = await listening(['gateway', '--config', example]);
    try {
      expect(log.host).toBe('0.0.0.0');
      expect(await reach('127.0.0.2', log.adminPort)).toBe(200);
    } finally {
      p.child.kill('SIGTERM');
      await p.exited;
    }
  });

  test('npm start binds 127.0.0.1 only (the demo key is public)', async () => {
    const start = (pkg.scripts.start as string)
      .split('&&')
      .map((s) => s.trim())
      .find((s) => s.startsWith('node '))!;
    const [, script, ...args] = start.split(/\s+/);
    expect(script).toBe('dist/gateway/src/cli.js');
    const { p, log } = await listening(args.map((a) => (a.startsWith('examples/') ? join(__dirname, '..', a) : a)));
    try {
      expect(log.host).toBe('127.0.0.1');
      expect(await reach('127.0.0.1', log.adminPort)).toBe(200);
      expect(await reach('127.0.0.2', log.adminPort)).toBe('ECONNREFUSED');
      expect(await reach('127.0.0.2', log.port)).toBe('ECONNREFUSED');
    } finally {
      p.child.kill('SIGTERM');
      await p.exited;
    }
  });

  test('the startup log names the app version and the configuration hash', async () => {
    const v = runCli(['validate', example]);
    expect(await v.exited).toBe(0);
    const hash = /version ([0-9a-f]{16})/.exec(v.stdout())![1];
    const { p, log } = await listening(['gateway', '--config', example, '--host', '127.0.0.1']);
    p.child.kill('SIGTERM');
    await p.exited;
    expect(log).toMatchObject({ appVersion: pkg.version, version: hash });
  });
});
