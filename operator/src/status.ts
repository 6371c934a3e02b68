import { budgetCondition, usageStatus, type StatusUsage } from './budget';
import type { ObjectResult } from '../../gateway/src/config/compile';
import type { Kind } from '../../gateway/src/config/crd-schema';
import type { K8sObject } from '../../gateway/src/config/k8s-object';
import type { FleetShadowCounts, FleetUsage } from './usage';

/**
 * The status the operator wants on each ModelRoute and ApiKey, as pure functions of what it
 * knows: the compile result and how many ready gateways run a configuration containing the
 * object. Conditions follow metav1.Condition and the Gateway API's Accepted/Programmed split.
 */
export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export interface SyncView {
  /** Ready gateway pods running a configuration that contains this object as it is now. */
  synced: number;
  /** Ready gateway pods. */
  total: number;
  /** Why some ready pods don't run it yet ("pod x: connection refused"), empty while a push is merely in flight. */
  failures: string[];
  /** Where the gateway pods come from, for messages. */
  service: string;
}

/** The fields of `status` this operator owns (usage: ApiKeys only); anything else belongs to someone else. */
export const OWNED_FIELDS = ['observedGeneration', 'gateways', 'targets', 'activeShadows', 'shadows', 'usage', 'conditions'] as const;
const OWN_CONDITIONS: Record<Kind, string[]> = { ModelRoute: ['Accepted', 'Programmed', 'Priced'], ApiKey: ['Accepted', 'Programmed', 'BudgetExceeded'] };

/** ApiKeys: the fleet's usage as last read from the gateways, and how often to refresh `usage.updatedAt`. */
export interface UsageView {
  usage?: FleetUsage;
  /** ModelRoutes: the fleet's counts of one shadow revision, as read from the gateways. */
  shadow?: ShadowCountsOf;
  refreshMs: number;
}

export type ShadowCountsOf = (route: string, name: string, revision: string) => FleetShadowCounts | undefined;

/** Condition messages are for humans and bounded (metav1 allows 32 KiB; kubectl shows far less). */
const MAX_MESSAGE = 4096;

export function desiredStatus(obj: K8sObject, result: ObjectResult, sync: SyncView, now: Date, view?: UsageView): Record<string, unknown> {
  const generation = obj.metadata.generation;
  const current: Condition[] = Array.isArray(obj.status?.conditions) ? obj.status.conditions : [];
  const stamp = rfc3339(now);
  const wanted: Array<Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>> = [
    result.accepted
      ? { type: 'Accepted', status: 'True', reason: 'Accepted', message: result.message }
      : { type: 'Accepted', status: 'False', reason: result.reason, message: result.message },
    programmed(result, sync),
  ];
  if (result.kind === 'ModelRoute') {
    wanted.push(
      !result.accepted
        ? { type: 'Priced', status: 'Unknown', reason: 'NotAccepted', message: 'pricing is checked once the route is accepted' }
        : result.priced
          ? { type: 'Priced', status: 'True', reason: 'Priced', message: 'every target has a price, so cost metrics and budgets count this route' }
          : {
              type: 'Priced',
              status: 'False',
              reason: 'NotPriced',
              message: "some targets have no pricing (spec.pricing or the target's pricing): cost metrics and budgets count their tokens as free",
            },
    );
  }
  let usage: StatusUsage | undefined;
  /** Conditions of ours left exactly as they are. */
  const keep = new Set<string>();
  if (result.kind === 'ApiKey') {
    if (result.accepted) {
      usage = usageStatus(obj.status?.usage, view?.usage, now, view?.refreshMs ?? Infinity, stamp);
      const budget = budgetCondition(obj.spec?.budget, usage);
      if (budget) wanted.push(budget);
    } else {
      // Not on any gateway: nothing new to say about its spend.
      usage = obj.status?.usage;
      keep.add('BudgetExceeded');
    }
  }
  const made = new Map(
    wanted.map((w) => {
      const prev = current.find((c) => c.type === w.type);
      const c: Condition = {
        type: w.type,
        status: w.status,
        observedGeneration: generation,
        lastTransitionTime: prev && prev.status === w.status && prev.lastTransitionTime ? prev.lastTransitionTime : stamp,
        reason: w.reason,
        message: truncate(w.message),
      };
      if (generation === undefined) delete c.observedGeneration;
      return [w.type, c] as const;
    }),
  );
  // Keep other owners' condition types where they are; ours replace theirs in place or go last.
  const own = OWN_CONDITIONS[result.kind];
  const conditions: Condition[] = current.filter((c) => !own.includes(c.type) || made.has(c.type) || keep.has(c.type)).map((c) => made.get(c.type) ?? c);
  for (const [type, c] of made) if (!conditions.some((x) => x.type === type)) conditions.push(c);

  const status: Record<string, unknown> = { observedGeneration: generation, gateways: `${result.accepted ? sync.synced : 0}/${sync.total}` };
  if (generation === undefined) delete status.observedGeneration;
  if (result.kind === 'ModelRoute') {
    status.targets = targetsSummary(obj.spec?.targets);
    Object.assign(status, shadowsStatus(obj, result, view));
  }
  if (usage) status.usage = usage;
  status.conditions = conditions;
  return status;
}

/**
 * `activeShadows` (the printer column) and per shadow its counts since its settings last changed.
 * A route that is not accepted runs no shadow; its last counts stay as they were. A route that
 * drops its shadows drops the list (null deletes it in the merge patch).
 */
function shadowsStatus(obj: K8sObject, result: ObjectResult, view: UsageView | undefined): Record<string, unknown> {
  if (!result.accepted) return { activeShadows: 0, ...(obj.status?.shadows ? { shadows: obj.status.shadows } : {}) };
  const list = result.shadows ?? [];
  if (!list.length) return { activeShadows: 0, ...(obj.status?.shadows ? { shadows: null } : {}) };
  const shadows = list.map((s) => ({ name: s.name, sampled: 0, completed: 0, failed: 0, skipped: 0, ...view?.shadow?.(result.key, s.name, s.revision) }));
  return { activeShadows: list.length, shadows };
}

function programmed(result: ObjectResult, sync: SyncView): Omit<Condition, 'lastTransitionTime' | 'observedGeneration'> {
  if (!result.accepted)
    return {
      type: 'Programmed',
      status: 'False',
      reason: 'Invalid',
      message: 'not pushed to any gateway because it is not accepted (see the Accepted condition)',
    };
  if (sync.total === 0)
    return { type: 'Programmed', status: 'False', reason: 'NoReadyGateways', message: `no ready gateway pods behind Service ${sync.service}` };
  const on = `running on ${sync.synced} of ${sync.total} ready gateway pod(s)`;
  if (sync.synced >= sync.total) return { type: 'Programmed', status: 'True', reason: 'Programmed', message: on };
  if (sync.failures.length) return { type: 'Programmed', status: 'False', reason: 'PushFailed', message: `${on}; ${sync.failures.slice(0, 5).join('; ')}` };
  return { type: 'Programmed', status: 'Unknown', reason: 'Pending', message: `${on}; pushing to the others` };
}

/** `anthropic/claude-x, openai/gpt-4.1 (fallback)`: what kubectl shows in the Targets column. */
export function targetsSummary(targets: unknown): string {
  if (!Array.isArray(targets)) return '';
  const list = targets
    .map((t: any, i: number) => ({ t, i, p: Number.isFinite(t?.priority) ? t.priority : 0 }))
    .sort((a, b) => a.p - b.p || a.i - b.i)
    .map(({ t, p }) => `${t?.provider ?? '?'}/${t?.model ?? '?'}${p > 0 ? ' (fallback)' : ''}`);
  const s = list.join(', ');
  return s.length > 256 ? s.slice(0, 253) + '...' : s;
}

/** Whether writing `desired` would change anything we own in `current`. */
export function statusDiffers(current: any, desired: Record<string, unknown>): boolean {
  // usage is ours only on ApiKeys, which always carry it forward once it exists.
  const fields = OWNED_FIELDS.filter((f) => f !== 'usage' || desired.usage !== undefined);
  const pick = (s: any) => canonical(fields.map((f) => s?.[f] ?? null));
  return pick(current) !== pick(desired);
}

/**
 * JSON with object keys sorted: the API server hands objects back with their keys in its own
 * (alphabetical) order, which says nothing about whether anything changed.
 */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x,
  );
}

export function acceptedCondition(status: any): Condition | undefined {
  return (status?.conditions as Condition[] | undefined)?.find((c) => c.type === 'Accepted');
}

/** metav1.Time: RFC 3339 with whole seconds. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function truncate(s: string): string {
  return s.length > MAX_MESSAGE ? s.slice(0, MAX_MESSAGE - 3) + '...' : s;
}
