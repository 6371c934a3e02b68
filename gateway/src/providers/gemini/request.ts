import { toGenerationConfig } from './config';
import { toContents } from './contents';
import { TranslationError } from '../translation-error';
import type { GeminiOptions } from './options';
import { toToolConfig, toTools } from './tools';
import type { GenerateContentRequest, Part } from './wire';

export interface RequestContext {
  /** Upstream model id (the target's). */
  model: string;
  options: GeminiOptions;
}

/** An Anthropic Messages request → a generateContent body. Throws TranslationError (→ 400). */
export function toGenerateContent(body: any, ctx: RequestContext): GenerateContentRequest {
  const { contents, system } = toContents(body.messages, { model: ctx.model, signatureBypass: ctx.options.signatureBypass });
  if (contents.length === 0) throw new TranslationError('messages: nothing to send to Gemini (every message is empty)');
  const out: GenerateContentRequest = { contents };
  const instruction = systemParts(body.system, system);
  if (instruction.length) out.systemInstruction = { parts: instruction };
  Object.assign(out, toTools(body.tools, ctx.options), toToolConfig(body.tool_choice, body.tools), toGenerationConfig(body, ctx.model, ctx.options));
  return out;
}

/**
 * count_tokens → countTokens. The `generateContentRequest` wrapper is the form that counts the
 * system instruction and tools too (a bare `contents` body counts only the messages).
 */
export function toCountTokens(body: any, ctx: RequestContext): { generateContentRequest: GenerateContentRequest & { model: string } } {
  const { generationConfig: _omit, safetySettings: _unused, ...rest } = toGenerateContent({ ...body, max_tokens: undefined }, ctx);
  return { generateContentRequest: { model: modelPath(ctx.model), ...rest } };
}

/** `models/<id>` unless the id already names its collection (`tunedModels/…`). */
export function modelPath(model: string): string {
  return model.includes('/') ? model : `models/${model}`;
}

function systemParts(system: unknown, fromMessages: string[]): Part[] {
  const texts: string[] = typeof system === 'string' ? [system] : Array.isArray(system) ? system.filter((b) => b?.type === 'text').map((b) => b.text) : [];
  return [...texts, ...fromMessages].filter((t) => typeof t === 'string' && t !== '').map((text) => ({ text }));
}
