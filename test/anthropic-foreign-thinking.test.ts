import { isForeignThinking, withoutForeignThinking } from '../gateway/src/providers/anthropic/foreign-thinking';
import { encodeSignature } from '../gateway/src/providers/gemini/ids';

describe('thinking blocks other providers produced, on the way to Anthropic', () => {
  const gemini = { type: 'thinking', thinking: '', signature: encodeSignature('gemini-3-pro', 'c2lnbmF0dXJl') };
  const openai = { type: 'thinking', thinking: 'reasoned', signature: '' };
  const anthropic = { type: 'thinking', thinking: 'real', signature: 'EqQBCkYIBxgCKkA' };

  test('only signatures the gateway minted count as foreign', () => {
    expect(isForeignThinking(gemini)).toBe(true);
    expect(isForeignThinking(openai)).toBe(true);
    expect(isForeignThinking(anthropic)).toBe(false);
    // Malformed blocks are Anthropic's to judge (it answers with a precise 400).
    expect(isForeignThinking({ type: 'thinking', thinking: 'x' })).toBe(false);
    expect(isForeignThinking({ type: 'redacted_thinking', data: '' })).toBe(false);
    expect(isForeignThinking(null)).toBe(false);
  });

  test('a body without foreign blocks is left alone (undefined: send the client bytes)', () => {
    expect(withoutForeignThinking({ model: 'm', messages: [{ role: 'assistant', content: [anthropic] }] })).toBeUndefined();
    expect(withoutForeignThinking({ model: 'm', messages: 'not an array' })).toBeUndefined();
    expect(withoutForeignThinking({ model: 'm', messages: [{ role: 'user', content: [openai] }] })).toBeUndefined();
  });

  test('foreign blocks go, emptied assistant turns go, everything else keeps its order and fields', () => {
    const tool = { type: 'tool_use', id: 'toolu_1', name: 't', input: {} };
    const body = {
      model: 'm',
      future_field: { x: 1 },
      messages: [
        { role: 'user', content: 'q' },
        { role: 'assistant', content: [gemini, openai, tool], extra: true },
        { role: 'assistant', content: [openai] },
        { role: 'assistant', content: 'plain string content' },
        { role: 'assistant', content: [anthropic, { type: 'text', text: 'a' }] },
      ],
    };
    const out = withoutForeignThinking(body)!;
    expect(out).toEqual({
      model: 'm',
      future_field: { x: 1 },
      messages: [body.messages[0], { role: 'assistant', content: [tool], extra: true }, body.messages[3], body.messages[4]],
    });
    expect(Object.keys(out)).toEqual(['model', 'future_field', 'messages']);
    expect(body.messages[1].content).toHaveLength(3); // the parsed client body is not mutated
  });
});
