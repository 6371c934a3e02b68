import { TranslationError } from '../translation-error';

/** `tools`, `tool_choice` and `parallel_tool_calls` for the Chat Completions body (empty when the client sent no tools). */
export function toChatTools(tools: unknown, choice: any): Record<string, unknown> {
  if (!Array.isArray(tools) || tools.length === 0) return {};
  const out: Record<string, unknown> = { tools: tools.map(toFunction) };
  if (!choice) return out;
  switch (choice.type) {
    case 'auto':
      out.tool_choice = 'auto';
      break;
    case 'any':
      out.tool_choice = 'required';
      break;
    case 'tool':
      out.tool_choice = { type: 'function', function: { name: choice.name } };
      break;
    case 'none':
      out.tool_choice = 'none';
      break;
  }
  if (choice.disable_parallel_tool_use === true && choice.type !== 'none') out.parallel_tool_calls = false;
  return out;
}

function toFunction(t: any, i: number): unknown {
  if (t.type !== undefined && t.type !== 'custom') {
    throw new TranslationError(
      `tools.${i}: '${t.name}' (${t.type}) is an Anthropic-defined tool, which an OpenAI-compatible target cannot run; ` +
        'declare it as a custom tool with an input_schema, remove it, or route this model to an Anthropic target',
    );
  }
  // `$schema` names the dialect only; some compatible servers reject unknown top-level keys.
  const { $schema: _dialect, ...parameters } = t.input_schema ?? { type: 'object' };
  const fn: Record<string, unknown> = { name: t.name, parameters };
  if (typeof t.description === 'string' && t.description) fn.description = t.description;
  // Anthropic's `strict` is not forwarded: OpenAI's strict mode demands schema shapes
  // (additionalProperties:false, every property required) that Anthropic schemas rarely have.
  return { type: 'function', function: fn };
}
