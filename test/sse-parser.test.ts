import { SseParser, formatEvent } from '../gateway/src/core/sse';
import { replaceTopLevelString } from '../gateway/src/providers/anthropic/splice';
import { nestingExceeds } from '../gateway/src/api/body';

describe('SSE parser', () => {
  const all = (chunks: string[]) => {
    const p = new SseParser();
    return [...chunks.flatMap((c) => p.push(c)), ...p.flush()];
  };

  test('named events with LF, CRLF and CR line ends', () => {
    for (const nl of ['\n', '\r\n', '\r']) {
      const text = `event: a${nl}data: {"x":1}${nl}${nl}event: b${nl}data: 2${nl}${nl}`;
      const evs = all([text]);
      expect(evs.map((e) => [e.event, e.data])).toEqual([
        ['a', '{"x":1}'],
        ['b', '2'],
      ]);
      expect(evs.map((e) => e.raw).join('')).toBe(text);
    }
  });

  test('events split at every possible byte boundary, including between \\r and \\n', () => {
    const text = 'event: message_start\r\ndata: {"a":"b"}\r\n\r\n: comment\r\n\r\ndata: x\r\ndata: y\r\n\r\n';
    for (let i = 1; i < text.length; i++) {
      const evs = all([text.slice(0, i), text.slice(i)]);
      expect(evs.map((e) => [e.event, e.data])).toEqual([
        ['message_start', '{"a":"b"}'],
        ['', ''],
        ['', 'x\ny'],
      ]);
      expect(evs.map((e) => e.raw).join('')).toBe(text);
    }
  });

  test('one optional space after the colon is stripped; fields without colon; unterminated last event', () => {
    const evs = all(['data:nospace\ndata:  two\nevent\n\ndata: tail']);
    expect(evs[0]).toMatchObject({ event: '', data: 'nospace\n two' });
    expect(evs[1]).toMatchObject({ data: 'tail' });
  });

  test('idle tells whether input ended on an event boundary', () => {
    const p = new SseParser();
    expect(p.idle).toBe(true);
    p.push('data: 1\n');
    expect(p.idle).toBe(false);
    p.push('\n');
    expect(p.idle).toBe(true);
  });

  test('whole `event:` + `data:` events cut out of a chunk give what the line parser gives, byte for byte', () => {
    // Fed a character at a time, no chunk ever holds a whole event, so the line parser does it all:
    // the reference the whole-chunk shortcut must match, on the shapes it takes and the ones it must leave.
    const bodies = [
      'event: message_start\ndata: {"type":"message_start"}\n\nevent: content_block_delta\ndata: {"type":"content_block_delta","delta":{"text":"h\u00e9 \ud83d\ude00"}}\n\n',
      'event: \ndata: {}\n\n',
      'event: a:b\ndata: x:y\n\n',
      'event:  spaced\ndata:  two spaces\n\n',
      'event:e\ndata:x\n\nevent: f\ndata: y\n\n',
      'event: e\ndata: a\ndata: b\n\nevent: f\ndata: c\n\n',
      'event: e\ndata: x\n\n: keep-alive\n\nevent: f\ndata: y\n\n',
      'event: e\n: note\ndata: x\n\n',
      'id: 1\nevent: e\ndata: x\n\nevent: e\ndata: x\nid: 2\n\n',
      'data: only\n\nevent: e\ndata: x\n\n',
      'event: e\n\nevent: f\ndata: y\n\n',
      'event: e\ndata: \n\n',
      '\n\nevent: e\ndata: x\n\n\nevent: f\ndata: y\n\n',
      'event: e\ndata: x\n\nevent: f\ndata: y',
      'event: e\ndata: x\n\nevent: f\ndata: y\n',
      'event: e\r\ndata: x\r\n\r\nevent: f\ndata: y\n\n',
      'event: ping\ndata: {"type": "ping"}\n\nevent: e\ndata: x\n\n',
    ];
    const run = (chunks: string[], keepRaw: boolean, max = Infinity) => {
      const p = new SseParser(max, keepRaw);
      try {
        return [...chunks.flatMap((c) => p.push(c)), ...p.flush()];
      } catch (err) {
        return (err as Error).name;
      }
    };
    for (const body of bodies) {
      for (const keepRaw of [true, false]) {
        const reference = run([...body], keepRaw);
        expect(run([body], keepRaw)).toEqual(reference);
        for (let i = 1; i < body.length; i++) expect(run([body.slice(0, i), body.slice(i)], keepRaw)).toEqual(reference);
        // A cap between the events' sizes: the line parser throws at the first event over it, and so must the shortcut.
        for (const max of [8, 20, 40]) expect(run([body], keepRaw, max)).toEqual(run([...body], keepRaw, max));
      }
    }
  });

  test('formatEvent writes one data line', () => {
    expect(formatEvent('ping', { type: 'ping' })).toBe('event: ping\ndata: {"type":"ping"}\n\n');
  });
});

describe('model splice keeps every other byte', () => {
  test.each([
    ['{"model":"a","x":1}', '{"model":"B","x":1}'],
    ['{ "x": {"model": "inner"}, "model" : "a" }', '{ "x": {"model": "inner"}, "model" : "B" }'],
    ['{"messages":[{"content":"\\"model\\": \\"a\\""}],"model":"a\\u00e9"}', '{"messages":[{"content":"\\"model\\": \\"a\\""}],"model":"B"}'],
    ['{"n":1.50,"model":"a","big":12345678901234567890}', '{"n":1.50,"model":"B","big":12345678901234567890}'],
    ['{"x":"no model here"}', '{"x":"no model here"}'],
    ['{"model":"first","x":[1,{"model":"deep"}],"model":"second"}', '{"model":"B","x":[1,{"model":"deep"}],"model":"B"}'],
    ['{"model":"a-much-longer-model-name-than-the-new-one","é":"ü"}', '{"model":"B","é":"ü"}'],
  ])('%s', (input, expected) => {
    expect(replaceTopLevelString(Buffer.from(input), 'model', 'B').toString()).toBe(expected);
  });

  test('a value longer than the one it replaces, and one JSON must escape', () => {
    const input = Buffer.from('{"a":1,"model":"x","z":"é"}');
    expect(replaceTopLevelString(input, 'model', 'claude-"quoted"-\\-é').toString()).toBe('{"a":1,"model":"claude-\\"quoted\\"-\\\\-é","z":"é"}');
    expect(input.toString()).toBe('{"a":1,"model":"x","z":"é"}');
  });
});

describe('nesting guard', () => {
  test('counts brackets outside strings only', () => {
    expect(nestingExceeds('[[[1]]]', 3)).toBe(false);
    expect(nestingExceeds('[[[[1]]]]', 3)).toBe(true);
    expect(nestingExceeds('{"a":"[[[[[[[["}', 3)).toBe(false);
    expect(nestingExceeds('{"a":"\\"[[[[[[["}', 3)).toBe(false);
  });
});
