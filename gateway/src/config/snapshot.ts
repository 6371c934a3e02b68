/**
 * The ConfigSnapshot: the one contract between whoever compiles configuration (the operator, or the
 * standalone CLI running the same compile()) and the gateway data plane. Everything a gateway pod
 * needs to serve traffic is in here, secrets resolved, and nothing else.
 */
export type ProviderName = 'anthropic' | 'openai' | 'gemini' | 'bedrock' | 'vertex';
export const PROVIDERS: readonly ProviderName[] = ['anthropic', 'openai', 'gemini', 'bedrock', 'vertex'];

export type RetryCondition = '429' | '5xx' | 'timeout' | 'connect';

export interface Limits {
  requestsPerMinute?: number;
  inputTokensPerMinute?: number;
  outputTokensPerMinute?: number;
  maxConcurrent?: number;
}

/** USD per million tokens. */
export interface Pricing {
  inputPerMTok?: number;
  outputPerMTok?: number;
  cacheReadPerMTok?: number;
  /** Cache writes with the default 5-minute TTL. */
  cacheWritePerMTok?: number;
  /** Cache writes with a 1-hour TTL (Anthropic charges them more); unset: cacheWritePerMTok. */
  cacheWrite1hPerMTok?: number;
}

export interface TargetSnapshot {
  provider: ProviderName;
  /** Upstream model id. */
  model: string;
  baseURL: string;
  /** Upstream credential, resolved from the target's Secret. Never logged. */
  apiKey?: string;
  weight: number;
  /** Lower is tried first; a higher priority is a fallback. */
  priority: number;
  /** Time allowed to connect. */
  connectTimeoutSeconds: number;
  /** Time allowed until the upstream's response headers (first byte). */
  timeoutSeconds: number;
  /** Longest silence allowed between two chunks of a streamed response. */
  idleTimeoutSeconds: number;
  /** Longest whole exchange (request to last byte of the reply); unset: 1800. */
  maxDurationSeconds?: number;
  /** Extra headers for the upstream (e.g. OpenAI-Organization). */
  headers?: Record<string, string>;
  /** Provider-specific knobs (e.g. Azure `apiVersion`, OpenAI `maxTokensField`, Bedrock `betas`). */
  options?: Record<string, string | number | boolean | string[]>;
  /** Cloud region: Bedrock (`us-east-1`) and Vertex AI (`us-east5`, `global`, `us`, `eu`). */
  region?: string;
  /** Vertex AI: the Google Cloud project; unset, the project of the credentials. */
  project?: string;
  /** Bedrock: static AWS keys from the target's Secret. Unset (and no apiKey): the pod's identity. Never logged. */
  aws?: AwsKeys;
  /** Vertex AI: a service-account JSON key from the target's Secret. Unset: Application Default Credentials. Never logged. */
  googleServiceAccount?: string;
  /** Per-target pricing overrides the route's. */
  pricing?: Pricing;
}

export interface AwsKeys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface RouteSnapshot {
  /** `namespace/name` of the ModelRoute. */
  name: string;
  model: string;
  aliases: string[];
  displayName?: string;
  createdAt?: string;
  targets: TargetSnapshot[];
  retry: { attempts: number; on: RetryCondition[] };
  limits?: Limits;
  pricing?: Pricing;
  /** Targets that get a copy of a sample of the route's requests; absent when the route has none. */
  shadows?: ShadowSnapshot[];
}

/** A shadow: a sample of the route's requests also sent to another target, its answers recorded and discarded. */
export interface ShadowSnapshot {
  /** Label-safe, unique in the route: names the shadow in metrics, logs, traces and status. */
  name: string;
  target: TargetSnapshot;
  /** Share of the route's requests, 0 < percent <= 100. */
  percent: number;
  /** `request`: each request drawn at random; `apiKey`: a stable subset of callers (hash of the key's name). */
  sampleBy: 'request' | 'apiKey';
  /** The whole shadow exchange, stream included. */
  timeoutSeconds: number;
  /** Shadows in flight per gateway pod beyond which more are skipped (counted), never queued. */
  maxConcurrent: number;
  /** Hash of the shadow's settings (its credential left out): its counts restart when it changes. */
  revision: string;
}

export interface Budget {
  usd: number;
  period: 'day' | 'week' | 'month';
  timezone?: string;
}

export interface KeySnapshot {
  /** `namespace/name` of the ApiKey. */
  name: string;
  /** Lower-case hex SHA-256 of the client key; the key itself never leaves the operator. Absent when the ApiKey admits ServiceAccounts only. */
  sha256?: string;
  /** ServiceAccounts whose projected tokens this key admits; `name: '*'` is every ServiceAccount of the namespace. */
  serviceAccounts?: ServiceAccountRef[];
  /** Globs over model names and aliases; empty means every model. */
  allowedModels: string[];
  limits?: Limits;
  disabled?: boolean;
  expiresAt?: string;
  budget?: Budget;
}

export interface ServiceAccountRef {
  namespace: string;
  name: string;
}

/** What a gateway needs to verify ServiceAccount tokens offline: the cluster's issuer, the audience, the issuer's public keys. */
export interface ServiceAccountAuth {
  issuer: string;
  audience: string;
  /** A JWK set as the issuer publishes it (`/openid/v1/jwks`). */
  jwks: { keys: Record<string, unknown>[] };
}

export interface ConfigSnapshot {
  /** Content hash of routes and keys: equal versions mean equal configuration. */
  version: string;
  /** Milliseconds since the epoch when the compiler produced it; a gateway ignores older serials. */
  serial: number;
  generatedAt: string;
  /**
   * Ready gateway pods this snapshot was pushed to. A local (per-pod) limit store divides every
   * limit by it so the fleet as a whole holds the configured limit; the Redis store, being
   * global, ignores it.
   */
  gateways?: number;
  routes: RouteSnapshot[];
  keys: KeySnapshot[];
  /** Absent: JWTs are not accepted as credentials. */
  serviceAccountAuth?: ServiceAccountAuth;
}
