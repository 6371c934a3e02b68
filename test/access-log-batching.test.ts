import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';
import { batchedWriter } from '../gateway/src/telemetry/access-log';

/** A real Writable that records each write it is handed, as the stdout/stderr the sink writes to would receive it. */
function recordingStream(): { stream: Writable; writes: string[] } {
  const writes: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      writes.push(chunk.toString('utf8'));
      cb();
    },
  });
  return { stream, writes };
}

const turn = () => new Promise((r) => setImmediate(r));
const waitForWrites = async (writes: string[], n: number) => {
  const until = Date.now() + 10_000;
  while (writes.length < n && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
};

describe('access-log writer', () => {
  test('lines ended in different event-loop turns share one write, each line newline-terminated', async () => {
    const { stream, writes } = recordingStream();
    const sink = batchedWriter(stream);
    for (let i = 0; i < 5; i++) {
      sink(`{"n":${i}}`);
      await turn(); // a request ending per turn, as under load
    }
    await waitForWrites(writes, 1);
    expect(writes).toEqual(['{"n":0}\n{"n":1}\n{"n":2}\n{"n":3}\n{"n":4}\n']);
    // And the next lines make a write of their own.
    sink('{"n":5}');
    await waitForWrites(writes, 2);
    expect(writes[1]).toBe('{"n":5}\n');
  });

  test('a batch reaching 64 KB is written at once, without waiting; the rest follows in order', async () => {
    const { stream, writes } = recordingStream();
    const sink = batchedWriter(stream);
    const lines = Array.from({ length: 100 }, (_, i) => `{"n":${i},"pad":"${'x'.repeat(990)}"}`);
    for (const l of lines) sink(l);
    expect(writes.length).toBeGreaterThanOrEqual(1);
    for (const w of writes) expect(Buffer.byteLength(w)).toBeLessThanOrEqual(64 * 1024);
    await waitForWrites(writes, 2);
    expect(writes.join('')).toBe(lines.map((l) => l + '\n').join(''));
  });

  test('lines of every character, and one larger than a batch, arrive whole and in order', async () => {
    const { stream, writes } = recordingStream();
    const sink = batchedWriter(stream);
    const lines = ['{"a":"é ü 日本語 🚀"}', `{"big":"${'日'.repeat(30_000)}"}`, '{"b":"\\u2028 \u2028"}'];
    for (const l of lines) sink(l);
    await waitForWrites(writes, 3);
    expect(writes.join('')).toBe(lines.map((l) => l + '\n').join(''));
  });

  test('lines still pending when the process exits are written, on process.exit() and on a natural exit', () => {
    const mod = path.join(__dirname, '..', 'dist', 'gateway', 'src', 'telemetry', 'access-log.js');
    for (const end of ['process.exit(0)', '']) {
      const script = `const sink = require(${JSON.stringify(mod)}).accessLogSinkFromEnv('stdout'); sink('{"a":1}'); sink('{"b":2}'); ${end}`;
      const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
      expect([r.status, r.stdout]).toEqual([0, '{"a":1}\n{"b":2}\n']);
    }
  });
});
