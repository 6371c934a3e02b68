import { inventToolId, messageId, toAnthropicToolId } from './ids';
import { parseArguments } from './json-tail';
import type { ChatCompletion, Usage } from './wire';

export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

export interface StopInfo {
  stop_reason: string;
  stop_sequence: string | null;
}

/** What a translation needs to know about the request besides the upstream's answer. */
export interface ReplyContext {
  /** Upstream model id, for when the upstream does not say (Azure's first chunks). */
  model: string;
  /** The client's stop_sequences, to recognise which one ended the answer. */
  stops: string[];
}

/**
 * OpenAI usage as Anthropic usage. OpenAI's prompt_tokens include cached (and cache-written)
 * tokens; Anthropic counts them apart, with input + cache_creation + cache_read = the prompt.
 * completion_tokens include reasoning tokens, as Anthropic's output_tokens include thinking.
 */
export function toUsage(u: Usage | null | undefined): AnthropicUsage {
  const prompt = num(u?.prompt_tokens);
  const cached = num(u?.prompt_tokens_details?.cached_tokens ?? u?.prompt_cache_hit_tokens);
  const written = num(u?.prompt_tokens_details?.cache_write_tokens);
  return {
    input_tokens: Math.max(0, prompt - cached - written),
    output_tokens: num(u?.completion_tokens),
    cache_creation_input_tokens: written,
    cache_read_input_tokens: cached,
  };
}

/**
 * finish_reason as stop_reason. Any tool call means tool_use, because OpenAI reports `stop` when a
 * named tool_choice forced the call. OpenAI never says which stop string matched; vLLM does
 * (`stop_reason` on the choice), and only then can `stop_sequence` be reported.
 */
export function toStop(finish: unknown, sawToolCall: boolean, matched: unknown, ctx: ReplyContext): StopInfo {
  if (finish === 'length') return { stop_reason: 'max_tokens', stop_sequence: null };
  if (finish === 'content_filter') return { stop_reason: 'refusal', stop_sequence: null };
  if (sawToolCall || finish === 'tool_calls' || finish === 'function_call') return { stop_reason: 'tool_use', stop_sequence: null };
  if (typeof matched === 'string' && ctx.stops.includes(matched)) return { stop_reason: 'stop_sequence', stop_sequence: matched };
  return { stop_reason: 'end_turn', stop_sequence: null };
}

/** Text of a message field that is a string or (some servers) an array of text parts. */
export function textOf(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map((p: any) => (typeof p?.text === 'string' ? p.text : '')).join('');
  return '';
}

/** Tool-call arguments: a JSON string per the spec, though some servers send the object itself. */
export const argumentsOf = (a: unknown): string => (typeof a === 'string' ? a : a && typeof a === 'object' ? JSON.stringify(a) : '');

/** Reasoning text from whichever field the server uses. */
export const reasoningOf = (m: any): string => textOf(m?.reasoning ?? m?.reasoning_content);

/** The first choice, wherever it sits (Azure may put filter-only entries around it). */
export function firstChoice(choices: unknown): any {
  if (!Array.isArray(choices)) return undefined;
  return choices.find((c: any) => (c?.index ?? 0) === 0) ?? choices[0];
}

/** A finish_reason that means the upstream gave up mid-answer (vLLM, SGLang), not an answer. */
export const isFailedFinish = (f: unknown) => f === 'error' || f === 'abort';

/** A non-streaming chat.completion as an Anthropic Message. Block order: thinking, text, tool calls (as a stream would produce). */
export function toMessage(completion: ChatCompletion, ctx: ReplyContext): Record<string, any> {
  const choice = firstChoice(completion?.choices);
  const m = choice?.message ?? {};
  const content: any[] = [];
  const reasoning = reasoningOf(m);
  if (reasoning) content.push({ type: 'thinking', thinking: reasoning, signature: '' });
  const text = textOf(m.content) + textOf(m.refusal);
  if (text) content.push({ type: 'text', text });
  const calls: any[] = Array.isArray(m.tool_calls) ? m.tool_calls : [];
  calls.forEach((c, i) => {
    if (!c?.function?.name) return;
    const id = typeof c.id === 'string' && c.id ? toAnthropicToolId(c.id) : inventToolId(String(completion?.id ?? ''), i);
    content.push({ type: 'tool_use', id, name: c.function.name, input: parseArguments(argumentsOf(c.function.arguments)) });
  });
  const stop =
    textOf(m.refusal) && choice?.finish_reason === 'stop'
      ? { stop_reason: 'refusal', stop_sequence: null }
      : toStop(
          choice?.finish_reason,
          content.some((b) => b.type === 'tool_use'),
          choice?.stop_reason,
          ctx,
        );
  return {
    id: messageId(completion?.id),
    type: 'message',
    role: 'assistant',
    model: typeof completion?.model === 'string' && completion.model ? completion.model : ctx.model,
    content,
    ...stop,
    stop_details: null,
    usage: toUsage(completion?.usage),
  };
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}
