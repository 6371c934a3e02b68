// Peers side by side with the gateway doing the same job against the same fake upstream:
// Portkey's open-source gateway (Anthropic pass-through) and claude-code-router (Anthropic in,
// OpenAI Chat Completions out). They are installed on demand, at pinned versions, into
// bench/.peers (gitignored), never into the project's dependencies, and pointed only at loopback.
const { execFileSync, spawn } = require('node:child_process');
const { mkdtempSync, mkdirSync, openSync, readFileSync, writeFileSync, rmSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { freePort } = require('./proc');
const { target } = require('./targets');

const DIR = path.join(__dirname, '.peers');
const PEERS = { '@portkey-ai/gateway': '1.15.2', '@musistudio/claude-code-router': '2.0.0' };

function installed(name, version) {
  try {
    return JSON.parse(readFileSync(path.join(DIR, 'node_modules', name, 'package.json'), 'utf8')).version === version;
  } catch {
    return false;
  }
}

function ensurePeers() {
  const missing = Object.entries(PEERS)
    .filter(([n, v]) => !installed(n, v))
    .map(([n, v]) => `${n}@${v}`);
  if (!missing.length) return;
  process.stderr.write(`bench: installing ${missing.join(' ')} into bench/.peers…\n`);
  mkdirSync(DIR, { recursive: true });
  // Lifecycle scripts off: Portkey's postinstall is patch-package, a no-op outside its own repo.
  execFileSync('npm', ['install', '--prefix', DIR, '--no-save', '--no-audit', '--no-fund', '--ignore-scripts', ...missing], { stdio: ['ignore', 2, 2] });
}

/** Any HTTP answer means the server is up (neither peer has a readiness endpoint of ours). */
async function waitListening(url, child) {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`${url}: the peer exited ${child.exitCode}`);
    try {
      await fetch(url);
      return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} never answered`);
}

/**
 * Portkey listens on --port; `--headless` leaves out its console UI. It has no client keys. Its
 * stderr goes to bench/out/portkey.log: it prints a stack trace for every stream it fails (see
 * bench/README.md).
 */
async function startPortkey(tmp) {
  const port = await freePort();
  mkdirSync(path.join(__dirname, 'out'), { recursive: true });
  const log = openSync(path.join(__dirname, 'out', 'portkey.log'), 'w');
  const child = spawn(process.execPath, [path.join(DIR, 'node_modules/@portkey-ai/gateway/build/start-server.js'), `--port=${port}`, '--headless'], {
    cwd: tmp,
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: ['ignore', 'ignore', log],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitListening(url, child);
  return { child, url };
}

/**
 * claude-code-router reads ~/.claude-code-router/config.json: a HOME of its own in a temp dir, one
 * provider on the fake upstream's OpenAI endpoint, the client key as its APIKEY (so it checks a key
 * as the gateway does), its log files off.
 */
async function startCcr(tmp, upstream, clientKey) {
  const port = await freePort();
  mkdirSync(path.join(tmp, '.claude-code-router'), { recursive: true });
  writeFileSync(
    path.join(tmp, '.claude-code-router', 'config.json'),
    JSON.stringify({
      LOG: false,
      HOST: '127.0.0.1',
      PORT: port,
      APIKEY: clientKey,
      NON_INTERACTIVE_MODE: true,
      Providers: [{ name: 'bench', api_base_url: `${upstream}/v1/chat/completions`, api_key: 'sk-bench-upstream', models: ['bench-upstream'] }],
      Router: { default: 'bench,bench-upstream' },
    }),
  );
  const child = spawn(process.execPath, [path.join(DIR, 'node_modules/@musistudio/claude-code-router/dist/cli.js'), 'start'], {
    cwd: tmp,
    env: { ...process.env, HOME: tmp },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitListening(url, child);
  return { child, url };
}

async function group(ctx, children) {
  ensurePeers();
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'switchyard-peers-'));
  const stopped = [];
  try {
    const portkey = await startPortkey(tmp);
    const ccr = await startCcr(tmp, ctx.upstream, ctx.CLIENT_KEY);
    for (const p of [portkey, ccr]) {
      children.push(p.child);
      stopped.push(p.child);
    }
    const route = `---
apiVersion: switchyard.dev/v1alpha1
kind: ModelRoute
metadata: { name: bench-openai }
spec:
  model: bench-openai
  targets:
    - { provider: openai, model: bench-upstream, baseURL: "${ctx.upstream}/v1", credentialsRef: { name: keys, key: upstream } }
`;
    const gw = await ctx.startGateway(ctx.gatewayConfig(ctx.upstream, route));
    children.push(gw.child);
    // Portkey is told the provider and the upstream's base URL per request, in its own headers.
    const portkeyHeaders = { 'x-portkey-provider': 'anthropic', 'x-portkey-custom-host': `${ctx.upstream}/v1` };
    const jobs = [
      ['Portkey 1.15.2', 'pass-through', portkey.url, portkey.child.pid, 'bench-model', portkeyHeaders],
      ['claude-code-router 2.0.0', 'anthropic→openai', ccr.url, ccr.child.pid, 'bench-openai', {}],
    ];
    // One second of each first, so no row pays for JIT warm-up and lazy initialisation.
    for (const stream of [false, true]) {
      for (const [, , url, pid, model, headers] of jobs) {
        await ctx.measure('warm-up', `${url}/v1/messages`, { stream, model, headers, pid, seconds: 1 });
        await ctx.measure('warm-up', `${gw.url}/v1/messages`, { stream, model, pid: gw.child.pid, seconds: 1 });
      }
    }
    const rows = [];
    for (const stream of [false, true]) {
      const kind = stream ? 'stream' : 'json';
      for (const [peer, job, url, pid, model, headers] of jobs) {
        const mine = await ctx.measure(`switchyard ${job} (${kind})`, `${gw.url}/v1/messages`, { stream, model, pid: gw.child.pid });
        const theirs = await ctx.measure(`${peer} ${job} (${kind})`, `${url}/v1/messages`, { stream, model, headers, pid });
        rows.push(mine, { ...theirs, ratio: theirs.rps / mine.rps });
        // A peer that answers with errors has no throughput to compare with.
        const failed = theirs.errors > 0;
        ctx.targets.push(
          target(
            `switchyard ÷ ${peer}, ${job} ${kind}, req/s${failed ? ` (peer: ${theirs.errors} errors)` : ''}`,
            failed ? NaN : mine.rps / theirs.rps,
            '≥',
            10,
          ),
        );
      }
    }
    return rows;
  } finally {
    await Promise.all(stopped.map((c) => new Promise((resolve) => (c.exitCode !== null ? resolve() : (c.once('exit', resolve), c.kill('SIGTERM'))))));
    rmSync(tmp, { recursive: true, force: true });
  }
}

module.exports = { group, ensurePeers };
