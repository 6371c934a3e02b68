// Fixed-rate latency: requests sent on a clock (open loop, 1,000/s by default) to the bare proxy,
// the stack floor and the gateway, in turn, and the latency each adds. autocannon's `overallRate`
// would pace the load, but its latency histogram records whole milliseconds (hdr-histogram with
// integer buckets: 0.4 ms is recorded as 0, 1.7 ms as 1), too coarse for a 0.5 ms target; this
// client times each request with performance.now() instead.
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { Pool } = require('undici');
const { cpuMs } = require('./proc');
const { target } = require('./targets');

const RATE = Number(process.env.BENCH_FIXED_RATE || 1000);

/**
 * Send `rate` requests a second for `seconds` (each at its slot, whatever the replies are doing,
 * so a slow server cannot slow the load down) and time each from send to the end of its body.
 */
async function fixedRate(url, { rate = RATE, seconds, body, headers, stream }) {
  const origin = new URL(url);
  const pool = new Pool(origin.origin, { connections: 256, keepAliveTimeout: 30_000 });
  const total = Math.round(rate * seconds);
  const latencies = [];
  let errors = 0;
  let sent = 0;
  let done = 0;
  const t0 = performance.now();
  const finished = new Promise((resolve) => {
    const one = async () => {
      const t = performance.now();
      try {
        const res = await pool.request({ path: origin.pathname, method: 'POST', headers, body });
        const text = await res.body.text();
        // A stream that does not end in message_stop is a failure, whatever its status.
        if (res.statusCode !== 200 || (stream && !text.includes('event: message_stop'))) errors++;
        else latencies.push(performance.now() - t);
      } catch {
        errors++;
      }
      if (++done === total) resolve();
    };
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) * rate) / 1000) + 1);
      while (sent < due) {
        sent++;
        one();
      }
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
  await finished;
  // Below the set rate when the server fell behind (the last replies came late): then the
  // latencies are queueing, not what the server adds.
  const elapsed = (performance.now() - t0) / 1000;
  await pool.close();
  return { latencies, errors, total, seconds: elapsed };
}

const percentile = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : NaN);
const ms = (x) => Number(x.toFixed(3));
const signed = (x) => `${x >= 0 ? '+' : ''}${x.toFixed(2)}`;

async function group(ctx, children) {
  const headers = { 'content-type': 'application/json', 'x-api-key': ctx.CLIENT_KEY, 'anthropic-version': '2023-06-01' };
  // A second bare proxy, the same program in its own process: what it "adds" over the first is
  // this machine's noise, the resolution the targets below can be read at.
  const control = await ctx.start(path.join(__dirname, 'bare-proxy.js'), ['0', ctx.upstream]);
  children.push(control.child);
  const servers = [
    ['bare node proxy', ctx.bare, ctx.pids.bare],
    ['koa+undici+auth+ajv only', ctx.floor, ctx.pids.floor],
    ['switchyard gateway', ctx.gateway, ctx.pids.gateway],
    ['bare node proxy again (control)', `http://127.0.0.1:${control.port}`, control.child.pid],
  ];
  const rows = [];
  for (const stream of [false, true]) {
    const kind = stream ? 'stream' : 'json';
    const opts = { body: ctx.body(stream), headers, stream };
    // One second of each first (JIT warm-up, connections opened), then two half-length passes in
    // opposite orders so machine drift favours none of them.
    for (const [, url] of servers) await fixedRate(`${url}/v1/messages`, { ...opts, seconds: 1 });
    const acc = new Map(servers.map(([name]) => [name, { latencies: [], errors: 0, total: 0, cpu: 0, seconds: 0 }]));
    const half = Math.max(1, ctx.DURATION / 2);
    for (const order of [servers, [...servers].reverse()]) {
      for (const [name, url, pid] of order) {
        const before = cpuMs(pid);
        const r = await fixedRate(`${url}/v1/messages`, { ...opts, seconds: half });
        const a = acc.get(name);
        a.cpu += cpuMs(pid) - before;
        a.latencies.push(...r.latencies);
        a.errors += r.errors;
        a.total += r.total;
        a.seconds += r.seconds;
      }
    }
    const stats = servers.map(([name]) => {
      const a = acc.get(name);
      const sorted = a.latencies.sort((x, y) => x - y);
      return {
        name: `${name} @${RATE}/s (${kind})`,
        kind,
        rps: a.total / a.seconds,
        p50: ms(percentile(sorted, 50)),
        p99: ms(percentile(sorted, 99)),
        errors: a.errors,
        cpuUs: (a.cpu * 1000) / a.total,
      };
    });
    const [bare, floor, gw, again] = stats;
    rows.push(...stats);
    // A server that did not keep up measured its queue, not its own latency: say so by the target.
    const behind = [bare, gw].some((s) => s.rps < 0.95 * RATE) ? ` (fell behind: bare ${Math.round(bare.rps)}/s, gateway ${Math.round(gw.rps)}/s)` : '';
    const others = (p) => ` [floor ${signed(floor[p] - bare[p])}, bare again ${signed(again[p] - bare[p])}]`;
    ctx.targets.push(
      target(`fixed ${RATE}/s ${kind}: gateway p50 added over bare proxy${behind}${others('p50')}`, gw.p50 - bare.p50, '≤', 0.5, 'ms'),
      target(`fixed ${RATE}/s ${kind}: gateway p99 added over bare proxy${behind}${others('p99')}`, gw.p99 - bare.p99, '≤', 2, 'ms'),
    );
  }
  return rows;
}

module.exports = { group, fixedRate };
