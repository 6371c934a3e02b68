import type { AttemptRecord, CallContext } from '../core/call';
import type { Observer } from '../core/observers';
import type { RoutingTable, Target } from '../core/routes';

/**
 * Label values for metrics, spans and the access log. Every value here comes from configuration
 * or a small fixed set, never from what a client or upstream sends verbatim, so the number of
 * series stays bounded whatever the traffic.
 */

/** Requests that never presented a valid key (401) carry this instead of an ApiKey name. */
export const NO_KEY = 'unauthenticated';
/** A label whose subject does not exist for the request (no route before routing, no upstream before a target). */
export const NONE = 'none';
/** A model name that is not in the configuration. */
export const OTHER = 'other';

export function apiKeyLabel(call: CallContext): string {
  return call.key?.name ?? NO_KEY;
}

export function routeLabel(call: CallContext): string {
  return call.route?.name ?? NONE;
}

/**
 * The target whose reply the client got, else the last one tried (all attempts failed), else the
 * one still being tried (a client that left mid-attempt ends the request before the attempt is
 * recorded), else none.
 */
export function finalTarget(call: CallContext): Target | undefined {
  return call.target ?? call.attempts[call.attempts.length - 1]?.target ?? call.tryingTarget;
}

/** Notes the target of each attempt as it starts, for finalTarget(). Added before the other telemetry observers. */
export const targetTracker: Observer = {
  attemptStart(call, target) {
    call.tryingTarget = target;
  },
};

export function providerLabel(call: CallContext): string {
  return finalTarget(call)?.provider ?? NONE;
}

// Model names, aliases and upstream model ids of one routing table, built once per table.
const configuredModels = new WeakMap<RoutingTable, Set<string>>();

function modelsOf(table: RoutingTable): Set<string> {
  let set = configuredModels.get(table);
  if (!set) {
    set = new Set();
    for (const r of table.snapshot.routes) {
      set.add(r.model);
      for (const a of r.aliases) set.add(a);
      for (const t of r.targets) set.add(t.model);
    }
    configuredModels.set(table, set);
  }
  return set;
}

/** A model name as a label: configured names pass, anything else is `other`, no model at all is `none`. */
export function modelLabel(call: CallContext, model: string | undefined): string {
  if (model === undefined) return NONE;
  const table = call.table;
  return table && modelsOf(table).has(model) ? model : OTHER;
}

/** Whether the request is one the token/cost/GenAI series describe: an authenticated Messages call. */
export function isChat(call: CallContext): boolean {
  return call.endpoint === 'messages';
}

/** Base-URL probes (GET/HEAD /) are liveness checks, not API traffic: no metrics, span or access-log line. */
export function isProbe(call: CallContext): boolean {
  return call.endpoint === 'probe' || call.http?.path === '/';
}

const ERROR_TYPES = new Set([
  'invalid_request_error',
  'authentication_error',
  'billing_error',
  'permission_error',
  'not_found_error',
  'request_too_large',
  'rate_limit_error',
  'api_error',
  'timeout_error',
  'overloaded_error',
]);

/**
 * The request's error type, if it failed: Anthropic's error types (a fixed set), `cancelled` when
 * the client left, `client_stalled` when the gateway cut off a client that stopped reading, `_OTHER` (the OpenTelemetry fallback value) for anything an upstream invented.
 */
export function errorTypeOf(call: CallContext): string | undefined {
  if (call.clientStalled) return 'client_stalled';
  if (call.errorType) return ERROR_TYPES.has(call.errorType) ? call.errorType : '_OTHER';
  if (call.clientAborted) return 'cancelled';
  if (call.status >= 400) return '_OTHER';
  return undefined;
}

/** Outcome of one upstream attempt: ok, the status class of an error reply, or the transport failure. */
export function attemptOutcome(a: AttemptRecord): string {
  if (a.outcome === 'ok') return 'ok';
  if (a.outcome === 'failure') return a.failure ?? 'network';
  const s = a.status ?? 0;
  if (s === 429) return '429';
  return s >= 500 ? '5xx' : '4xx';
}

/** OpenTelemetry's `gen_ai.provider.name` values for our provider adapters. */
export function genAiProvider(provider: string | undefined): string {
  switch (provider) {
    case 'anthropic':
      return 'anthropic';
    case 'openai':
      return 'openai';
    case 'gemini':
      return 'gcp.gemini';
    case 'bedrock':
      return 'aws.bedrock';
    default:
      return provider ?? NONE;
  }
}
