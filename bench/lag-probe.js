// Preloaded (`node --require bench/lag-probe.js …`) into a server under test, unchanged otherwise:
// measures its event-loop delay and answers over the IPC channel the bench forked it with.
// { lagProbe: 'reset' } starts a new window; { lagProbe: 'report' } gets its percentiles in ms;
// { lagProbe: 'gc' } runs a full collection first when the server runs with --expose-gc, so RSS
// samples compare live memory rather than garbage not yet collected; its answer says how the memory
// splits (V8 heap spaces used/committed, external). { lagProbe: 'snapshot', file }
// writes a V8 heap snapshot there (BENCH_HEAP_SNAPSHOTS in live-streams.js), to see what a stream holds.
const { monitorEventLoopDelay } = require('node:perf_hooks');

const histogram = monitorEventLoopDelay({ resolution: 10 });
histogram.enable();
if (process.send) {
  process.on('message', (m) => {
    if (m?.lagProbe === 'reset') histogram.reset();
    else if (m?.lagProbe === 'gc') {
      globalThis.gc?.();
      // Where the RSS is: the V8 heap's used and committed bytes (per space: the young generation
      // stays as large as allocation made it), memory outside it (Buffers), in KiB.
      const kib = (n) => Math.round(n / 1024);
      const m = process.memoryUsage();
      const spaces = Object.fromEntries(
        require('node:v8')
          .getHeapSpaceStatistics()
          .map((s) => [s.space_name.replace(/_space$/, ''), [kib(s.space_used_size), kib(s.physical_space_size)]]),
      );
      const memory = { rss: kib(m.rss), heapUsed: kib(m.heapUsed), heapTotal: kib(m.heapTotal), external: kib(m.external), spaces };
      process.send({ lagProbe: { gc: typeof globalThis.gc === 'function', memory } });
    } else if (m?.lagProbe === 'snapshot') {
      process.send({ lagProbe: { file: require('node:v8').writeHeapSnapshot(m.file) } });
    } else if (m?.lagProbe === 'report') {
      // No sample at all means the loop never turned in the window: no number rather than zero.
      const ms = (ns) => (histogram.count > 0 ? ns / 1e6 : NaN);
      process.send({ lagProbe: { p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max) } });
    }
  });
  // Listening for messages refs the channel; the probe must not keep a stopped server alive.
  process.channel?.unref();
}
