// Preloaded (`node --require bench/profile-probe.js …`) into a server under test by bench/profile.js,
// which drives it over the fork's IPC channel, so profiles start after warm-up rather than at start-up:
// { profile: 'cpu-start' | 'cpu-stop', file } a CPU profile (sampling every BENCH_PROFILE_INTERVAL µs);
// { profile: 'alloc-start' | 'alloc-stop', file } a sampling heap profile counting every allocation,
// collected ones included (MAJOR_ONLY: only what survived a scavenge); { profile: 'gc-start' |
// 'gc-stop' } GC pauses by kind. Each answers { profile: '<verb>-done', … }.
const inspector = require('node:inspector');
const { writeFileSync } = require('node:fs');
const { PerformanceObserver } = require('node:perf_hooks');

const session = new inspector.Session();
session.connect();
const post = (method, params = {}) => new Promise((resolve, reject) => session.post(method, params, (err, r) => (err ? reject(err) : resolve(r))));
let gcs;
new PerformanceObserver((list) => {
  if (!gcs) return;
  for (const e of list.getEntries()) {
    const kind =
      { 1: 'scavenge', 2: 'minor-mark-compact', 4: 'mark-compact', 8: 'incremental', 16: 'weak-callbacks' }[e.detail?.kind] ?? String(e.detail?.kind);
    const s = (gcs[kind] ??= { n: 0, ms: 0, maxMs: 0 });
    s.n++;
    s.ms += e.duration;
    s.maxMs = Math.max(s.maxMs, e.duration);
  }
}).observe({ entryTypes: ['gc'] });

const verbs = {
  'cpu-start': async () => {
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: Number(process.env.BENCH_PROFILE_INTERVAL || 200) });
    await post('Profiler.start');
  },
  'cpu-stop': async ({ file }) => writeFileSync(file, JSON.stringify((await post('Profiler.stop')).profile)),
  'alloc-start': async () => {
    await post('HeapProfiler.enable');
    await post('HeapProfiler.startSampling', {
      samplingInterval: 512,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: !process.env.MAJOR_ONLY,
    });
  },
  'alloc-stop': async ({ file }) => writeFileSync(file, JSON.stringify((await post('HeapProfiler.stopSampling')).profile)),
  'gc-start': async () => {
    gcs = {};
  },
  'gc-stop': async () => {
    const out = gcs;
    gcs = undefined;
    return { gcs: out };
  },
};

process.on('SIGTERM', () => process.exit(0));
process.on('message', (m) => {
  const verb = verbs[m?.profile];
  if (verb) verb(m).then((r) => process.send({ profile: `${m.profile}-done`, ...r }));
});
process.channel?.unref();
