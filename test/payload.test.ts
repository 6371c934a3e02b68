import { payload } from '../gateway/src/core/payload';

/**
 * Issue 15: the relay reads usage from every message_start and message_delta it passes through;
 * the usual shape is read without splitting the event into lines, and every other shape the SSE
 * grammar allows still reads as before.
 */
describe('payload of a pass-through event', () => {
  const data = { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 12 } };
  const json = JSON.stringify(data);

  test.each([
    ['event line then one data line', `event: message_delta\ndata: ${json}\n\n`],
    ['CRLF line ends', `event: message_delta\r\ndata: ${json}\r\n\r\n`],
    ['data with no space after the colon', `event: message_delta\ndata:${json}\n\n`],
    ['an id line after the data', `event: message_delta\ndata: ${json}\nid: 7\n\n`],
    ['a comment before the data', `event: message_delta\n: keep-alive\ndata: ${json}\n\n`],
    ['data first, event after', `data: ${json}\nevent: message_delta\n\n`],
  ])('%s', (_, raw) => {
    expect(payload({ event: 'message_delta', raw })).toEqual(data);
  });

  test('data split over several lines is joined with newlines, as the SSE grammar says', () => {
    expect(payload({ event: 'message_delta', raw: 'event: message_delta\ndata: {"type":\ndata: "message_delta"}\n\n' })).toEqual({ type: 'message_delta' });
  });

  test('data that is not JSON reads as undefined; a translated event keeps its own data', () => {
    expect(payload({ event: 'message_delta', raw: 'event: message_delta\ndata: {not json\n\n' })).toBeUndefined();
    expect(payload({ event: 'x', data: { a: 1 }, raw: 'event: x\ndata: {"a":2}\n\n' })).toEqual({ a: 1 });
  });
});
