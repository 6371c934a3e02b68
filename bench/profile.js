// Where the gateway's time and memory go, next to the stack floor (or the bare proxy), under the
// bench's own load. Profiles start over IPC once the servers are warm (bench/profile-probe.js).
//   node bench/profile.js cpu json|stream [SECONDS]   self time per request by module, floor vs gateway
//   node bench/profile.js alloc json|stream [SECONDS] bytes allocated per request by function
//   node bench/profile.js gc json|stream [SECONDS]    GC pauses per 1,000 requests
//   node bench/profile.js events [STREAMS] [SECONDS]  live streams (a delta every 500 ms): CPU per
//                                                     stream opened and per relayed event, GC per event
// Files go to bench/out/profile/ (open the .cpuprofile / .heapprofile in Chrome DevTools too).
const { fork } = require('node:child_process');
const { mkdirSync, readFileSync } = require('node:fs');
const path = require('node:path');
const { cpuMs } = require('./proc');
const R = require('./run');

const OUT = path.join(__dirname, 'out', 'profile');
const PROBE = ['--require', path.join(__dirname, 'profile-probe.js')];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function ask(child, profile, extra = {}) {
  return new Promise((resolve) => {
    const on = (m) => {
      if (m?.profile !== `${profile}-done`) return;
      child.off('message', on);
      resolve(m);
    };
    child.on('message', on);
    child.send({ profile, ...extra });
  });
}

function startProbed(script, args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, script), args, { execArgv: PROBE, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    child.once('message', (m) => resolve({ child, url: `http://127.0.0.1:${m.port}` }));
    child.once('exit', (code) => reject(new Error(`${script} exited ${code}`)));
  });
}

/** Self time (µs) by key over a CPU profile; `key(url, functionName)` groups. */
function selfTimes(file, key) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const dt = new Map();
  p.samples.forEach((id, i) => dt.set(id, (dt.get(id) || 0) + (p.timeDeltas[i] || 0)));
  const out = new Map();
  for (const n of p.nodes) {
    const k = key(n.callFrame.url || '', n.callFrame.functionName || '(anonymous)');
    if (k) out.set(k, (out.get(k) || 0) + (dt.get(n.id) || 0));
  }
  return out;
}

const module_ = (url, fn) => {
  if (fn === '(idle)' || fn === '(program)') return undefined;
  if (url.includes('node_modules/')) return url.replace(/.*node_modules\//, '').split('/')[0];
  if (url.includes('/gateway/src/')) return url.replace(/.*\/gateway\/src\//, 'gateway/');
  if (url.startsWith('node:')) return url.split('/')[0];
  return url ? path.basename(url) : fn;
};
const function_ = (url, fn) => (module_(url, fn) ? `${fn} ${module_(url, fn)}` : undefined);

function diffTable(floor, gw, nFloor, nGw, top) {
  const keys = new Set([...floor.keys(), ...gw.keys()]);
  const rows = [...keys].map((k) => [k, (floor.get(k) || 0) / nFloor, (gw.get(k) || 0) / nGw]);
  const total = (i) => rows.reduce((s, r) => s + r[i], 0);
  console.log(`µs per request: floor ${total(1).toFixed(1)}, gateway ${total(2).toFixed(1)}\n   floor  gateway     diff`);
  for (const [k, a, b] of rows.sort((x, y) => y[2] - y[1] - (x[2] - x[1])).slice(0, top))
    console.log(`${a.toFixed(1).padStart(8)} ${b.toFixed(1).padStart(8)} ${(b - a).toFixed(1).padStart(8)}  ${k}`);
}

/** Allocated bytes per request by function from a sampling heap profile. */
function allocTable(file, requests, top) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const size = new Map();
  for (const s of p.samples) size.set(s.nodeId, (size.get(s.nodeId) || 0) + s.size);
  const byFn = new Map();
  let total = 0;
  (function walk(n) {
    const k = function_(n.callFrame.url || '', n.callFrame.functionName || '(anonymous)') ?? n.callFrame.functionName;
    const s = size.get(n.id) || 0;
    total += s;
    byFn.set(k, (byFn.get(k) || 0) + s);
    n.children.forEach(walk);
  })(p.head);
  console.log(`${path.basename(file)}: ${(total / requests).toFixed(0)} bytes allocated per request`);
  for (const [k, v] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${(v / requests).toFixed(0).padStart(8)}  ${k}`);
}

async function requestProfiles(mode, kind, seconds) {
  const up = await R.start(path.join(__dirname, 'upstream.js'), ['0']);
  const upstream = `http://127.0.0.1:${up.port}`;
  const floor = await startProbed('stack-floor.js', ['0', upstream, R.CLIENT_KEY]);
  const gw = await R.startGateway(R.gatewayConfig(upstream), {}, { execArgv: PROBE });
  const stream = kind === 'stream';
  const counts = {};
  try {
    for (const [name, s] of [
      ['floor', floor],
      ['gateway', gw],
    ]) {
      const url = `${s.url}/v1/messages`;
      await R.measure('warm-up', url, { stream, seconds: 2 });
      const file = path.join(OUT, `${name}-${kind}.${mode === 'cpu' ? 'cpuprofile' : 'heapprofile'}`);
      await ask(s.child, `${mode}-start`);
      const m = await R.measure(name, url, { stream, seconds, pid: s.child.pid });
      const r = await ask(s.child, `${mode}-stop`, { file });
      counts[name] = m.rps * seconds;
      console.log(`${name}: ${m.rps.toFixed(0)} req/s, ${m.cpuUs.toFixed(0)} µs CPU per request (profiler on)`);
      if (mode === 'gc') {
        for (const [k, g] of Object.entries(r.gcs))
          console.log(
            `  ${k}: ${((g.n * 1000) / counts[name]).toFixed(2)} per 1,000 requests, ${(g.ms / g.n).toFixed(2)} ms mean, ${g.maxMs.toFixed(1)} max; ${((g.ms * 1000) / counts[name]).toFixed(1)} µs per request`,
          );
      }
      if (mode === 'alloc') allocTable(file, counts[name], 30);
    }
    if (mode === 'cpu') {
      const f = (k) => path.join(OUT, `${k}-${kind}.cpuprofile`);
      diffTable(selfTimes(f('floor'), module_), selfTimes(f('gateway'), module_), counts.floor, counts.gateway, 40);
      console.log('');
      diffTable(selfTimes(f('floor'), function_), selfTimes(f('gateway'), function_), counts.floor, counts.gateway, 40);
    }
  } finally {
    for (const c of [gw.child, floor.child, up.child]) c.kill('SIGTERM');
  }
}

async function events(streams, seconds) {
  const up = await R.start(path.join(__dirname, 'upstream.js'), ['0'], { BENCH_TRICKLE_MS: '500' });
  const upstream = `http://127.0.0.1:${up.port}`;
  const headers = { 'content-type': 'application/json', 'x-api-key': R.CLIENT_KEY, 'anthropic-version': '2023-06-01' };
  try {
    for (const name of ['bare proxy', 'gateway']) {
      const s =
        name === 'gateway'
          ? await R.startGateway(R.gatewayConfig(upstream), {}, { execArgv: PROBE })
          : await startProbed('bare-proxy.js', ['0', upstream], { BENCH_MAX_SOCKETS: 'Infinity' });
      await R.measure('warm-up', `${s.url}/v1/messages`, { stream: false, seconds: 1 });
      up.child.send({ trickle: 'live' });
      let counts = { live: 0 };
      const client = fork(
        path.join(__dirname, 'stream-client.js'),
        [JSON.stringify({ url: `${s.url}/v1/messages`, streams, perSecond: Number(process.env.BENCH_STREAM_RAMP || 500), body: R.body(true), headers })],
        { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] },
      );
      client.on('message', (m) => (counts = m.counts));
      const [t0, c0] = [Date.now(), cpuMs(s.child.pid)];
      while (counts.live < streams && Date.now() - t0 < 120_000) await sleep(100);
      const opened = counts.live;
      const openUs = ((cpuMs(s.child.pid) - c0) * 1000) / opened;
      await sleep(1000);
      if (process.env.BENCH_PROFILE_EVENTS) await ask(s.child, 'cpu-start');
      await ask(s.child, 'gc-start');
      const [t1, c1] = [Date.now(), cpuMs(s.child.pid)];
      await sleep(seconds * 1000);
      const [cpu, elapsed] = [cpuMs(s.child.pid) - c1, (Date.now() - t1) / 1000];
      const { gcs } = await ask(s.child, 'gc-stop');
      if (process.env.BENCH_PROFILE_EVENTS) await ask(s.child, 'cpu-stop', { file: path.join(OUT, `events-${name.split(' ')[0]}.cpuprofile`) });
      // Every live stream gets a delta every 500 ms.
      const relayed = counts.live * 2 * elapsed;
      const gcMs = Object.values(gcs).reduce((t, g) => t + g.ms, 0);
      console.log(
        `${name}: ${opened} streams opened (${((Date.now() - t0) / 1000).toFixed(1)} s), ${openUs.toFixed(0)} µs CPU per stream opened; ` +
          `${counts.live} live: ${((cpu * 1000) / relayed).toFixed(1)} µs CPU per relayed event, ${((gcMs * 1000) / relayed).toFixed(1)} µs GC per event, CPU ${(cpu / elapsed / 10).toFixed(0)}%`,
      );
      up.child.send({ trickle: 'end' });
      await new Promise((r) => client.once('exit', r));
      s.child.kill('SIGTERM');
      up.child.send({ trickle: 'live' });
    }
  } finally {
    up.child.kill('SIGTERM');
  }
}

async function main() {
  mkdirSync(OUT, { recursive: true });
  const [mode, a, b] = process.argv.slice(2);
  if (mode === 'events') return events(Number(a || 2000), Number(b || 10));
  if (['cpu', 'alloc', 'gc'].includes(mode) && ['json', 'stream'].includes(a)) return requestProfiles(mode, a, Number(b || 6));
  console.error('usage: node bench/profile.js cpu|alloc|gc json|stream [SECONDS] | events [STREAMS] [SECONDS]');
  process.exit(2);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
