/**
 * Target `options` of the cloud Claude providers. Both clouds refuse what they do not know (a beta,
 * a newer field) with a 400, so what is forwarded and what is stripped are lists an operator can
 * change without a new gateway build; `compile()` rejects a misspelt option rather than ignore it.
 */
export interface CloudOptions {
  /** Betas forwarded from the client's `anthropic-beta` (an entry ending in `*` is a prefix). Unset: the provider's default list. */
  betas?: readonly string[];
  /** Dot paths of request fields to strip (`[]` walks an array). Unset: the provider's default list. */
  dropFields?: readonly string[];
  /** Vertex AI: the model's publisher; unset, `google` for `gemini-*` models, else `anthropic`. */
  publisher?: 'anthropic' | 'google';
}

type Raw = Record<string, unknown> | undefined;

const LISTS = ['betas', 'dropFields'] as const;
const MAX_ENTRIES = 64;

/** Problems with a `bedrock` or `vertex` target's options, each `key: message`; empty when they are fine. */
export function checkCloudOptions(provider: 'bedrock' | 'vertex', raw: Raw): string[] {
  const errors: string[] = [];
  for (const [k, v] of Object.entries(raw ?? {})) {
    if ((LISTS as readonly string[]).includes(k)) {
      if (!Array.isArray(v) || v.length > MAX_ENTRIES || !v.every((e) => typeof e === 'string' && e.length > 0 && e.length <= 256))
        errors.push(`${k}: must be a list of at most ${MAX_ENTRIES} non-empty strings`);
    } else if (k === 'publisher' && provider === 'vertex') {
      if (v !== 'anthropic' && v !== 'google') errors.push(`${k}: must be one of anthropic, google`);
    } else {
      errors.push(`${k}: unknown option for provider ${provider}`);
    }
  }
  return errors;
}

/** Reads options leniently (the compiler has already rejected bad ones). */
export function readCloudOptions(raw: Raw): CloudOptions {
  const o = raw ?? {};
  const list = (k: string) => (Array.isArray(o[k]) && (o[k] as unknown[]).every((e) => typeof e === 'string') ? (o[k] as string[]) : undefined);
  const out: CloudOptions = {};
  const betas = list('betas');
  const drop = list('dropFields');
  if (betas) out.betas = betas;
  if (drop) out.dropFields = drop;
  if (o.publisher === 'anthropic' || o.publisher === 'google') out.publisher = o.publisher;
  return out;
}

/** Which Vertex publisher serves a target's model. */
export function vertexPublisher(model: string, options: CloudOptions): 'anthropic' | 'google' {
  return options.publisher ?? (/^gemini-/.test(model) ? 'google' : 'anthropic');
}
