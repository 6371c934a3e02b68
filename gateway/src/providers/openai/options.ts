/**
 * Target `options` for OpenAI-compatible upstreams. Servers that speak "the OpenAI API" disagree
 * on details (which max-tokens field, whether reasoning is accepted or echoed, whether PDFs work),
 * so each difference is a switch here rather than a guess from the base URL. README section
 * "OpenAI-compatible targets" documents every one.
 */
export interface OpenAIOptions {
  /** `max_completion_tokens` (OpenAI today) or `max_tokens` (Ollama, older servers). */
  maxTokensField: 'max_completion_tokens' | 'max_tokens';
  /** Clamp for the client's max_tokens: Claude Code asks for 32k–64k, more than many models allow. */
  maxOutputTokens?: number;
  /** Forward `top_k` (vLLM, Ollama, llama.cpp accept it; OpenAI rejects it). */
  topK: boolean;
  /** Role for the system prompt and mid-conversation system messages. */
  systemRole: 'system' | 'developer';
  /** Send `reasoning_effort` derived from `thinking` / `output_config.effort`; off for non-reasoning models, which reject it. */
  reasoningEffort: boolean;
  /** Assistant-message field that carries prior `thinking` back upstream, or none (thinking is then dropped). */
  reasoningField?: 'reasoning_content' | 'reasoning';
  /** Whether the target accepts `file` parts with PDF data. */
  pdf: boolean;
  /** Whether the target accepts `image_url` parts at all. */
  images: boolean;
  /** Where `metadata.user_id` goes. */
  userField?: 'user' | 'safety_identifier';
  /** Azure OpenAI: a dated api-version selects the deployment URL; `azure` alone selects the v1 API. */
  azureApiVersion?: string;
  azure: boolean;
  /** tiktoken encoding for count_tokens; chosen from the model name when unset. */
  tokenizer?: 'o200k_base' | 'cl100k_base';
}

type Raw = Record<string, unknown> | undefined;

const CHOICES = {
  maxTokensField: ['max_completion_tokens', 'max_tokens'],
  systemRole: ['system', 'developer'],
  reasoningField: ['reasoning_content', 'reasoning', 'none'],
  userField: ['user', 'safety_identifier', 'none'],
  tokenizer: ['o200k_base', 'cl100k_base'],
} as const;
const BOOLEANS = ['topK', 'reasoningEffort', 'pdf', 'images', 'azure'] as const;

/** Problems with a target's options, each `key: message`; empty when they are fine. */
export function checkOpenAIOptions(raw: Raw): string[] {
  const errors: string[] = [];
  for (const [k, v] of Object.entries(raw ?? {})) {
    if (k in CHOICES) {
      const allowed = CHOICES[k as keyof typeof CHOICES] as readonly string[];
      if (!allowed.includes(String(v))) errors.push(`${k}: must be one of ${allowed.join(', ')}`);
    } else if ((BOOLEANS as readonly string[]).includes(k)) {
      if (typeof v !== 'boolean') errors.push(`${k}: must be true or false`);
    } else if (k === 'maxOutputTokens') {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) errors.push(`${k}: must be a positive integer`);
    } else if (k === 'azureApiVersion') {
      if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}(-preview)?$/.test(v)) errors.push(`${k}: must look like 2024-10-21 or 2025-04-01-preview`);
    } else {
      errors.push(`${k}: unknown option for provider openai`);
    }
  }
  return errors;
}

/** Reads options leniently (the compiler has already rejected bad ones): anything unexpected means the default. */
export function readOptions(raw: Raw): OpenAIOptions {
  const o = raw ?? {};
  const pick = <K extends keyof typeof CHOICES>(k: K): (typeof CHOICES)[K][number] | undefined =>
    (CHOICES[k] as readonly unknown[]).includes(o[k]) ? (o[k] as (typeof CHOICES)[K][number]) : undefined;
  const bool = (k: string, dflt: boolean) => (typeof o[k] === 'boolean' ? (o[k] as boolean) : dflt);
  const reasoningField = pick('reasoningField');
  const userField = pick('userField') ?? 'user';
  const max = o.maxOutputTokens;
  return {
    maxTokensField: pick('maxTokensField') ?? 'max_completion_tokens',
    maxOutputTokens: typeof max === 'number' && max >= 1 ? Math.floor(max) : undefined,
    topK: bool('topK', false),
    systemRole: pick('systemRole') ?? 'system',
    reasoningEffort: bool('reasoningEffort', true),
    reasoningField: reasoningField === 'none' ? undefined : reasoningField,
    pdf: bool('pdf', true),
    images: bool('images', true),
    userField: userField === 'none' ? undefined : userField,
    azureApiVersion: typeof o.azureApiVersion === 'string' && o.azureApiVersion ? o.azureApiVersion : undefined,
    azure: bool('azure', false) || typeof o.azureApiVersion === 'string',
    tokenizer: pick('tokenizer'),
  };
}
