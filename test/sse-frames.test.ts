import { SseParser, type SseEvent } from '../gateway/src/core/sse';
import { sseDecoder } from '../gateway/src/providers/stream-loop';

/**
 * Translated streams decode SSE without gathering each event's raw text (SseParser's `keepRaw`
 * false): their events and data must be exactly what the full parser gives, however the bytes are
 * framed and split.
 */
const body = [
  'data: {"a":1}\n\n',
  'data: {"b":"two\\nlines"}\r\n\r\n',
  ': keep-alive comment\n\n',
  'event: error\ndata: {"error":{"message":"x"}}\n\n',
  'data: first line\ndata: second line\ndata:third\n\n',
  'data\n\n',
  'data:\n\n',
  'id: 7\nretry: 100\ndata: with other fields\r\r',
  'data: "emoji 🧪 é \u2028 \ud83d"\n\n',
  'event: x\ndata: unterminated at the end',
].join('');

const shape = (events: SseEvent[]) => events.map((e) => [e.event, e.data]);

function full(text: string): SseEvent[] {
  const p = new SseParser();
  return [...p.push(text), ...p.flush()];
}

test.each([1, 2, 3, 5, 7, 13, 64, 100000])('split into %i-byte chunks: the same events and data as the full parser', (size) => {
  const bytes = Buffer.from(body, 'utf8');
  const d = sseDecoder(Infinity);
  const out: SseEvent[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(...d.push(bytes.subarray(i, i + size)));
  out.push(...d.end());
  expect(shape(out)).toEqual(shape(full(bytes.toString('utf8'))));
  expect(out.length).toBeGreaterThan(5);
  expect(out.every((e) => e.raw === '')).toBe(true);
});

test('the full parser still gives each event its exact text', () => {
  const events = full('data: a\ndata: b\r\n\r\nevent: e\ndata: c\n\n');
  expect(events).toEqual([
    { raw: 'data: a\ndata: b\r\n\r\n', event: '', data: 'a\nb' },
    { raw: 'event: e\ndata: c\n\n', event: 'e', data: 'c' },
  ]);
});
