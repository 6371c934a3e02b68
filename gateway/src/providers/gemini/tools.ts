import { TranslationError } from '../translation-error';
import type { GeminiOptions } from './options';
import { toGeminiSchema } from './schema';
import type { FunctionDeclaration, GenerateContentRequest } from './wire';

/**
 * Anthropic `tools` / `tool_choice` → Gemini function declarations and functionCallingConfig.
 * Anthropic-defined tools (`type` other than "custom": web_search, code_execution, bash, computer…)
 * are run by Anthropic or need schemas only Anthropic knows, so they are refused rather than
 * silently dropped. `disable_parallel_tool_use` has no Gemini equivalent and is ignored: Gemini
 * may still answer with several calls, each of which becomes its own tool_use block.
 */
export function toTools(tools: unknown, opts: Pick<GeminiOptions, 'toolSchema'>): Pick<GenerateContentRequest, 'tools'> {
  if (!Array.isArray(tools) || tools.length === 0) return {};
  const declarations = tools.map((tool: any, i): FunctionDeclaration => {
    if (tool.type !== undefined && tool.type !== 'custom') {
      throw new TranslationError(
        `tools.${i}: '${tool.type}' (${tool.name}) is an Anthropic-defined tool that a Gemini model cannot run; only custom tools (name, description, input_schema) can be routed to Gemini`,
      );
    }
    const decl: FunctionDeclaration = { name: tool.name };
    if (typeof tool.description === 'string' && tool.description) decl.description = tool.description;
    const schema = toGeminiSchema(tool.input_schema, opts.toolSchema);
    if (schema) decl[opts.toolSchema === 'openapi' ? 'parameters' : 'parametersJsonSchema'] = schema;
    return decl;
  });
  return { tools: [{ functionDeclarations: declarations }] };
}

export function toToolConfig(choice: any, tools: unknown): Pick<GenerateContentRequest, 'toolConfig'> {
  if (!choice || !Array.isArray(tools) || tools.length === 0) return {};
  switch (choice.type) {
    case 'auto':
      return { toolConfig: { functionCallingConfig: { mode: 'AUTO' } } };
    case 'any':
      return { toolConfig: { functionCallingConfig: { mode: 'ANY' } } };
    case 'none':
      return { toolConfig: { functionCallingConfig: { mode: 'NONE' } } };
    case 'tool':
      if (!tools.some((t: any) => t.name === choice.name)) throw new TranslationError(`tool_choice.name: no tool named '${choice.name}' is defined`);
      return { toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: [choice.name] } } };
    default:
      return {};
  }
}
