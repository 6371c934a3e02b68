import { periodAdjective, usd } from '../../gateway/src/budget/ledger';
import type { PeriodKind } from '../../gateway/src/budget/period';
import { warningEvent } from './events';
import type { K8sObject } from '../../gateway/src/config/k8s-object';
import type { FleetUsage } from './usage';

/**
 * ApiKey budgets in status, as pure functions of what the operator knows: the fleet's usage read
 * from the gateways (usage.ts) and the status already on the object. `status.usage` and the
 * `BudgetExceeded` condition are written by the reconciler with the rest of the status, so one
 * merge patch carries every condition and none is lost between two writers.
 */
export interface StatusUsage {
  period: string;
  spentUSD: number;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  resetsAt?: string;
  updatedAt: string;
}

export interface BudgetSpec {
  usd: number;
  period: PeriodKind;
  timezone?: string;
}

const CONTENT: ReadonlyArray<Exclude<keyof StatusUsage, 'updatedAt'>> = ['period', 'spentUSD', 'requests', 'inputTokens', 'outputTokens', 'resetsAt'];

/**
 * `status.usage` to write. Without a fresh read the current value stays as it is; with one,
 * `updatedAt` moves only when something else changed or it is older than `refreshMs`, so an idle
 * key costs one status write per refresh period, not one per poll.
 */
export function usageStatus(
  current: StatusUsage | undefined,
  fleet: FleetUsage | undefined,
  now: Date,
  refreshMs: number,
  stamp: string,
): StatusUsage | undefined {
  if (!fleet) return current;
  const next: Omit<StatusUsage, 'updatedAt'> = {
    period: fleet.period,
    spentUSD: Math.round(fleet.spentUSD * 1e6) / 1e6,
    requests: fleet.requests,
    inputTokens: fleet.inputTokens,
    outputTokens: fleet.outputTokens,
    resetsAt: fleet.resetsAt,
  };
  const same = !!current && CONTENT.every((f) => current[f] === next[f]);
  const fresh = !!current?.updatedAt && now.getTime() - Date.parse(current.updatedAt) < refreshMs;
  return { ...next, updatedAt: same && fresh ? current!.updatedAt : stamp };
}

export interface BudgetConditionParts {
  type: 'BudgetExceeded';
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

/** Whole percent, floored, without float noise (0.009 / 0.01 is 89.99999999999999). */
const percent = (spent: number, budget: number) => Math.floor((spent / budget) * 100 + 1e-9);

/** Spend at or above this share of the budget counts as reaching it (float slack). */
const reached = (spent: number, budget: number, share: number) => spent >= budget * share - 1e-9;

/** `BudgetExceeded` for a key with a budget; undefined without one (the condition is removed). */
export function budgetCondition(budget: BudgetSpec | undefined, usage: StatusUsage | undefined): BudgetConditionParts | undefined {
  if (!budget || !(budget.usd > 0)) return undefined;
  const what = `the ${usd(budget.usd)} ${periodAdjective(budget.period)} budget`;
  if (!usage)
    return { type: 'BudgetExceeded', status: 'Unknown', reason: 'UsageUnknown', message: `spend against ${what} has not been read from the gateways yet` };
  const spent = `spent ${usd(usage.spentUSD)} of ${what}`;
  const resets = usage.resetsAt ? ` ${usage.resetsAt}` : ' the end of the period';
  if (reached(usage.spentUSD, budget.usd, 1)) {
    return {
      type: 'BudgetExceeded',
      status: 'True',
      reason: 'BudgetExhausted',
      message: `${spent} in period ${usage.period}; Messages requests are refused with 403 until${resets}`,
    };
  }
  const pct = percent(usage.spentUSD, budget.usd);
  return { type: 'BudgetExceeded', status: 'False', reason: 'WithinBudget', message: `${spent} (${pct}%) in period ${usage.period}; resets at${resets}` };
}

/** The thresholds (share of the budget) that warrant an Event when spend crosses them. */
export const THRESHOLDS = [0.8, 1] as const;

/**
 * The thresholds `after` reached that `before` had not, in the same period (a new period starts
 * from nothing). Comparing with the status already written, not with memory, keeps it to one
 * Event per threshold per period across operator restarts and leader changes.
 */
export function crossings(before: StatusUsage | undefined, after: StatusUsage | undefined, budgetUSD: number): number[] {
  if (!after || !(budgetUSD > 0)) return [];
  const prev = before && before.period === after.period ? before.spentUSD : 0;
  return THRESHOLDS.filter((t) => !reached(prev, budgetUSD, t) && reached(after.spentUSD, budgetUSD, t));
}

/** A Warning Event on the ApiKey for a threshold crossed (80%: BudgetAlmostExhausted, 100%: BudgetExhausted). */
export function budgetEvent(obj: K8sObject, threshold: number, usage: StatusUsage, budget: BudgetSpec, instance: string, now: Date): Record<string, unknown> {
  const key = `${obj.metadata.namespace ?? 'default'}/${obj.metadata.name}`;
  const pct = percent(usage.spentUSD, budget.usd);
  const head = `ApiKey ${key} has spent ${usd(usage.spentUSD)} (${pct}%) of its ${usd(budget.usd)} ${periodAdjective(budget.period)} budget in period ${usage.period}`;
  const resets = usage.resetsAt ?? 'the end of the period';
  const note = threshold >= 1 ? `${head}; Messages requests are refused with 403 until ${resets}` : `${head}; it resets at ${resets}`;
  return warningEvent(obj, { kind: 'ApiKey', action: 'Spend', reason: threshold >= 1 ? 'BudgetExhausted' : 'BudgetAlmostExhausted', note }, instance, now);
}
