#!/usr/bin/env node
// `npm run bench`: throughput and latency of direct-to-upstream, a bare Node proxy and the
// gateway, side by side in one run, as ratios (absolute numbers depend on the machine).
// Each server runs in its own process; autocannon drives them from this one.
const { fork } = require('node:child_process');
const { writeFileSync, mkdirSync } = require('node:fs');
const path = require('node:path');
const autocannon = require('autocannon');
const { cpuMs, freePort } = require('./proc');
const { target, targetLines } = require('./targets');

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
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} never became ready`);
}

const body = (stream, model = 'bench-model') =>
  JSON.stringify({
    model,
    max_tokens: 256,
    stream,
    messages: [{ role: 'user', content: 'Benchmark prompt: say hello in a few words, please.' }],
  });

/**
 * One autocannon row. `pid` is the server under test (the proxy, not the upstream behind it): its
 * CPU time per request goes in the row, the steadiest number on a shared machine.
 */
async function measure(name, url, { stream, model, seconds = DURATION, pid, headers = {}, key = CLIENT_KEY }) {
  const before = cpuMs(pid);
  const res = await autocannon({
    url,
    method: 'POST',
    connections: CONNECTIONS,
    duration: seconds,
    headers: { 'content-type': 'application/json', 'x-api-key': key, 'anthropic-version': '2023-06-01', ...headers },
    body: body(stream, model),
  });
  const errors = res.non2xx + res.errors + res.timeouts;
  const cpuUs = ((cpuMs(pid) - before) * 1000) / res.requests.total;
  return {
    name,
    kind: stream ? 'stream' : 'json',
    rps: res.requests.average,
    p50: res.latency.p50,
    p99: res.latency.p99,
    errors,
    cpuUs,
    requests: res.requests.total,
    seconds: res.duration,
  };
}

const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS || 4));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

/**
 * Rows compared as ratios, measured in ROUNDS short rounds that alternate in order (forwards,
 * then backwards), each of DURATION ÷ ROUNDS, rather than one after another for DURATION each: a
 * shared machine's load drifts over seconds, and measured back to back the row that ran in a
 * quieter moment wins by as much as 30%. Per row: req/s is its requests over its seconds, CPU per
 * request its CPU over its requests, p50 the rounds' median, p99 the worst round's.
 * `runs` is [[name, url, options for measure()], …].
 */
async function measureAlternating(runs) {
  const seconds = Math.max(1, DURATION / ROUNDS);
  const rounds = runs.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    const order = runs.map((_, i) => i);
    if (r % 2) order.reverse();
    for (const i of order) rounds[i].push(await measure(runs[i][0], runs[i][1], { ...runs[i][2], seconds }));
  }
  return rounds.map((rs) => {
    const requests = rs.reduce((t, x) => t + x.requests, 0);
    return {
      ...rs[0],
      rps: requests / rs.reduce((t, x) => t + x.seconds, 0),
      cpuUs: rs.every((x) => Number.isFinite(x.cpuUs)) ? rs.reduce((t, x) => t + x.cpuUs * x.requests, 0) / requests : NaN,
      p50: median(rs.map((x) => x.p50)),
      p99: Math.max(...rs.map((x) => x.p99)),
      errors: rs.reduce((t, x) => t + x.errors, 0),
      requests,
    };
  });
}

/** Scenario groups: each starts what it needs and returns rows; later features add groups here. */
const groups = {
  async passthrough(ctx) {
    const rows = [];
    const { pids } = ctx;
    // One second of each first, so no row pays for JIT warm-up and lazy initialisation.
    for (const stream of [false, true]) {
      for (const url of [ctx.bare, ctx.floor, ctx.gateway]) await measure('warm-up', `${url}/v1/messages`, { stream, seconds: 1 });
    }
    for (const stream of [false, true]) {
      const kind = stream ? 'stream' : 'json';
      // The direct row's CPU is the upstream's own; every other row's is the proxy's alone.
      const [direct, bare, floor, gw] = await measureAlternating([
        [`direct upstream (${kind})`, `${ctx.upstream}/v1/messages`, { stream, pid: pids.upstream }],
        [`bare node proxy (${kind})`, `${ctx.bare}/v1/messages`, { stream, pid: pids.bare }],
        [`koa+undici+auth+ajv only (${kind})`, `${ctx.floor}/v1/messages`, { stream, pid: pids.floor }],
        [`switchyard gateway (${kind})`, `${ctx.gateway}/v1/messages`, { stream, pid: pids.gateway }],
      ]);
      rows.push(direct, bare, { ...floor, ratio: floor.rps / bare.rps }, { ...gw, ratio: gw.rps / bare.rps });
      ctx.floorCpuUs[kind] = floor.cpuUs;
      ctx.targets.push(
        target(`pass-through ${kind}: gateway ÷ stack floor, req/s`, gw.rps / floor.rps, '≥', stream ? 0.8 : 0.85),
        target(`pass-through ${kind}: gateway ÷ stack floor, CPU/request`, gw.cpuUs / floor.cpuUs, '≤', 1.2),
      );
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
    for (const [name, env] of [
      ['telemetry off', off],
      ['metrics+log', metrics],
      ['metrics+log+traces', all],
      ['… 10% traced', sampled],
    ]) {
      const gw = await ctx.startGateway(config, env);
      children.push(gw.child);
      variants.push({ name, gw });
    }
    // One second of each first, so no row pays for JIT warm-up and lazy initialisation.
    for (const stream of [false, true]) {
      for (const v of variants)
        await autocannon({
          url: `${v.gw.url}/v1/messages`,
          method: 'POST',
          connections: 8,
          duration: 1,
          headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY },
          body: body(stream),
        });
    }
    // Variants alternate (BENCH_TELEMETRY_ROUNDS times, default 2) so drifting machine load hits all
    // alike. Beside req/s, each row gives the gateway's CPU time per request, steadier on a shared
    // machine; the ratio is of req/s, and of CPU per request in the name's bracket.
    const rounds = Number(process.env.BENCH_TELEMETRY_ROUNDS || 2);
    const rows = [];
    for (const stream of [false, true]) {
      const kind = stream ? 'stream' : 'json';
      const results = variants.map(() => ({ rows: [], cpu: 0, requests: 0 }));
      for (let i = 0; i < rounds; i++) {
        for (const [k, v] of variants.entries()) {
          const before = cpuMs(v.gw.child.pid);
          const row = await measure(`${v.name} (${kind})`, `${v.gw.url}/v1/messages`, { stream });
          results[k].cpu += cpuMs(v.gw.child.pid) - before;
          results[k].requests += row.rps * DURATION;
          results[k].rows.push(row);
        }
      }
      const means = results.map(({ rows: rs, cpu, requests }) => ({
        ...rs[0],
        rps: rs.reduce((t, r) => t + r.rps, 0) / rs.length,
        p50: Math.max(...rs.map((r) => r.p50)),
        p99: Math.max(...rs.map((r) => r.p99)),
        errors: rs.reduce((t, r) => t + r.errors, 0),
        kind,
        cpuUs: (cpu * 1000) / requests,
      }));
      const named = (m, base) => `${m.name} ${Math.round(m.cpuUs)}µs cpu${base ? ` (${(m.cpuUs / base.cpuUs).toFixed(2)})` : ''}`;
      rows.push({ ...means[0], name: named(means[0]) }, ...means.slice(1).map((m) => ({ ...m, name: named(m, means[0]), ratio: m.rps / means[0].rps })));
    }
    // Stop the gateways first: the traced one flushes its last spans to the receiver on SIGTERM.
    await Promise.all(
      variants.map(({ gw: { child: c } }) => new Promise((resolve) => (c.exitCode !== null ? resolve() : (c.once('exit', resolve), c.kill('SIGTERM'))))),
    );
    const stats = await new Promise((resolve) => {
      recv.child.once('message', (m) => resolve(m.stats));
      recv.child.send('stats');
    });
    process.stderr.write(`bench: OTLP receiver got ${stats.exports} exports, ${(stats.bytes / 1024).toFixed(0)} KiB of spans\n`);
    return rows;
  },

  /**
   * Anthropic in, OpenAI Chat Completions out and Gemini generateContent out (request, response and
   * stream translation) next to the Anthropic pass-through, on one gateway process so the rows
   * differ only in the adapter. `ratio` = ÷ the pass-through row.
   */
  async openai(ctx, children) {
    const route = (name, provider, model, baseURL) => `---
apiVersion: switchyard.dev/v1alpha1
kind: ModelRoute
metadata: { name: ${name} }
spec:
  model: ${name}
  targets:
    - { provider: ${provider}, model: ${model}, baseURL: "${baseURL}", credentialsRef: { name: keys, key: upstream } }
`;
    const routes =
      route('bench-openai', 'openai', 'bench-upstream', `${ctx.upstream}/v1`) + route('bench-gemini', 'gemini', 'gemini-2.5-flash', `${ctx.upstream}/v1beta`);
    const gw = await ctx.startGateway(ctx.gatewayConfig(ctx.upstream, routes));
    children.push(gw.child);
    const models = [
      ['pass-through', 'bench-model'],
      ['anthropic→openai', 'bench-openai'],
      ['anthropic→gemini', 'bench-gemini'],
    ];
    // One second of each path first, so no row pays for JIT warm-up and lazy initialisation.
    for (const stream of [false, true]) {
      for (const [, model] of models) {
        await autocannon({
          url: `${gw.url}/v1/messages`,
          method: 'POST',
          connections: 8,
          duration: 1,
          headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY },
          body: body(stream, model),
        });
      }
    }
    const rows = [];
    for (const stream of [false, true]) {
      const kind = stream ? 'stream' : 'json';
      rows.push(await measure(`direct upstream, openai (${kind})`, `${ctx.upstream}/v1/chat/completions`, { stream, pid: ctx.pids.upstream }));
      const [pass, ...translated] = await measureAlternating(
        models.map(([label, model]) => [`gateway ${label} (${kind})`, `${gw.url}/v1/messages`, { stream, model, pid: gw.child.pid }]),
      );
      rows.push(pass);
      translated.forEach((row, i) => {
        rows.push({ ...row, ratio: row.rps / pass.rps });
        ctx.targets.push(target(`${models[i + 1][0]} ${kind} ÷ gateway pass-through, req/s`, row.rps / pass.rps, '≥', 0.75));
      });
    }
    return rows;
  },

  /**
   * What the limit check costs: the same gateway with limits off, on the local store and on Redis
   * (a redis-server started for the run). Every ApiKey limit is set, high enough never to refuse,
   * so each request runs the full admission and settlement path. Target: Redis under 15% off.
   */
  async limits(ctx, children) {
    const limits =
      '  limits: { requestsPerMinute: 1000000000, inputTokensPerMinute: 1000000000000, outputTokensPerMinute: 1000000000000, maxConcurrent: 1000000 }\n';
    const redis = await startRedis();
    children.push(redis.child);
    const configText = ctx.gatewayConfig(ctx.upstream, limits);
    const off = await ctx.startGateway(ctx.gatewayConfig(ctx.upstream));
    const local = await ctx.startGateway(configText);
    const viaRedis = await ctx.startGateway(configText, { SWITCHYARD_REDIS_URL: redis.url, SWITCHYARD_REDIS_PREFIX: 'bench:' });
    children.push(off.child, local.child, viaRedis.child);
    const setups = [
      ['limits off', off.url, off.child],
      ['limits on, local store', local.url, local.child],
      ['limits on, redis store', viaRedis.url, viaRedis.child],
    ];
    // One second of each first, so no row pays for JIT warm-up and lazy initialisation.
    for (const stream of [false, true]) {
      for (const [, url] of setups)
        await autocannon({
          url: `${url}/v1/messages`,
          method: 'POST',
          connections: 8,
          duration: 1,
          headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY },
          body: body(stream),
        });
    }
    const rows = [];
    for (const stream of [false, true]) {
      const kind = stream ? 'stream' : 'json';
      // Two half-length passes in opposite orders (A B C, C B A), averaged, so a machine that
      // gets busier or quieter during the run does not favour whichever setup ran first.
      const seconds = Math.max(1, DURATION / 2);
      const runs = new Map(setups.map(([name]) => [name, []]));
      for (const order of [setups, [...setups].reverse()]) {
        for (const [name, url, child] of order) {
          const before = cpuMs(child.pid);
          const row = await ctx.measure(`${name} (${kind})`, `${url}/v1/messages`, { stream, seconds });
          runs.get(name).push({ ...row, cpu: cpuMs(child.pid) - before, total: row.rps * seconds });
        }
      }
      const avg = (xs, k) => xs.reduce((a, x) => a + x[k], 0) / xs.length;
      const merged = setups.map(([name]) => {
        const xs = runs.get(name);
        // Gateway CPU per request, as in the openai group: steadier than req/s on a shared machine
        // (the redis-server's own CPU is not in it).
        const cpuUs = (xs.reduce((a, x) => a + x.cpu, 0) * 1000) / xs.reduce((a, x) => a + x.total, 0);
        return {
          name: xs[0].name,
          kind,
          cpuUs,
          rps: avg(xs, 'rps'),
          p50: avg(xs, 'p50'),
          p99: Math.max(...xs.map((x) => x.p99)),
          errors: xs.reduce((a, x) => a + x.errors, 0),
        };
      });
      for (const m of merged) rows.push({ ...m, ratio: m.rps / merged[0].rps });
    }
    // Proof the Redis gateway counted in Redis rather than falling back to its local store.
    const metrics = await (await fetch(`${viaRedis.adminURL}/metrics`)).text();
    const fellBack = /^switchyard_limit_store_fallback_total\{[^}]*\} (\d+)/m.exec(metrics);
    if (fellBack && Number(fellBack[1]) > 0) process.stderr.write(`bench: warning: ${fellBack[1]} requests fell back to the local store\n`);
    return rows;
  },

  /**
   * Authentication by a ServiceAccount token against an API key, on one gateway: after the first
   * request the token's verdict is cached by its SHA-256, so the hot path is a hash and a map
   * lookup either way. Target: ratio ≈ 1.
   */
  async satoken(ctx, children) {
    const { SignJWT, exportJWK, generateKeyPair } = require('jose');
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const issuer = 'https://kubernetes.default.svc.cluster.local';
    const dir = path.join(__dirname, 'out');
    mkdirSync(dir, { recursive: true });
    const jwksFile = path.join(dir, `jwks-${Date.now()}.json`);
    writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'bench', alg: 'RS256', use: 'sig' }] }));
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ 'kubernetes.io': { namespace: 'bench', serviceaccount: { name: 'client', uid: 'u' } } })
      .setProtectedHeader({ alg: 'RS256', kid: 'bench' })
      .setIssuer(issuer)
      .setSubject('system:serviceaccount:bench:client')
      .setAudience(['switchyard'])
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + 3600)
      .sign(privateKey);
    const gw = await ctx.startGateway(
      ctx.gatewayConfig(ctx.upstream, '  serviceAccounts: [{ namespace: bench, name: client }]\n'),
      {},
      { args: ['--sa-issuer', issuer, '--sa-jwks', jwksFile] },
    );
    children.push(gw.child);
    const setups = [
      ['API key', CLIENT_KEY],
      ['cached ServiceAccount token', token],
    ];
    for (const [, key] of setups)
      await autocannon({
        url: `${gw.url}/v1/messages`,
        method: 'POST',
        connections: 8,
        duration: 1,
        headers: { 'content-type': 'application/json', 'x-api-key': key },
        body: body(false),
      });
    // Two half-length passes in opposite orders, averaged, as in the limits group.
    const seconds = Math.max(1, DURATION / 2);
    const runs = new Map(setups.map(([name]) => [name, []]));
    for (const order of [setups, [...setups].reverse()]) {
      for (const [name, key] of order) {
        const before = cpuMs(gw.child.pid);
        const row = await ctx.measure(`${name} (json)`, `${gw.url}/v1/messages`, { stream: false, seconds, key });
        runs.get(name).push({ ...row, cpu: cpuMs(gw.child.pid) - before, total: row.rps * seconds });
      }
    }
    const avg = (xs, k) => xs.reduce((a, x) => a + x[k], 0) / xs.length;
    const merged = setups.map(([name]) => {
      const xs = runs.get(name);
      const cpuUs = (xs.reduce((a, x) => a + x.cpu, 0) * 1000) / xs.reduce((a, x) => a + x.total, 0);
      const label = Number.isFinite(cpuUs) ? `${xs[0].name} ${Math.round(cpuUs)}µs cpu` : xs[0].name;
      return { name: label, rps: avg(xs, 'rps'), p50: avg(xs, 'p50'), p99: Math.max(...xs.map((x) => x.p99)), errors: xs.reduce((a, x) => a + x.errors, 0) };
    });
    return merged.map((m) => ({ ...m, ratio: m.rps / merged[0].rps }));
  },
};

/** A throwaway redis-server (no persistence) on a free loopback port. */
async function startRedis() {
  const net = require('node:net');
  const { spawn } = require('node:child_process');
  const port = await new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  child.once('error', (err) => {
    throw new Error(`cannot start redis-server (apt-get install -y redis-server): ${err.message}`);
  });
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => c.end('PING\r\n'));
      c.once('data', (d) => resolve(String(d).startsWith('+PONG')));
      c.once('error', () => resolve(false));
    });
    if (ok) return { child, url: `redis://127.0.0.1:${port}` };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('redis-server did not start');
}

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

/** `execArgv` preloads a probe (lag-probe.js) into the unchanged built gateway. */
async function startGateway(configText, env = {}, { execArgv = [], args = [] } = {}) {
  const dir = path.join(__dirname, 'out');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `config-${Date.now()}-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, configText);
  // Ports the OS says are free (random ones collided when a group starts several gateways).
  const [port, adminPort] = [await freePort(), await freePort()];
  const child = fork(
    path.join(__dirname, '..', 'dist/gateway/src/cli.js'),
    ['gateway', '--config', file, '--port', String(port), '--admin-port', String(adminPort), '--host', '127.0.0.1', ...args],
    {
      env: { ...process.env, SWITCHYARD_LOG_LEVEL: 'warn', ...env },
      // BENCH_GATEWAY_NODE_FLAGS: Node/V8 flags for every gateway the bench starts (e.g. a GC setting under trial).
      execArgv: [...(process.env.BENCH_GATEWAY_NODE_FLAGS || '').split(/\s+/).filter(Boolean), ...execArgv],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    },
  );
  await waitReady(`http://127.0.0.1:${adminPort}/readyz`);
  return { child, url: `http://127.0.0.1:${port}`, adminURL: `http://127.0.0.1:${adminPort}` };
}

async function main() {
  const up = await start(path.join(__dirname, 'upstream.js'), ['0']);
  const upstream = `http://127.0.0.1:${up.port}`;
  const bare = await start(path.join(__dirname, 'bare-proxy.js'), ['0', upstream]);
  const floor = await start(path.join(__dirname, 'stack-floor.js'), ['0', upstream, CLIENT_KEY]);
  const gw = await startGateway(gatewayConfig(upstream));
  const ctx = {
    upstream,
    bare: `http://127.0.0.1:${bare.port}`,
    floor: `http://127.0.0.1:${floor.port}`,
    gateway: gw.url,
    startGateway,
    gatewayConfig,
    measure,
    start,
    body,
    CLIENT_KEY,
    DURATION,
    pids: { upstream: up.child.pid, bare: bare.child.pid, floor: floor.child.pid, gateway: gw.child.pid },
    // The stack floor's CPU per request by kind (json, stream), the yardstick of the `cpu ÷ floor` column.
    floorCpuUs: {},
    targets: [],
  };
  const children = [up.child, bare.child, floor.child, gw.child];
  const rows = [];
  try {
    for (const [name, run] of Object.entries(groups)) {
      if (only.length && !only.includes(name)) continue;
      process.stderr.write(`bench: ${name}…\n`);
      rows.push(...(await run(ctx, children)));
    }
    // Groups run without `passthrough` still get a `cpu ÷ floor` column: measure the floor alone.
    for (const kind of ['json', 'stream']) {
      if (ctx.floorCpuUs[kind] || !rows.some((r) => r.kind === kind && Number.isFinite(r.cpuUs))) continue;
      const floorRow = await measure(`koa+undici+auth+ajv only (${kind}, CPU yardstick)`, `${ctx.floor}/v1/messages`, {
        stream: kind === 'stream',
        pid: ctx.pids.floor,
      });
      ctx.floorCpuUs[kind] = floorRow.cpuUs;
      rows.push(floorRow);
    }
  } finally {
    for (const c of children) c.kill('SIGTERM');
  }
  const pad = (s, n) => String(s).padEnd(n);
  const num = (x, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : '');
  const lines = [
    `${DURATION}s per row, ${CONNECTIONS} connections, node ${process.version}; cpu = µs of the server under test per request (from /proc)`,
    '',
    `| ${pad('scenario', 48)} | ${pad('req/s', 8)} | ${pad('p50 ms', 6)} | ${pad('p99 ms', 6)} | ${pad('errors', 6)} | ratio | ${pad('cpu µs', 6)} | cpu ÷ floor |`,
    `|${'-'.repeat(50)}|${'-'.repeat(10)}|${'-'.repeat(8)}|${'-'.repeat(8)}|${'-'.repeat(8)}|-------|${'-'.repeat(8)}|-------------|`,
    ...rows.map(
      (r) =>
        `| ${pad(r.name, 48)} | ${pad(num(r.rps), 8)} | ${pad(r.p50 ?? '', 6)} | ${pad(r.p99 ?? '', 6)} | ${pad(r.errors ?? '', 6)} | ${pad(r.ratio ? r.ratio.toFixed(2) : '', 5)} | ${pad(num(r.cpuUs), 6)} | ${pad(num(r.cpuUs / ctx.floorCpuUs[r.kind], 2), 11)} |`,
    ),
    ...targetLines(ctx.targets),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

// Groups with a file of their own; the order here is the order they run in.
Object.assign(groups, {
  fixedrate: require('./fixed-rate').group,
  peers: require('./peers').group,
  livestreams: require('./live-streams').group,
  shadow: require('./shadow').group,
});

module.exports = { groups, start, startGateway, gatewayConfig, measure, body, CLIENT_KEY };
if (require.main === module)
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
