import { systemText, toolResultContent, userParts, type Part } from './content';
import { TranslationError } from '../translation-error';
import { toUpstreamToolId } from './ids';
import type { OpenAIOptions } from './options';
import type { ChatMessage as WireMessage } from './wire';

/** A message while it is being built; toChatMessages hands them on as wire messages. */
export type ChatMessage = Record<string, any> & { role: string };

interface Turn {
  role: string;
  /** Blocks with the path of each in the client's body, so errors point at what the client sent. */
  blocks: Array<{ b: any; path: string }>;
  /** For system turns: the raw content. */
  content?: unknown;
  path: string;
}

/** The system prompt and the conversation as Chat Completions messages. */
export function toChatMessages(system: unknown, messages: any[], opts: OpenAIOptions): WireMessage[] {
  const out: ChatMessage[] = [];
  const sys = system === undefined ? '' : systemText(system, 'system');
  if (sys) out.push({ role: opts.systemRole, content: sys });
  for (const turn of mergeTurns(messages)) {
    switch (turn.role) {
      case 'system': {
        // Mid-conversation system messages (Claude Code sends them) stay where they are.
        const text = systemText(turn.content, `${turn.path}.content`);
        if (text) out.push({ role: opts.systemRole, content: text });
        break;
      }
      case 'user':
        userTurn(turn, opts, out);
        break;
      case 'assistant':
        out.push(assistantTurn(turn, opts));
        break;
      default:
        throw new TranslationError(`${turn.path}.role: '${turn.role}' is not a role an OpenAI-compatible target understands`);
    }
  }
  // Built field by field above; every message it builds is one of the wire shapes.
  return out as WireMessage[];
}

/** Anthropic merges consecutive same-role turns; doing the same keeps tool calls and their results adjacent. */
function mergeTurns(messages: any[]): Turn[] {
  const turns: Turn[] = [];
  messages.forEach((m, i) => {
    const path = `messages.${i}`;
    if (m.role === 'system') return void turns.push({ role: 'system', blocks: [], content: m.content, path });
    const blocks =
      typeof m.content === 'string'
        ? [{ b: { type: 'text', text: m.content }, path: `${path}.content` }]
        : (m.content as any[]).map((b, j) => ({ b, path: `${path}.content.${j}` }));
    const prev = turns[turns.length - 1];
    if (prev && prev.role === m.role) prev.blocks.push(...blocks);
    else turns.push({ role: m.role, blocks, path });
  });
  return turns;
}

/**
 * A user turn: one `tool` message per tool_result, first (they must follow the assistant message
 * that made the calls), then whatever else the turn said as one user message.
 */
function userTurn(turn: Turn, opts: OpenAIOptions, out: ChatMessage[]): void {
  const tools: ChatMessage[] = [];
  const attachments: Part[] = [];
  const parts: Part[] = [];
  for (const { b, path } of turn.blocks) {
    if (b?.type === 'tool_result') {
      const { text, extra } = toolResultContent(b, path, opts);
      tools.push({ role: 'tool', tool_call_id: toUpstreamToolId(b.tool_use_id), content: text });
      attachments.push(...extra);
    } else if (b?.type === 'tool_use') {
      throw new TranslationError(`${path}: tool_use blocks belong in assistant turns`);
    } else {
      parts.push(...userParts(b, path, opts));
    }
  }
  if (tools.length) insertAfterCalls(out, tools);
  const all = [...attachments, ...parts];
  if (all.length === 0) return;
  const onlyText = all.length === 1 && all[0].type === 'text';
  out.push({ role: 'user', content: onlyText ? (all[0] as { text: string }).text : all });
}

/**
 * Tool messages go straight after the assistant message with the calls. If a mid-conversation
 * system message sits between the two, the results move ahead of it: every Chat Completions
 * server rejects a tool message that does not follow its calls.
 */
function insertAfterCalls(out: ChatMessage[], tools: ChatMessage[]): void {
  let at = out.length;
  while (at > 0 && (out[at - 1].role === 'system' || out[at - 1].role === 'developer')) at--;
  if (at > 0 && out[at - 1].role === 'assistant' && out[at - 1].tool_calls) out.splice(at, 0, ...tools);
  else out.push(...tools);
}

function assistantTurn(turn: Turn, opts: OpenAIOptions): ChatMessage {
  const texts: string[] = [];
  const reasoning: string[] = [];
  const calls: any[] = [];
  for (const { b, path } of turn.blocks) {
    switch (b?.type) {
      case 'text':
        if (b.text) texts.push(b.text);
        break;
      case 'tool_use':
        calls.push({ id: toUpstreamToolId(b.id), type: 'function', function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) } });
        break;
      case 'thinking':
        // Prior reasoning goes back only in the field the target reads; as plain text it would
        // put the model's private reasoning into what it believes it said.
        if (opts.reasoningField && b.thinking) reasoning.push(b.thinking);
        break;
      case 'redacted_thinking':
        break; // opaque to anyone but Anthropic
      default:
        // Anthropic server-tool turns (server_tool_use, web_search_tool_result, …) ran on
        // Anthropic's side and have nothing a Chat Completions model could use.
        if (
          typeof b?.type === 'string' &&
          (b.type.startsWith('server_tool') || b.type.endsWith('_tool_result') || b.type.startsWith('mcp_') || b.type === 'container_upload')
        )
          break;
        throw new TranslationError(`${path}: content block type '${b?.type}' cannot be sent to an OpenAI-compatible target in an assistant turn`);
    }
  }
  const msg: ChatMessage = { role: 'assistant', content: texts.length ? texts.join('\n\n') : calls.length ? null : '' };
  if (calls.length) msg.tool_calls = calls;
  if (reasoning.length && opts.reasoningField) msg[opts.reasoningField] = reasoning.join('');
  return msg;
}
