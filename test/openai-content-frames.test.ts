import { ContentFrames } from '../gateway/src/providers/openai/content-frames';
import { StreamTranslator } from '../gateway/src/providers/openai/stream';
import type { StreamEvent } from '../gateway/src/core/upstream';

/**
 * A Chat Completions stream's text frames are read by parsing only their content string once one
 * frame of the same shape has been parsed whole (content-frames.ts). Whatever the frames, the
 * events must be exactly those of parsing every frame in full.
 */
const head = '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":';
const tail = '},"logprobs":null,"finish_reason":null}],"usage":null}';
const text = (s: string) => head + JSON.stringify(s) + tail;

const awkward = [
  'plain',
  'quotes " and \\ backslash',
  'controls \u0000 \u0007 \n \t \u001f',
  'lone surrogates \ud800 \udfff',
  'emoji 🧪 and separators \u2028 \u2029',
  '',
];

/** Frames that look like a text delta of the learned shape but are not, or not only. */
const hostile = [
  head + '"raw \ud800 surrogate and é"' + tail, // unescaped non-ASCII, as servers send it
  head + '"a\\u0041\\n\\"b"' + tail, // escapes, parsed by JSON.parse
  head + '"a" , "x":"b"' + tail, // two values in the slot
  head + '"a","content":"override"' + tail, // a duplicate key after the slot wins
  head + ' "spaced" ' + tail, // whitespace around the literal
  head + '"bare " quote"' + tail,
  head + '"bare\nnewline"' + tail, // not valid JSON
  head + '"x"},"logprobs":null,"finish_reason":"length"}],"usage":null,"z":{"a":"' + tail, // different frame shaped to fit
  head + '"x"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4}}',
  head + '"unterminated' + tail,
  head + '""' + tail,
  head + '"' + 'long '.repeat(5000) + '"' + tail,
  '{"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"other shape"},"finish_reason":null}]}',
];

function viaFrames(frames: string[]): StreamEvent[] {
  const t = new StreamTranslator({ model: 'm', stops: [] });
  const out = frames.flatMap((data) => t.frame({ raw: '', event: '', data }));
  return [...out, ...t.end()];
}

/** The reference: every frame parsed in full. */
function viaParse(frames: string[]): StreamEvent[] {
  const t = new StreamTranslator({ model: 'm', stops: [] });
  const out: StreamEvent[] = [];
  for (const data of frames) {
    if (t.finished) break;
    if (data === '[DONE]') {
      out.push(...t.done());
      continue;
    }
    let c: any;
    try {
      c = JSON.parse(data);
    } catch {
      out.push(...t.fail('api_error', `upstream sent a stream event that is not JSON: ${data.slice(0, 100)}`));
      continue;
    }
    out.push(...t.chunk(c));
  }
  return [...out, ...t.end()];
}

const role =
  '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}';
const finish =
  '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}';

test('awkward text: the events are those of parsing every frame', () => {
  const frames = [role, ...awkward.map(text), ...awkward.map(text), finish, '[DONE]'];
  expect(viaFrames(frames)).toEqual(viaParse(frames));
});

test.each(hostile.map((h, i) => [i, h]))('hostile frame #%i after the shape is learned: the events are those of parsing every frame', (_i, h) => {
  const frames = [role, text('learned'), text('again'), h as string, text('after'), finish, '[DONE]'];
  expect(viaFrames(frames)).toEqual(viaParse(frames));
});

test('the shape is learned only from a plain text delta, at the first choice', () => {
  const learn = (data: string) => ContentFrames.learn(data, JSON.parse(data));
  expect(learn(text('x'))).toBeDefined();
  expect(learn(role)).toBeUndefined(); // a role beside the content
  expect(learn(finish)).toBeUndefined();
  // "content" in another field before the delta: the probe does not land in the delta
  expect(learn('{"meta":{"content":"no"},"choices":[{"index":0,"delta":{"content":"x"}}]}')).toBeUndefined();
  // a duplicate key overrides the first slot
  expect(learn('{"choices":[{"index":0,"delta":{"content":"x","content":"y"}}]}')).toBeUndefined();
  expect(learn('{"choices":[{"index":0,"delta":{"content":"x"}}],"usage":{"total_tokens":1}}')).toBeUndefined();
  const shape = learn(text('x'))!;
  expect(shape.content(text('a "quoted" \\ \u2028 🧪'))).toBe('a "quoted" \\ \u2028 🧪');
  expect(shape.content(head + '"a" , "x":"b"' + tail)).toBeUndefined();
});
