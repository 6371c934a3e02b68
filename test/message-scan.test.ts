import { scanMessage } from '../gateway/src/providers/anthropic/message-scan';

/** What the full parse and the provider's check conclude: the facts, or undefined when the reply is not a Message. */
function byParse(raw: Buffer): any {
  let body: any;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!body || typeof body !== 'object' || body.type !== 'message' || !Array.isArray(body.content)) return undefined;
  return { usage: body.usage, model: body.model, stop_reason: body.stop_reason, input_tokens: body.input_tokens };
}

/** The scan may decline (undefined) any reply, but whatever it answers must be what the parse says. */
function agrees(raw: Buffer): void {
  const facts = scanMessage(raw);
  if (facts !== undefined) expect({ text: raw.toString('utf8'), facts }).toEqual({ text: raw.toString('utf8'), facts: byParse(raw) });
}

const message = {
  id: 'msg_01',
  type: 'message',
  role: 'assistant',
  model: 'claude-x',
  content: [
    { type: 'text', text: 'Hi "there" \\ \u00e9 \ud83d\ude00 \n' },
    { type: 'tool_use', id: 't', name: 'n', input: { a: [1, -2.5e3, 0, true, false, null, {}] } },
  ],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 25, output_tokens: 12, cache_creation_input_tokens: 3, cache_read_input_tokens: 0, cache_creation: { ephemeral_1h_input_tokens: 2 } },
};

describe('scanMessage', () => {
  test('a Message, compact or pretty-printed, gives the members the full parse gives', () => {
    for (const text of [JSON.stringify(message), JSON.stringify(message, null, 2), ` \r\n\t${JSON.stringify(message, null, '\t')}\n `]) {
      const raw = Buffer.from(text);
      expect(scanMessage(raw)).toEqual(byParse(raw));
      expect(scanMessage(raw)?.usage.cache_creation.ephemeral_1h_input_tokens).toBe(2);
    }
  });

  test('a repeated member: the last one counts, as with JSON.parse', () => {
    const raw = Buffer.from('{"type":"message","content":[],"usage":{"input_tokens":1},"model":"a","usage":{"input_tokens":7},"model":"b"}');
    expect(scanMessage(raw)).toEqual({ usage: { input_tokens: 7 }, model: 'b', stop_reason: undefined, input_tokens: undefined });
  });

  test('whatever is not certainly a Message is left to the full parse', () => {
    const declined = [
      '',
      '[]',
      '{}',
      '42',
      '"message"',
      '{"type":"message"}',
      '{"type":"message","content":{}}',
      '{"type":"error","content":[]}',
      '{"type":"messag\\u0065","content":[]}', // a Message to JSON.parse, but spelled with an escape
      '{"typ\\u0065":"message","content":[]}',
      '\ufeff{"type":"message","content":[]}',
      '{"type":"message","content":[]} x',
      '{"type":"message","content":[]}}',
      '{"type":"message","content":[],}',
      '{"type":"message","content":[1,]}',
      "{'type':'message','content':[]}",
      '{"type":"message","content":["a\tb"]}',
      '{"type":"message","content":["\\x"]}',
      '{"type":"message","content":["\\u12G4"]}',
      '{"type":"message","content":[01]}',
      '{"type":"message","content":[1.]}',
      '{"type":"message","content":[.5]}',
      '{"type":"message","content":[1e]}',
      '{"type":"message","content":[+1]}',
      '{"type":"message","content":[-]}',
      '{"type":"message","content":[tru]}',
      '{"type":"message","content":[NaN]}',
      '{"type":"message","content":[]',
      '{"type":"message" "content":[]}',
    ];
    for (const text of declined) expect({ text, facts: scanMessage(Buffer.from(text)) }).toEqual({ text, facts: undefined });
  });

  test('valid JSON the scan accepts: numbers, escapes and deep nesting', () => {
    const accepted = [
      '{"type":"message","content":[-0,0.5e-3,1E+2,12345678901234567890,"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud800"],"usage":{"output_tokens":1}}',
      `{"type":"message","content":[${'['.repeat(500)}${']'.repeat(500)}],"model":"m\\u00e9"}`,
      '{"type":"message","content":[],"input_tokens":3,"stop_reason":null}',
    ];
    for (const text of accepted) {
      const raw = Buffer.from(text);
      expect(scanMessage(raw)).toBeDefined();
      agrees(raw);
    }
  });

  test('nesting too deep for the scan is left to the full parse', () => {
    const raw = Buffer.from(`{"type":"message","content":[${'['.repeat(200_000)}${']'.repeat(200_000)}]}`);
    expect(scanMessage(raw)).toBeUndefined();
  });

  test('every truncation of a Message is declined, and bytes changed at random never make the scan disagree with the parse', () => {
    const raw = Buffer.from(JSON.stringify(message));
    for (let n = 0; n < raw.length; n++) expect(scanMessage(raw.subarray(0, n))).toBeUndefined();
    // A fixed-seed generator: the same cases on every run.
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const alphabet = Buffer.from('{}[]",:\\ \t\n0123456789.eE+-tfnaul\u0000\u001f\u007fx\u00e9');
    let accepted = 0;
    for (let i = 0; i < 20_000; i++) {
      const m = Buffer.from(raw);
      for (let k = 1 + rand(3); k > 0; k--) m[rand(m.length)] = rand(4) === 0 ? rand(256) : alphabet[rand(alphabet.length)];
      if (scanMessage(m) !== undefined) accepted++;
      agrees(m);
    }
    // Mutations that keep it a Message (inside strings, digits for digits) must still be taken.
    expect(accepted).toBeGreaterThan(1000);
  });
});
