import { CallContext, type AttemptRecord } from '../gateway/src/core/call';
import type { ApiKey, Route, Target } from '../gateway/src/core/routes';
import { accessLine, accessRecord, isoTime, tenths, usd } from '../gateway/src/telemetry/access-log';

/**
 * The access log writes its line field by field (accessLine) instead of JSON.stringify of the
 * record object: the two must give the same bytes for every value a record can hold, including
 * the ones JSON escapes or writes specially.
 */
const TRICKY = [
  'plain',
  ' !#$%&()*+,-./09:;<=>?@AZ[]^_`az{|}~', // every printable ASCII class written as is
  'edge \u001f\u007f\u0080 ~"', // just outside it
  'with "quotes" and \\backslashes\\',
  'C:\\only\\backslashes',
  'only "quotes"',
  'tab\tnewline\nreturn\r nul\u0000 bell\u0007 del\u007f',
  'unicode é ü 日本語 🚀 \u2028\u2029',
  'lone surrogates \ud800 and \udfff',
  '',
  '</script><!--',
  'x'.repeat(300), // over the 256-character cap for client-chosen strings
  'é'.repeat(255) + '🚀🚀', // the cap falls inside a surrogate pair
];

function target(provider: string, model: string, pricing?: Target['pricing']): Target {
  return { provider, model, pricing } as unknown as Target;
}

function call(s: string, i: number): CallContext {
  const c = new CallContext(Date.UTC(2026, 2, 31, 23, 59, 59, 999));
  c.endpoint = i % 3 === 0 ? 'count_tokens' : 'messages';
  c.http = { method: i % 2 ? 'POST' : s, path: '/v1/messages' + s, headers: i % 2 ? { traceparent: `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01` } : {} };
  c.key = i % 4 === 3 ? undefined : ({ name: 'default/' + s } as unknown as ApiKey);
  c.serviceAccount = i % 2 ? 'ns/' + s : undefined;
  c.route = i % 5 === 4 ? undefined : ({ name: s, pricing: { inputPerMTok: 3, outputPerMTok: 15, cacheReadPerMTok: 0.3 } } as unknown as Route);
  c.requestedModel = s;
  c.stream = i % 2 === 0;
  const t = target('anthropic', s, i % 3 === 1 ? { inputPerMTok: 1 / 3, cacheWritePerMTok: 3.75 } : undefined);
  c.target = i % 4 === 2 ? undefined : t;
  c.responseModel = i % 2 ? s : undefined;
  const attempts: AttemptRecord[] = [
    { target: target('openai', s), n: 1, startedAt: 0, retryable: true, durationMs: 12.3456, outcome: 'error', status: 429, errorType: s },
    { target: t, n: 2, startedAt: 1, retryable: true, durationMs: 0.05, outcome: 'failure', failure: 'idle_timeout' },
    { target: t, n: 3, startedAt: 2, retryable: false, durationMs: 1e21, outcome: 'ok', status: 200 },
  ];
  c.attempts = attempts.slice(0, i % 4);
  c.fallbacks = i % 3;
  c.usage = {
    input_tokens: 123456789 * i,
    output_tokens: 7,
    cache_read_input_tokens: 0,
    cache_creation_input_tokens: 99,
    ...(i % 2 ? { cache_creation_1h_input_tokens: 33 } : {}),
  };
  c.stopReason = i % 2 ? s : undefined;
  c.status = [200, 0, 429, 529, 403][i % 5];
  c.errorType = i % 3 === 2 ? s : undefined;
  c.clientAborted = i % 4 === 1;
  c.rateLimited = i % 5 === 2 ? { scope: 'route', limit: 'requestsPerMinute' as never } : undefined;
  c.budgetExceeded = i % 5 === 4 ? { period: '2026-03', budget_usd: 0.01, spent_usd: 0.018000000000000002 } : undefined;
  c.trace = i % 6 === 5 ? { traceId: s, spanId: i % 4 ? s : undefined } : undefined;
  c.firstTokenAt = i % 2 ? c.startedAt + 3.14159 : undefined;
  c.endedAt = c.startedAt + 1234.56789 * i;
  return c;
}

describe('access-log line', () => {
  test('is byte for byte JSON.stringify of the access record, for quotes, control characters, unicode, nulls, absent fields and numbers', () => {
    let n = 0;
    for (const [i, s] of TRICKY.entries()) {
      // Every value of i mod 2..6 meets every string, so each optional field is seen both set and unset.
      for (let k = 0; k < 60; k++) {
        const c = call(s, i + k);
        const line = accessLine(c);
        expect(line).toBe(JSON.stringify(accessRecord(c)));
        expect(JSON.parse(line)).toEqual(accessRecord(c));
        n++;
      }
    }
    expect(n).toBe(TRICKY.length * 60);
  });

  test('huge values (escapes, unicode, lone surrogates by the thousand) are written whole and byte for byte', () => {
    const huge = [
      '"\\\u0000\u001f'.repeat(20_000), // every character escaped, six bytes each at worst
      '日本語🚀é'.repeat(20_000),
      '\ud800'.repeat(10_000) + 'x'.repeat(100_000),
    ];
    for (const [i, s] of huge.entries()) {
      const c = call('plain', i);
      c.responseModel = s;
      c.stopReason = s;
      c.errorType = s;
      c.target = target('anthropic', s);
      c.attempts = [{ target: target(s, s), n: 1, startedAt: 0, retryable: false, durationMs: 1, outcome: 'error', status: 500, errorType: s }];
      const line = accessLine(c);
      expect(line).toBe(JSON.stringify(accessRecord(c)));
    }
    // The buffer a huge line grew is not what a small line after it is written into wrongly.
    const small = call('plain', 1);
    expect(accessLine(small)).toBe(JSON.stringify(accessRecord(small)));
  });

  test('non-finite numbers are written as null, as JSON.stringify writes them', () => {
    const c = call('m', 1);
    c.status = NaN;
    c.fallbacks = Infinity;
    c.usage.output_tokens = -Infinity;
    c.attempts = [{ target: target('anthropic', 'm'), n: 1, startedAt: 0, retryable: false, durationMs: NaN, outcome: 'error', status: NaN }];
    const line = accessLine(c);
    expect(line).toBe(JSON.stringify(accessRecord(c)));
    expect(line).toContain('"status":null');
    expect(line).toContain('"fallbacks":null');
  });

  test('the time is toISOString() of the start, also when lines of one second reuse its first characters', () => {
    const seconds = [Date.UTC(2026, 2, 31, 23, 59, 59), Date.UTC(2026, 3, 1), 0, -1000, Date.UTC(1900, 0, 1), Date.UTC(10000, 0, 1), Date.UTC(-1, 0, 1)];
    let n = 0;
    for (const s of seconds) {
      // In order and back again, so every millisecond is written both from the cache and after a new second.
      for (const ms of [0, 1, 9, 10, 99, 100, 101, 999, 500, 0, 998, -1, 1000, 999]) {
        const d = new Date(s + ms);
        expect(isoTime(d)).toBe(d.toISOString());
        n++;
      }
    }
    expect(n).toBe(seconds.length * 14);
    expect(() => isoTime(new Date(NaN))).toThrow(RangeError);
    const c = call('plain', 1);
    expect(JSON.parse(accessLine(c)).time).toBe(c.startTime.toISOString());
  });

  test('durations and costs are written as JSON.stringify writes the rounded numbers, at every size', () => {
    const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;
    const values = [
      0,
      -0,
      -1,
      -0.05,
      0.05,
      0.04999,
      0.95,
      9.95,
      1e-6,
      9.9999999e-7,
      0.0000015,
      214748364.7,
      214748364.8,
      999999.99999999,
      1e6,
      1e14,
      1e21,
      NaN,
      Infinity,
      -Infinity,
      5e-324,
      0.1 + 0.2,
    ];
    // Pseudo-random but fixed, from 1e-12 to 1e22: every branch and both sides of each bound.
    let seed = 42;
    const next = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    for (let e = -12; e <= 22; e++) for (let k = 0; k < 2000; k++) values.push(next() * 10 ** e);
    for (let i = 0; i < 20000; i++) values.push(i / 10, i / 1e8, (i + 0.5) / 10, (i + 0.5) / 1e8);
    for (const v of values) {
      expect(tenths(v)).toBe(JSON.stringify(round(v, 1)));
      expect(usd(v)).toBe(JSON.stringify(round(v, 8)));
    }
    const c = call('plain', 1);
    c.endedAt = c.startedAt + 1234.56789;
    c.attempts[0].durationMs = 0.04;
    expect(accessLine(c)).toBe(JSON.stringify(accessRecord(c)));
  });
});
