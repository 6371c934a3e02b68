import { readFileSync } from 'node:fs';
import { UsageError } from './args';

/** A Messages request body without `model`; the runner adds each model in turn. */
export type PromptBody = Record<string, unknown> & { messages: unknown[] };

/**
 * Reads prompts JSONL: each line is a Messages body (its `model`, if any, is dropped so every
 * model sees the same request) or `{"prompt": "..."}` shorthand for one user turn.
 */
export function loadPrompts(file: string, maxTokens: number): PromptBody[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--prompts: ${(err as Error).message}`);
  }
  const out: PromptBody[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (err) {
      throw new UsageError(`${file}:${i + 1}: not JSON (${(err as Error).message})`);
    }
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new UsageError(`${file}:${i + 1}: expected a JSON object`);
    const o = obj as Record<string, unknown>;
    let body: Record<string, unknown>;
    if (typeof o.prompt === 'string' && o.messages === undefined) {
      const { prompt, ...rest } = o;
      body = { ...rest, messages: [{ role: 'user', content: prompt }] };
    } else if (Array.isArray(o.messages)) {
      const { model: _model, ...rest } = o;
      body = rest;
    } else {
      throw new UsageError(`${file}:${i + 1}: needs "messages" (a Messages body) or "prompt" (a string)`);
    }
    if (body.max_tokens === undefined) body.max_tokens = maxTokens;
    out.push(body as PromptBody);
  });
  if (!out.length) throw new UsageError(`${file}: no prompts`);
  return out;
}

/** A short one-line label for tables and reports: the last user text. */
export function promptLabel(body: PromptBody): string {
  const msgs = body.messages as Array<{ role?: string; content?: unknown }>;
  const last = [...msgs].reverse().find((m) => m?.role === 'user') ?? msgs[msgs.length - 1];
  const c = last?.content;
  const text = typeof c === 'string' ? c : Array.isArray(c) ? c.map((b: any) => (b?.type === 'text' ? b.text : `[${b?.type}]`)).join(' ') : '';
  return text;
}
