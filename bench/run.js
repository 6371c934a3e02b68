#!/usr/bin/env node
// `npm run bench`: throughput and latency of direct-to-upstream, a bare Node proxy and the
// gateway, side by side in one run, as ratios (absolute numbers depend on the machine).
// Each server runs in its own process; autocannon drives them from this one.
const { fork } = require('node:child_process');
const { writeFileSync, mkdirSync } = require('node:fs');
const path = require('node:path');
const autocannon = require('autocannon');

const DURATION = Number(process.env.BENCH_SECONDS || 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS || 32);
const CLIENT_KEY = 'sk-bench-client';
const only = process.argv.slice(2);

function start(script, args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = fork(script, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    child.once('message', (m) => resolve({ child, port: m.port }));
    child.once('exit', (code) => reject(new Error(`${script} exited ${code}`)));
  });
}

async function waitReady(url) {
  for (let i = 0; i < 200; i++) {
    try { if ((await fetch(url)).ok) return; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} never became ready`);
}

const body = (stream, model = 'bench-model') => JSON.stringify({
  model, max_tokens: 256, stream,
  messages: [{ role: 'user', content: 'Benchmark prompt: say hello in a few words, please.' }],
});

async function measure(name, url, { stream, model }) {
  const res = await autocannon({
    url, method: 'POST', connections: CONNECTIONS, duration: DURATION,
    headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01' },
    body: body(stream, model),
  });
  const errors = res.non2xx + res.errors + res.timeouts;
  return { name, rps: res.requests.average, p50: res.latency.p50, p99: res.latency.p99, errors };
}

/** Scenario groups: each starts what it needs and returns rows; later features add groups here. */
const groups = {
  async passthrough(ctx) {
    const rows = [];
    for (const stream of [false, true]) {
      const kind = stream ? 'stream' : 'json';
      const direct = await measure(`direct upstream (${kind})`, `${ctx.upstream}/v1/messages`, { stream });
      const bare = await measure(`bare node proxy (${kind})`, `${ctx.bare}/v1/messages`, { stream });
      const gw = await measure(`switchyard gateway (${kind})`, `${ctx.gateway}/v1/messages`, { stream });
      rows.push(direct, bare, { ...gw, ratio: gw.rps / bare.rps });
    }
    return rows;
  },

  /**
   * Telemetry cost: the same gateway with metrics, tracing and the access log all off, then all
   * on (every request traced, spans exported over OTLP/HTTP protobuf to a local receiver, access
   * log written to stdout, which the bench discards). Target: under 10% apart.
   */
  async telemetry(ctx, children) {
    const recv = await start(path.join(__dirname, 'otlp-receiver.js'), ['0']);
    children.push(recv.child);
    const config = ctx.gatewayConfig(ctx.upstream);
    const off = { SWITCHYARD_METRICS: 'off', SWITCHYARD_ACCESS_LOG: 'off', OTEL_SDK_DISABLED: 'true' };
    const metrics = { SWITCHYARD_METRICS: 'on', SWITCHYARD_ACCESS_LOG: 'stdout', OTEL_SDK_DISABLED: 'true' };
    const all = {
      SWITCHYARD_METRICS: 'on',
      SWITCHYARD_ACCESS_LOG: 'stdout',
      OTEL_SDK_DISABLED: 'false',
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${recv.port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_TRACES_SAMPLER: 'always_on',
      OTEL_SERVICE_NAME: 'switchyard-bench',
    };
    const variants = [];
    const sampled = { ...all, OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' };
    for (const [name, env] of [['telemetry off', off], ['metrics + access log', metrics], ['metrics + tracing + access log', all], ['… with 10% of traces sampled', sampled]]) {
      const gw = await ctx.startGateway(config, env);
      children.push(gw.child);
      variants.push({ name, gw });
    }
    // Variants alternate (BENCH_TELEMETRY_ROUNDS times, default 2) so drifting machine load hits all alike.
    const rounds = Number(process.env.BENCH_TELEMETRY_ROUNDS || 2);
    const mean = (rs) => ({ ...rs[0], rps: rs.reduce((t, r) => t + r.rps, 0) / rs.length, p50: Math.max(...rs.map((r) => r.p50)), p99: Math.max(...rs.map((r) => r.p99)), errors: rs.reduce((t, r) => t + r.errors, 0) });
    const rows = [];
    for (const stream of [false, true]) {
      const kind = stream ? 'stream' : 'json';
      const results = variants.map(() => []);
      for (let i = 0; i < rounds; i++) {
        for (const [k, v] of variants.entries()) results[k].push(await measure(`${v.name} (${kind})`, `${v.gw.url}/v1/messages`, { stream }));
      }
      const means = results.map(mean);
      rows.push(means[0], ...means.slice(1).map((m) => ({ ...m, ratio: m.rps / means[0].rps })));
    }
    // Stop the gateways first: the traced one flushes its last spans to the receiver on SIGTERM.
    await Promise.all(variants.map(({ gw: { child: c } }) => new Promise((resolve) => (c.exitCode !== null ? resolve() : (c.once('exit', resolve), c.kill('SIGTERM'))))));
    const stats = await new Promise((resolve) => {
      recv.child.once('message', (m) => resolve(m.stats));
      recv.child.send('stats');
    });
    process.stderr.write(`bench: OTLP receiver got ${stats.exports} exports, ${(stats.bytes / 1024).toFixed(0)} KiB of spans\n`);
    return rows;
  },
};

function gatewayConfig(upstreamURL, extra = '') {
  return `
apiVersion: v1
kind: Secret
metadata: { name: keys }
stringData: { client: ${CLIENT_KEY}, upstream: sk-bench-upstream }
---
apiVersion: switchyard.dev/v1alpha1
kind: ModelRoute
metadata: { name: bench }
spec:
  model: bench-model
  targets:
    - { provider: anthropic, model: bench-upstream, baseURL: "${upstreamURL}", credentialsRef: { name: keys, key: upstream } }
---
apiVersion: switchyard.dev/v1alpha1
kind: ApiKey
metadata: { name: bench }
spec:
  secretRef: { name: keys, key: client }
${extra}`;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = require('node:net').createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function startGateway(configText, env = {}) {
  const dir = path.join(__dirname, 'out');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `config-${Date.now()}-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, configText);
  // Ports the OS says are free (random ones collided when a group starts several gateways).
  const [port, adminPort] = [await freePort(), await freePort()];
  const child = fork(path.join(__dirname, '..', 'dist/gateway/src/cli.js'), ['gateway', '--config', file, '--port', String(port), '--admin-port', String(adminPort), '--host', '127.0.0.1'], {
    env: { ...process.env, SWITCHYARD_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  await waitReady(`http://127.0.0.1:${adminPort}/readyz`);
  return { child, url: `http://127.0.0.1:${port}` };
}

async function main() {
  const up = await start(path.join(__dirname, 'upstream.js'), ['0']);
  const upstream = `http://127.0.0.1:${up.port}`;
  const bare = await start(path.join(__dirname, 'bare-proxy.js'), ['0', upstream]);
  const gw = await startGateway(gatewayConfig(upstream));
  const ctx = { upstream, bare: `http://127.0.0.1:${bare.port}`, gateway: gw.url, startGateway, gatewayConfig, measure };
  const children = [up.child, bare.child, gw.child];
  const rows = [];
  try {
    for (const [name, run] of Object.entries(groups)) {
      if (only.length && !only.includes(name)) continue;
      process.stderr.write(`bench: ${name}…\n`);
      rows.push(...(await run(ctx, children)));
    }
  } finally {
    for (const c of children) c.kill('SIGTERM');
  }
  const pad = (s, n) => String(s).padEnd(n);
  const lines = [
    `${DURATION}s per row, ${CONNECTIONS} connections, node ${process.version}`,
    '',
    `| ${pad('scenario', 44)} | ${pad('req/s', 8)} | ${pad('p50 ms', 6)} | ${pad('p99 ms', 6)} | ${pad('errors', 6)} | ratio |`,
    `|${'-'.repeat(46)}|${'-'.repeat(10)}|${'-'.repeat(8)}|${'-'.repeat(8)}|${'-'.repeat(8)}|-------|`,
    ...rows.map((r) => `| ${pad(r.name, 44)} | ${pad(Math.round(r.rps), 8)} | ${pad(r.p50, 6)} | ${pad(r.p99, 6)} | ${pad(r.errors, 6)} | ${r.ratio ? r.ratio.toFixed(2) : ''} |`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

module.exports = { groups };
if (require.main === module) main().catch((err) => { console.error(err); process.exit(1); });
