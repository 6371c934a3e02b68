import { isGeminiSignature } from '../gemini/ids';

/**
 * Thinking blocks that another provider's translation produced: OpenAI-compatible reasoning comes
 * back with an empty signature, Gemini thoughts with a `gemini1.` wrapper. Anthropic checks every
 * signature it is sent and refuses the whole request over one it did not issue, so a conversation
 * that moves to an Anthropic target (a fallback, or a client switching models mid-session) would
 * fail on its own history. Those blocks are dropped on the way to Anthropic, as the OpenAI and
 * Gemini translators drop signatures that are not theirs; the reasoning text was never something
 * Anthropic could have used.
 */
export function isForeignThinking(block: unknown): boolean {
  if (!block || typeof block !== 'object') return false;
  const b = block as { type?: unknown; signature?: unknown };
  return b.type === 'thinking' && (b.signature === '' || isGeminiSignature(b.signature));
}

/** The request body without foreign thinking blocks, or undefined when it has none (the common case). */
export function withoutForeignThinking(body: Record<string, any>): Record<string, any> | undefined {
  const messages = body.messages;
  if (!Array.isArray(messages)) return undefined;
  let changed = false;
  const kept: unknown[] = [];
  for (const m of messages) {
    if (!m || m.role !== 'assistant' || !Array.isArray(m.content) || !m.content.some(isForeignThinking)) {
      kept.push(m);
      continue;
    }
    changed = true;
    const content = m.content.filter((b: unknown) => !isForeignThinking(b));
    // An assistant turn that was only reasoning has nothing left to say; an empty one is refused.
    if (content.length > 0) kept.push({ ...m, content });
  }
  return changed ? { ...body, messages: kept } : undefined;
}
