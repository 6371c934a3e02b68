import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';
import { CallContext } from '../gateway/src/core/call';
import type { ApiKey, Route, Target } from '../gateway/src/core/routes';
import { AccessLog, accessLine, batchedWriter } from '../gateway/src/telemetry/access-log';

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
  test('under load, lines ended in different event-loop turns share writes; each line whole and newline-terminated, in order', async () => {
    const { stream, writes } = recordingStream();
    const sink = batchedWriter(stream);
    const lines = Array.from({ length: 50 }, (_, i) => `{"n":${i}}`);
    const started = performance.now();
    for (const l of lines) {
      sink(l);
      await turn(); // a request ending per turn, as under load
    }
    const elapsed = performance.now() - started;
    await waitForWrites(writes, 1);
    await new Promise((r) => setTimeout(r, 20));
    expect(writes.join('')).toBe(lines.map((l) => l + '\n').join(''));
    // A write per turn would be 50. With a write at most every millisecond (timers may fire a
    // little early, hence the factor 2), fifty turns make a handful, however slow the machine is.
    expect(writes.length).toBeLessThanOrEqual(2 * elapsed + 3);
  });

  test('a line after a quiet spell is written on the next turn, not held for a batch', async () => {
    const { stream, writes } = recordingStream();
    const sink = batchedWriter(stream);
    sink('{"first":1}');
    await waitForWrites(writes, 1);
    await new Promise((r) => setTimeout(r, 10));
    sink('{"second":2}');
    await turn();
    expect(writes).toEqual(['{"first":1}\n', '{"second":2}\n']);
  });

  test('a stream that holds the buffers it is handed and reads them later gets every batch intact, after the batch buffer is reused', async () => {
    // A file stream (or a pipe under back-pressure) keeps a written chunk until the write completes.
    const held: Buffer[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        held.push(chunk);
        setTimeout(cb, 5);
      },
    });
    const sink = batchedWriter(stream);
    const lines: string[] = [];
    for (let batch = 0; batch < 6; batch++) {
      for (let i = 0; i < 3; i++) {
        const line = `{"batch":${batch},"i":${i},"text":"${String.fromCharCode(97 + batch).repeat(40 + batch)}"}`;
        lines.push(line);
        sink(line);
      }
      // The next batch starts after this one's write (a quiet spell of more than the write gap).
      while (held.length <= batch) await new Promise((r) => setTimeout(r, 2));
    }
    expect(held.length).toBe(6);
    expect(Buffer.concat(held).toString('utf8')).toBe(lines.map((l) => l + '\n').join(''));
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

  test('access-log lines encoded straight into the batch are accessLine() byte for byte, also when one outgrows the batch or a line throws', async () => {
    const { stream, writes } = recordingStream();
    const sink = batchedWriter(stream);
    expect(sink.encoded).toBeInstanceOf(Function);
    const log = new AccessLog(sink);
    const mk = (model: string, i: number) => {
      const c = new CallContext(Date.UTC(2026, 2, 31, 23, 59, 59, i % 1000));
      c.endpoint = 'messages';
      c.http = { method: 'POST', path: '/v1/messages', headers: {} };
      c.key = { name: 'default/k' } as unknown as ApiKey;
      c.route = { name: 'r' } as unknown as Route;
      c.requestedModel = model;
      c.target = { provider: 'anthropic', model } as unknown as Target;
      c.responseModel = model;
      c.status = 200;
      c.endedAt = c.startedAt + i / 7;
      return c;
    };
    const models = ['plain', 'é ü 日本語 🚀 "q" \\ \u0000 \u2028', '\ud800 lone'];
    for (let i = 0; i < 400; i++) models.push(`m${i}-${'x'.repeat(i)}`); // ~80 KB: crosses a batch
    models.push('"\u0001'.repeat(40_000)); // a line far larger than a batch, escaped at six bytes a character
    models.push('after');
    const calls = models.map(mk);
    const expected: string[] = [];
    for (const c of calls) {
      log.requestEnd(c);
      expected.push(accessLine(c) + '\n');
    }
    // A line that throws half-way (an invalid start time) leaves nothing of itself in the batch.
    const bad = mk('bad', 1);
    Object.defineProperty(bad, 'startTime', { value: new Date(NaN) });
    expect(() => log.requestEnd(bad)).toThrow(RangeError);
    log.requestEnd(calls[0]);
    expected.push(accessLine(calls[0]) + '\n');
    await waitForWrites(writes, 3);
    await new Promise((r) => setTimeout(r, 20));
    expect(writes.join('')).toBe(expected.join(''));
    for (const w of writes) if (!w.includes('"\\u0001')) expect(Buffer.byteLength(w)).toBeLessThanOrEqual(64 * 1024);
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
