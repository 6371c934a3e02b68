/**
 * The one redaction policy for upstream text that can reach a client (error bodies passed through
 * or translated, non-JSON error snippets, mid-stream `error` events, failure messages). Upstreams
 * and proxies in front of them echo what they received ("Incorrect API key provided:
 * sk-proj-****abcd", a debug page dumping request headers), and what they received includes the
 * gateway's own credentials for the target.
 *
 * Redacted, each as `[redacted]`:
 * - every secret the target sends (its API key, each configured header value and each
 *   whitespace-separated word of it, so `Bearer X` yields X) of at least MIN_SECRET characters;
 * - masked forms of those secrets: a word with a mask run (`**`, `...`, `…`) whose visible head
 *   (4+ characters) starts a secret or whose visible tail (4+ characters) ends one;
 * - generic credential shapes, whoever's they are: `sk-…` (OpenAI, `sk-ant-…` Anthropic),
 *   `AIza…` (Google API keys), `ya29.…` (Google OAuth access tokens), and the token after `Bearer`;
 * - credentials fetched at run time for the target (rememberSecret).
 */
const MIN_SECRET = 8;
const MIN_VISIBLE = 4;
const REDACTED = '[redacted]';

const MASKED = /([A-Za-z0-9_-]*)(?:\*{2,}|\.{3,}|…)+([A-Za-z0-9_-]*)/g;
const GENERIC = /\bsk-[A-Za-z0-9_*.-]{3,}|\bAIza[0-9A-Za-z_-]{10,}|\bya29\.[A-Za-z0-9_.-]{10,}/g;
const BEARER = /\b(Bearer\s+)[A-Za-z0-9._~+/=-]{4,}/gi;

export interface SecretHolder {
  apiKey?: string;
  headers?: Record<string, string>;
  aws?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  googleServiceAccount?: string;
}

// Targets are immutable once compiled into a table, so their secrets are worked out once.
const cache = new WeakMap<SecretHolder, readonly string[]>();

/** The credentials a target sends upstream, each long enough to redact without mangling ordinary words. */
export function secretsOf(target: SecretHolder | undefined): readonly string[] {
  if (!target) return [];
  let known = cache.get(target);
  if (!known) cache.set(target, (known = collect(target)));
  return known;
}

// Credentials fetched at run time (OAuth access tokens), per target, newest first.
const live = new WeakMap<SecretHolder, string[]>();
const MAX_LIVE = 4;

/**
 * A credential the gateway fetched for a target at run time (a Google OAuth access token), so an
 * upstream echoing it is redacted like a configured one. The last few are kept: a request sent
 * with the previous token may be answered after the next one was fetched.
 */
export function rememberSecret(target: SecretHolder, value: string): void {
  if (value.length < MIN_SECRET || secretsOf(target).includes(value)) return;
  const tokens = [value, ...(live.get(target) ?? [])].slice(0, MAX_LIVE);
  live.set(target, tokens);
  cache.set(
    target,
    [...new Set([...collect(target), ...tokens])].sort((a, b) => b.length - a.length),
  );
}

function collect(target: SecretHolder): string[] {
  const out = new Set<string>();
  const add = (s: string | undefined) => {
    if (typeof s === 'string' && s.length >= MIN_SECRET) out.add(s);
  };
  add(target.apiKey);
  add(target.aws?.accessKeyId);
  add(target.aws?.secretAccessKey);
  add(target.aws?.sessionToken);
  for (const v of googleKeyParts(target.googleServiceAccount)) add(v);
  for (const v of Object.values(target.headers ?? {})) {
    add(v);
    for (const word of String(v).split(/\s+/)) add(word);
  }
  // Longest first, so a secret that contains another is replaced whole.
  return [...out].sort((a, b) => b.length - a.length);
}

/** The secret parts of a service-account JSON key: the private key (whole and per PEM line), its id. */
function googleKeyParts(json: string | undefined): string[] {
  if (!json) return [];
  try {
    const key = JSON.parse(json);
    const pem = typeof key.private_key === 'string' ? key.private_key : '';
    const lines = pem.split(/\r?\n/).filter((l: string) => l && !l.startsWith('-----'));
    return [pem, typeof key.private_key_id === 'string' ? key.private_key_id : '', ...lines];
  } catch {
    return [json];
  }
}

/** `text` with every secret of `secrets` (see secretsOf), their masked forms and generic key shapes replaced. */
export function redact(text: string, secrets: readonly string[]): string {
  let t = text;
  for (const s of secrets) if (s.length >= MIN_SECRET && t.includes(s)) t = t.split(s).join(REDACTED);
  if (secrets.length) {
    t = t.replace(MASKED, (whole, head: string, tail: string) =>
      secrets.some((s) => (head.length >= MIN_VISIBLE && s.startsWith(head)) || (tail.length >= MIN_VISIBLE && s.endsWith(tail))) ? REDACTED : whole,
    );
  }
  return t.replace(GENERIC, REDACTED).replace(BEARER, `$1${REDACTED}`);
}

/** Redacts raw JSON bytes; the same buffer comes back when there was nothing to redact (the common case). */
export function redactJson(raw: Buffer, secrets: readonly string[]): Buffer {
  const text = raw.toString('utf8');
  const out = redact(text, secrets);
  return out === text ? raw : Buffer.from(out);
}

/** Upstream header values relayed to the client (an upstream request id can be anything the upstream chose), redacted likewise. */
export function redactHeaders(headers: Record<string, string>, secrets: readonly string[]): Record<string, string> {
  let out: Record<string, string> | undefined;
  for (const k in headers) {
    const v = headers[k];
    const clean = redact(v, secrets);
    if (clean !== v) (out ??= { ...headers })[k] = clean;
  }
  return out ?? headers;
}
