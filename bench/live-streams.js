// Live streams: BENCH_STREAMS (default 10,000) streams held open at once through one proxy process,
// the fake upstream sending each a delta every 500 ms, in the phase it opened in
// (BENCH_TRICKLE_PHASE=burst: all in the same turn, the worst case); once all are open they flow for
// BENCH_STREAM_SECONDS (default 10) before the upstream ends them. For the bare proxy, the stack
// floor and the gateway in turn: how many were delivered complete (ending in message_stop), the RSS each live
// stream costs (RSS with all open minus idle RSS, both after a full GC, ÷ streams open), and the
// event-loop delay while they flow, from lag-probe.js preloaded into the unchanged server. The
// server runs on a CPU of its own (PIN below).
const { execFileSync, fork } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');
const { rssKiB, nofileHardLimit } = require('./proc');
const { target } = require('./targets');

const TICK_MS = 500;
const PHASE = process.env.BENCH_TRICKLE_PHASE === 'burst' ? 'burst' : 'spread';
const SECONDS = Number(process.env.BENCH_STREAM_SECONDS || 10);
const OPEN_TIMEOUT_MS = 120_000;
const REQUESTED = Number(process.env.BENCH_STREAMS || 10_000);
// New streams a second, across all clients: fast enough that all are open long before the first
// ends, slow enough not to overflow the listen backlog.
const RAMP = Number(process.env.BENCH_STREAM_RAMP || 1000);
const PER_CLIENT = 2500;
// --expose-gc only lets the probe collect garbage before an RSS sample; the server is unchanged.
// A folder: a heap snapshot of each server at the RSS sample goes there (bench/heap-per-stream.js reads them).
const SNAPSHOTS = process.env.BENCH_HEAP_SNAPSHOTS;
// A folder: a CPU profile of each server over the flowing window goes there (BENCH_LIVE_PROFILE_KIND=alloc:
// a sampling allocation profile instead), and stderr gets its GC pauses in that window
// (bench/profile-probe.js preloaded as well).
const PROFILES = process.env.BENCH_LIVE_PROFILE;
const PROFILE_KIND = process.env.BENCH_LIVE_PROFILE_KIND === 'alloc' ? 'alloc' : 'cpu';
const PROBED = ['--expose-gc', '--require', path.join(__dirname, 'lag-probe.js'), ...(PROFILES ? ['--require', path.join(__dirname, 'profile-probe.js')] : [])];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The server under test gets CPU 0 to itself; the upstream, the client processes and this runner
 * share the others. Unpinned on a 2-core machine, four clients and the upstream take CPU from the
 * server whenever it is busy, so its event-loop lag measured their scheduling as much as its own
 * work (the bare proxy's p99 ranged from 30 ms to 500 ms between runs). BENCH_PIN=0 turns it off;
 * it is off by itself with one CPU or without `taskset` (util-linux).
 */
const CPUS = os.availableParallelism?.() ?? os.cpus().length;
const PIN = process.env.BENCH_PIN !== '0' && CPUS >= 2 && hasTaskset();
const SERVER_CPU = '0';
const OTHER_CPUS = CPUS > 2 ? `1-${CPUS - 1}` : '1';
function hasTaskset() {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
/** Every thread of `pid` (threads it starts later inherit the main thread's set). */
function pin(pid, cpus) {
  if (PIN) execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}

/** profile-probe.js answers { profile: '<verb>-done', …what it returns }. */
function askProfile(child, message) {
  return new Promise((resolve) => {
    const on = (m) => {
      if (m?.profile === `${message.profile}-done`) {
        child.off('message', on);
        resolve(m);
      }
    };
    child.on('message', on);
    child.send(message);
  });
}

function ask(child, message, answerKey) {
  return new Promise((resolve) => {
    const on = (m) => {
      if (m?.[answerKey]) {
        child.off('message', on);
        resolve(m[answerKey]);
      }
    };
    child.on('message', on);
    child.send(message);
  });
}

function startProbed(script, args, env) {
  return new Promise((resolve, reject) => {
    const child = fork(script, args, { env: { ...process.env, ...env }, execArgv: PROBED, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    child.once('message', (m) => resolve({ child, url: `http://127.0.0.1:${m.port}` }));
    child.once('exit', (code) => reject(new Error(`${script} exited ${code}`)));
  });
}

const stop = (c) => new Promise((resolve) => (c.exitCode !== null ? resolve() : (c.once('exit', resolve), c.kill('SIGTERM'))));

/**
 * Run `streams` live streams through `server` ({ child, url }) and measure it: open them all, let
 * them flow for SECONDS with every one open (the lag window), sample RSS, then have the upstream
 * end them all and count those delivered complete.
 */
async function run(ctx, name, server, streams, upstream) {
  const { child } = server;
  pin(child.pid, SERVER_CPU);
  const headers = { 'content-type': 'application/json', 'x-api-key': ctx.CLIENT_KEY, 'anthropic-version': '2023-06-01' };
  // Warm up with short JSON requests (the JIT, the upstream pool), then measure the idle heap.
  await ctx.measure('warm-up', `${server.url}/v1/messages`, { stream: false, seconds: 1 });
  await sleep(500);
  const idleMemory = (await ask(child, { lagProbe: 'gc' }, 'lagProbe')).memory;
  const idle = rssKiB(child.pid);
  if (SNAPSHOTS)
    await ask(child, { lagProbe: 'snapshot', file: path.join(SNAPSHOTS, `${name.split(',')[0].replace(/ /g, '-')}-idle.heapsnapshot`) }, 'lagProbe');
  const clients = [];
  const counts = [];
  for (let i = 0, left = streams; left > 0; i++, left -= PER_CLIENT) {
    const share = Math.min(PER_CLIENT, left);
    const perSecond = (RAMP * share) / streams;
    const c = fork(
      path.join(__dirname, 'stream-client.js'),
      [JSON.stringify({ url: `${server.url}/v1/messages`, streams: share, perSecond, body: ctx.body(true), headers })],
      { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] },
    );
    pin(c.pid, OTHER_CPUS);
    counts[i] = { opened: 0, live: 0, completed: 0, failed: 0, statuses: {}, errors: {} };
    c.on('message', (m) => (counts[i] = m.counts));
    clients.push(new Promise((resolve) => c.once('exit', resolve)));
  }
  const sum = (k) => counts.reduce((t, c) => t + c[k], 0);
  // Streams last until the bench ends them, so a slow (loaded) machine only delays this point.
  const opening = Date.now();
  upstream.child.send({ trickle: 'live' });
  for (let i = 1; sum('opened') + sum('failed') < streams && Date.now() - opening < OPEN_TIMEOUT_MS; i++) {
    await sleep(100);
    if (i % 50 === 0)
      process.stderr.write(`bench: ${name}: ${sum('opened')} open, ${sum('failed')} failed after ${((Date.now() - opening) / 1000).toFixed(0)} s\n`);
  }
  const openSeconds = (Date.now() - opening) / 1000;
  const allOpen = sum('live');
  if (PROFILES) {
    await askProfile(child, { profile: `${PROFILE_KIND}-start` });
    await askProfile(child, { profile: 'gc-start' });
  }
  child.send({ lagProbe: 'reset' });
  await sleep(SECONDS * 1000);
  if (PROFILES) {
    const file = path.join(PROFILES, `${name.split(',')[0].replace(/ /g, '-')}-live.${PROFILE_KIND === 'cpu' ? 'cpuprofile' : 'heapprofile'}`);
    const { gcs } = await askProfile(child, { profile: 'gc-stop' });
    await askProfile(child, { profile: `${PROFILE_KIND}-stop`, file });
    process.stderr.write(`bench: ${name}: profile ${file}; GC in the window ${JSON.stringify(gcs)}\n`);
  }
  // IPC carries JSON: the probe's NaN (no sample) arrives as null.
  const lag = Object.fromEntries(Object.entries(await ask(child, { lagProbe: 'report' }, 'lagProbe')).map(([k, v]) => [k, v ?? NaN]));
  const liveMemory = (await ask(child, { lagProbe: 'gc' }, 'lagProbe')).memory;
  const samples = [];
  for (let i = 0; i < 3; i++) {
    samples.push(rssKiB(child.pid));
    await sleep(100);
  }
  const live = samples.sort((a, b) => a - b)[1];
  const stillOpen = sum('live');
  if (SNAPSHOTS) {
    const file = path.join(SNAPSHOTS, `${name.split(',')[0].replace(/ /g, '-')}-${stillOpen}.heapsnapshot`);
    process.stderr.write(`bench: ${name}: heap snapshot ${(await ask(child, { lagProbe: 'snapshot', file }, 'lagProbe')).file}\n`);
  }
  upstream.child.send({ trickle: 'end' });
  await Promise.all(clients);
  const delivered = sum('completed');
  const open = Math.min(allOpen, stillOpen);
  const perStream = open > 0 ? (live - idle) / open : NaN;
  const tally = (k) =>
    counts.reduce((all, c) => {
      for (const [s, n] of Object.entries(c[k])) all[s] = (all[s] || 0) + n;
      return all;
    }, {});
  const statuses = tally('statuses');
  process.stderr.write(
    `bench: ${name}: memory KiB (spaces: [used, committed]) idle ${JSON.stringify(idleMemory)}\nbench: ${name}: live ${JSON.stringify(liveMemory)}\n`,
  );
  process.stderr.write(
    `bench: ${name}: ${sum('opened') + sum('failed') < streams ? 'gave up opening' : 'all opened or failed'} after ${openSeconds.toFixed(1)} s, ${allOpen} open then, ${stillOpen} at the RSS sample; statuses ${JSON.stringify(statuses)}, failures ${JSON.stringify(tally('errors'))}; RSS idle ${idle} KiB, live ${live} KiB; lag p50 ${lag.p50.toFixed(1)} ms, max ${lag.max.toFixed(1)} ms\n`,
  );
  return {
    row: {
      name: `${name}: ${allOpen} open, ${delivered} ok, ${perStream.toFixed(1)} KiB/stream, lag p99 ${lag.p99.toFixed(1)} ms`,
      errors: streams - delivered,
    },
    delivered,
    perStream,
    lag,
    allOpen,
  };
}

async function group(ctx, children) {
  // A proxy holds two descriptors per stream (client and upstream sockets); a process cannot go
  // past its hard limit (Node raises the soft one to it), so a low one caps the count, loudly.
  const cap = Math.floor((nofileHardLimit() - 256) / 2);
  const streams = Math.min(REQUESTED, cap);
  const capped = streams < REQUESTED ? ` (capped from ${REQUESTED}: open-files hard limit ${nofileHardLimit()})` : '';
  if (capped) process.stderr.write(`bench: livestreams: ${streams} streams${capped}; raise it with ulimit -Hn / prlimit as root\n`);
  const up = await ctx.start(path.join(__dirname, 'upstream.js'), ['0'], { BENCH_TRICKLE_MS: String(TICK_MS), BENCH_TRICKLE_PHASE: PHASE });
  children.push(up.child);
  pin(up.child.pid, OTHER_CPUS);
  pin(process.pid, OTHER_CPUS);
  const pinned = PIN ? `, server on CPU ${SERVER_CPU}` : '';
  const upstream = `http://127.0.0.1:${up.port}`;
  try {
    const bare = await startProbed(path.join(__dirname, 'bare-proxy.js'), ['0', upstream], { BENCH_MAX_SOCKETS: 'Infinity' });
    children.push(bare.child);
    const b = await run(ctx, `bare proxy, ${streams} live (${PHASE}${pinned})`, bare, streams, up);
    await stop(bare.child);
    // The design card's stack alone (Koa, undici, the body reader): how much of the gateway's cost is the stack's.
    const floor = await startProbed(path.join(__dirname, 'stack-floor.js'), ['0', upstream, ctx.CLIENT_KEY]);
    children.push(floor.child);
    const f = await run(ctx, `stack floor, ${streams} live (${PHASE}${pinned})`, floor, streams, up);
    await stop(floor.child);
    const gw = await ctx.startGateway(ctx.gatewayConfig(upstream), {}, { execArgv: PROBED });
    children.push(gw.child);
    const g = await run(ctx, `gateway, ${streams} live (${PHASE}${pinned})`, gw, streams, up);
    await stop(gw.child);
    ctx.targets.push(
      target(`live streams: gateway, open at once${capped}`, g.allOpen, '≥', streams, 'streams'),
      target(`live streams: gateway, delivered complete (message_stop)${capped}`, g.delivered, '≥', streams, 'streams'),
      target('live streams: gateway ÷ bare proxy, RSS per live stream', g.perStream / b.perStream, '≤', 1.3),
      target(
        `live streams: gateway event-loop lag p99, deltas ${PHASE === 'burst' ? 'all in one turn' : "in each stream's own phase"}${pinned}`,
        g.lag.p99,
        '<',
        50,
        'ms',
      ),
    );
    return [b.row, f.row, g.row];
  } finally {
    await stop(up.child);
    if (PIN) execFileSync('taskset', ['-a', '-p', '-c', `0-${CPUS - 1}`, String(process.pid)], { stdio: 'ignore' });
  }
}

module.exports = { group };
