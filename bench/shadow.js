// What shadow traffic costs the primary: the same gateway config with no shadow and with a shadow
// taking 100% of the route's requests (to the same fake upstream, as another model), side by side.
// The shadow's work runs in the gateway's process, so the primary's req/s and latency show it;
// `ratio` = with the shadow ÷ without. CPU per request is the gateway's, shadow work included.
const autocannon = require('autocannon');
const { cpuMs } = require('./proc');

const SHADOW = `
  shadows:
    - name: bench-shadow
      percent: 100
      maxConcurrent: 10000
      target: { provider: anthropic, model: bench-shadow, baseURL: "UPSTREAM", credentialsRef: { name: keys, key: upstream } }
`;

function withShadow(configText, upstream) {
  const marker = '\n---\napiVersion: switchyard.dev/v1alpha1\nkind: ApiKey';
  const at = configText.indexOf(marker);
  if (at < 0) throw new Error('bench: the gateway config has no ApiKey document to insert the shadow before');
  return configText.slice(0, at) + SHADOW.replace('UPSTREAM', upstream).replace(/\n$/, '') + configText.slice(at);
}

async function group(ctx, children) {
  const plain = await ctx.startGateway(ctx.gatewayConfig(ctx.upstream));
  const shadowed = await ctx.startGateway(withShadow(ctx.gatewayConfig(ctx.upstream), ctx.upstream));
  children.push(plain.child, shadowed.child);
  const setups = [
    ['no shadow', plain],
    ['100% shadow', shadowed],
  ];
  // One second of each first, so no row pays for JIT warm-up and lazy initialisation.
  for (const stream of [false, true])
    for (const [, g] of setups)
      await autocannon({
        url: `${g.url}/v1/messages`,
        method: 'POST',
        connections: 8,
        duration: 1,
        headers: { 'content-type': 'application/json', 'x-api-key': ctx.CLIENT_KEY },
        body: ctx.body(stream),
      });
  const rows = [];
  for (const stream of [false, true]) {
    const kind = stream ? 'stream' : 'json';
    // Two half-length passes in opposite orders, averaged, as in the limits group.
    const seconds = Math.max(1, ctx.DURATION / 2);
    const runs = new Map(setups.map(([name]) => [name, []]));
    for (const order of [setups, [...setups].reverse()]) {
      for (const [name, g] of order) {
        const before = cpuMs(g.child.pid);
        const row = await ctx.measure(`${name} (${kind})`, `${g.url}/v1/messages`, { stream, seconds });
        runs.get(name).push({ ...row, cpu: cpuMs(g.child.pid) - before, total: row.rps * seconds });
      }
    }
    const avg = (xs, k) => xs.reduce((a, x) => a + x[k], 0) / xs.length;
    const merged = setups.map(([name]) => {
      const xs = runs.get(name);
      return {
        name: xs[0].name,
        kind,
        cpuUs: (xs.reduce((a, x) => a + x.cpu, 0) * 1000) / xs.reduce((a, x) => a + x.total, 0),
        rps: avg(xs, 'rps'),
        p50: avg(xs, 'p50'),
        p99: Math.max(...xs.map((x) => x.p99)),
        errors: xs.reduce((a, x) => a + x.errors, 0),
      };
    });
    for (const m of merged) rows.push({ ...m, ratio: m.rps / merged[0].rps });
  }
  // Proof the shadows ran (and none were skipped): their count from the shadowed gateway's metrics.
  const metrics = await (await fetch(`${shadowed.adminURL}/metrics`)).text();
  const sum = (re) => [...metrics.matchAll(re)].reduce((a, m) => a + Number(m[1]), 0);
  const ran = sum(/^switchyard_shadow_requests_total\{[^}]*outcome="ok"[^}]*\} (\S+)/gm);
  const notOk = sum(/^switchyard_shadow_requests_total\{[^}]*outcome="(?!ok")[^}]*\} (\S+)/gm);
  const skipped = sum(/^switchyard_shadow_skipped_total\{[^}]*\} (\S+)/gm);
  process.stderr.write(`bench: shadow: ${ran} shadows answered, ${notOk} did not, ${skipped} skipped\n`);
  return rows;
}

module.exports = { group };
