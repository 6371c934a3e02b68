// The per-origin upstream pool's own CPU per dispatch while n requests are in flight (issue 15,
// live streams): undici's Pool against the gateway's IdlePool (dist/, so build first), each behind an
// Agent as in providers/http.ts. The connector never completes, so every client stays busy as a
// live stream's does and no socket work is counted: what is left is finding a free client (none),
// making a new one, and handing it the request. `node bench/pool-layer.js [N=10000] [rounds=2]`;
// each kind runs in a fresh process, alternating. Printed: µs per dispatch for each 1,000 opened.
const { fork } = require('node:child_process');
const path = require('node:path');

if (process.argv[2] === '--child') {
  const { Pool, Agent } = require('undici');
  const { IdlePool } = require(path.join(__dirname, '..', 'dist/gateway/src/providers/idle-pool.js'));
  const [, , , kind, n] = process.argv;
  const handler = { onConnect() {}, onHeaders: () => true, onData: () => true, onComplete() {}, onError() {}, onBodySent() {}, onUpgrade() {} };
  const opts = { keepAliveTimeout: 30_000, keepAliveMaxTimeout: 120_000, pipelining: 1, connect: () => {} };
  const agent = new Agent({ factory: kind === 'IdlePool' ? (o) => new IdlePool(o, opts) : (o) => new Pool(o, opts) });
  const per = [];
  let c0 = process.cpuUsage();
  for (let i = 1; i <= Number(n); i++) {
    agent.dispatch({ origin: 'http://127.0.0.1:9', path: '/v1/messages', method: 'POST', body: 'x', headers: { 'content-type': 'application/json' } }, handler);
    if (i % 1000 === 0) {
      const c = process.cpuUsage(c0);
      per.push((c.user + c.system) / 1000);
      c0 = process.cpuUsage();
    }
  }
  const mean = per.reduce((a, b) => a + b, 0) / per.length;
  console.log(`${kind.padEnd(8)} mean ${mean.toFixed(1).padStart(6)} µs  per 1,000: ${per.map((v) => v.toFixed(0)).join(' ')}`);
  process.exit(0);
} else {
  const n = Number(process.argv[2] || 10_000);
  const rounds = Number(process.argv[3] || 2);
  (async () => {
    for (let r = 0; r < rounds; r++)
      for (const kind of ['Pool', 'IdlePool'])
        await new Promise((resolve) => fork(path.join(__dirname, 'pool-layer.js'), ['--child', kind, String(n)]).on('exit', resolve));
  })();
}
