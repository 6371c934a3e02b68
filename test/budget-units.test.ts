import { currentPeriod, exhaustedMessage, ledgerOf, retainMs, usd, zonedRfc3339, RETAIN_MS } from '../gateway/src/budget/ledger';
import type { KeyUsage, UsageReport } from '../gateway/src/budget/usage';
import { budgetCondition, budgetEvent, crossings, usageStatus, type StatusUsage } from '../operator/src/budget';
import type { ObjectResult } from '../gateway/src/config/compile';
import { desiredStatus, statusDiffers, type SyncView } from '../operator/src/status';
import { aggregateUsage, type FleetUsage } from '../operator/src/usage';
import { apiKey } from './helpers/cluster-fixtures';

/** The budget logic's pure parts: ledger ids, money and time formatting, and the operator's status maths. */
const at = (s: string) => Date.parse(s);

describe('ledger', () => {
  test('dollars: cents from $1 up, three significant digits below', () => {
    expect(usd(10.0234)).toBe('$10.02');
    expect(usd(100)).toBe('$100.00');
    expect(usd(0)).toBe('$0.00');
    expect(usd(0.01)).toBe('$0.01');
    expect(usd(0.0102)).toBe('$0.0102');
    expect(usd(0.018)).toBe('$0.018');
    expect(usd(0.5)).toBe('$0.50');
    expect(usd(0.000126)).toBe('$0.000126');
    expect(usd(1e-9)).toBe('$0.00');
  });

  test("RFC 3339 in the budget's zone, across DST changes and odd offsets", () => {
    expect(zonedRfc3339(at('2026-12-01T00:00:00Z'), 'UTC')).toBe('2026-12-01T00:00:00Z');
    expect(zonedRfc3339(at('2026-10-31T23:00:00Z'), 'Europe/Paris')).toBe('2026-11-01T00:00:00+01:00');
    expect(zonedRfc3339(at('2026-03-31T22:00:00Z'), 'Europe/Paris')).toBe('2026-04-01T00:00:00+02:00');
    expect(zonedRfc3339(at('2026-11-01T04:00:00Z'), 'America/New_York')).toBe('2026-11-01T00:00:00-04:00');
    expect(zonedRfc3339(at('2026-11-01T06:00:00Z'), 'America/New_York')).toBe('2026-11-01T01:00:00-05:00'); // the repeated hour, second time
    expect(zonedRfc3339(at('2026-03-31T18:30:00Z'), 'Asia/Kolkata')).toBe('2026-04-01T00:00:00+05:30');
    expect(zonedRfc3339(at('2026-01-15T12:00:00Z'), 'Europe/London')).toBe('2026-01-15T12:00:00Z');
  });

  test('ledger ids name the key and the period; counters are kept a day past the period', () => {
    const l = ledgerOf({ name: 'team-a/alpha', budget: { usd: 10, period: 'month', timezone: 'Europe/Paris' } }, at('2026-10-20T12:00:00Z'));
    expect([l.spend, l.requests, l.input, l.output]).toEqual([
      'usage:team-a/alpha:2026-10.usd',
      'usage:team-a/alpha:2026-10.req',
      'usage:team-a/alpha:2026-10.in',
      'usage:team-a/alpha:2026-10.out',
    ]);
    expect(retainMs(l, at('2026-10-20T12:00:00Z'))).toBe(at('2026-10-31T23:00:00Z') + RETAIN_MS - at('2026-10-20T12:00:00Z'));
    // Without a budget: the UTC month.
    expect(ledgerOf({ name: 'team-a/beta' }, at('2026-10-31T23:30:00Z')).spend).toBe('usage:team-a/beta:2026-10.usd');
  });

  test('the period cache follows the clock both ways', () => {
    expect(currentPeriod('day', 'UTC', at('2026-05-02T10:00:00Z')).id).toBe('2026-05-02');
    expect(currentPeriod('day', 'UTC', at('2026-05-01T10:00:00Z')).id).toBe('2026-05-01');
    expect(currentPeriod('day', 'UTC', at('2026-05-01T23:59:59.999Z')).id).toBe('2026-05-01');
    expect(currentPeriod('day', 'UTC', at('2026-05-02T00:00:00Z')).id).toBe('2026-05-02');
    // Leap day, and the end of a leap February.
    expect(currentPeriod('day', 'UTC', at('2028-02-29T12:00:00Z')).id).toBe('2028-02-29');
    expect(new Date(currentPeriod('month', 'UTC', at('2028-02-29T12:00:00Z')).end).toISOString()).toBe('2028-03-01T00:00:00.000Z');
  });

  test('the 403 message: spend, budget, reset; with a per-pod store, the share', () => {
    const l = ledgerOf({ name: 'team-a/alpha', budget: { usd: 10, period: 'month' } }, at('2026-11-15T00:00:00Z'));
    expect(exhaustedMessage(l, 10_020_000, 10_000_000, 1)).toBe(
      'budget exhausted: ApiKey team-a/alpha spent $10.02 of its $10.00 monthly budget; resets at 2026-12-01T00:00:00Z',
    );
    expect(exhaustedMessage(l, 3_400_000, 3_333_333.33, 3)).toBe(
      'budget exhausted: ApiKey team-a/alpha spent $3.40 on this gateway, its share ($3.33) of the $10.00 monthly budget divided over 3 gateways; resets at 2026-12-01T00:00:00Z',
    );
    // A daily budget in New York on the day DST ends (25 hours): resets at local midnight, UTC-5.
    const ny = ledgerOf({ name: 'team-a/alpha', budget: { usd: 1, period: 'day', timezone: 'America/New_York' } }, at('2026-11-01T12:00:00Z'));
    expect(ny.period.end - ny.period.start).toBe(25 * 3_600_000);
    expect(exhaustedMessage(ny, 1_000_000, 1_000_000, 1)).toBe(
      'budget exhausted: ApiKey team-a/alpha spent $1.00 of its $1.00 daily budget; resets at 2026-11-02T00:00:00-05:00',
    );
  });
});

describe('operator: usage and budget status', () => {
  const now = new Date('2026-03-10T12:00:00Z');
  const fleet = (over: Partial<FleetUsage> = {}): FleetUsage => ({
    period: '2026-03',
    resetsAt: '2026-04-01T00:00:00Z',
    spentUSD: 4.2,
    requests: 7,
    inputTokens: 1000,
    outputTokens: 200,
    store: 'global',
    pods: 1,
    ...over,
  });
  const status = (over: Partial<StatusUsage> = {}): StatusUsage => ({
    period: '2026-03',
    spentUSD: 4.2,
    requests: 7,
    inputTokens: 1000,
    outputTokens: 200,
    resetsAt: '2026-04-01T00:00:00Z',
    updatedAt: '2026-03-10T11:59:00Z',
    ...over,
  });

  test('usage: updatedAt moves only on a change or after the refresh period', () => {
    expect(usageStatus(undefined, undefined, now, 300_000, 'T')).toBeUndefined();
    expect(usageStatus(status(), undefined, now, 300_000, 'T')).toEqual(status()); // nothing read: kept
    expect(usageStatus(status(), fleet(), now, 300_000, 'T')).toEqual(status()); // same, fresh
    expect(usageStatus(status(), fleet({ requests: 8 }), now, 300_000, 'T')).toEqual(status({ requests: 8, updatedAt: 'T' }));
    expect(usageStatus(status({ updatedAt: '2026-03-10T11:50:00Z' }), fleet(), now, 300_000, 'T')!.updatedAt).toBe('T');
    expect(usageStatus(undefined, fleet({ spentUSD: 0.1 + 0.2 }), now, 300_000, 'T')!.spentUSD).toBe(0.3);
  });

  test('BudgetExceeded: True at or over the budget, False under it, Unknown before a read, absent without a budget', () => {
    const b = { usd: 10, period: 'month' as const };
    expect(budgetCondition(undefined, status())).toBeUndefined();
    expect(budgetCondition(b, undefined)).toMatchObject({ status: 'Unknown', reason: 'UsageUnknown' });
    expect(budgetCondition(b, status())).toEqual({
      type: 'BudgetExceeded',
      status: 'False',
      reason: 'WithinBudget',
      message: 'spent $4.20 of the $10.00 monthly budget (42%) in period 2026-03; resets at 2026-04-01T00:00:00Z',
    });
    expect(budgetCondition(b, status({ spentUSD: 10 }))).toMatchObject({ status: 'True', reason: 'BudgetExhausted' });
    expect(budgetCondition(b, status({ spentUSD: 10.02 }))!.message).toBe(
      'spent $10.02 of the $10.00 monthly budget in period 2026-03; Messages requests are refused with 403 until 2026-04-01T00:00:00Z',
    );
  });

  test('threshold crossings: 80% and 100% once per period, derived from the status written before', () => {
    expect(crossings(status({ spentUSD: 7 }), status({ spentUSD: 8 }), 10)).toEqual([0.8]);
    expect(crossings(status({ spentUSD: 8 }), status({ spentUSD: 9 }), 10)).toEqual([]);
    expect(crossings(status({ spentUSD: 9 }), status({ spentUSD: 10 }), 10)).toEqual([1]);
    expect(crossings(status({ spentUSD: 1 }), status({ spentUSD: 12 }), 10)).toEqual([0.8, 1]);
    expect(crossings(status({ spentUSD: 12 }), status({ spentUSD: 13 }), 10)).toEqual([]);
    // A new period starts from nothing; no status before is the same.
    expect(crossings(status({ spentUSD: 12, period: '2026-02' }), status({ spentUSD: 8.5 }), 10)).toEqual([0.8]);
    expect(crossings(undefined, status({ spentUSD: 8.5 }), 10)).toEqual([0.8]);
    expect(crossings(undefined, status({ spentUSD: 0.008 }), 0.01)).toEqual([0.8]); // float slack: 0.8 × 0.01 = 0.008000000000000002
  });

  test('budget Events are events.k8s.io/v1 Warnings on the ApiKey', () => {
    const k = { ...apiKey('alpha', 'client'), metadata: { name: 'alpha', namespace: 'team-a', uid: 'u1', resourceVersion: '9' } };
    const ev: any = budgetEvent(k, 1, status({ spentUSD: 10.5 }), { usd: 10, period: 'month' }, 'op-1', now);
    expect(ev).toMatchObject({
      apiVersion: 'events.k8s.io/v1',
      type: 'Warning',
      reason: 'BudgetExhausted',
      action: 'Spend',
      eventTime: '2026-03-10T12:00:00.000000Z',
      regarding: { kind: 'ApiKey', name: 'alpha', uid: 'u1' },
      metadata: { generateName: 'alpha.', namespace: 'team-a' },
    });
    expect(ev.note).toBe(
      'ApiKey team-a/alpha has spent $10.50 (105%) of its $10.00 monthly budget in period 2026-03; Messages requests are refused with 403 until 2026-04-01T00:00:00Z',
    );
    expect((budgetEvent(k, 0.8, status({ spentUSD: 8.1 }), { usd: 10, period: 'month' }, 'op-1', now) as any).reason).toBe('BudgetAlmostExhausted');
  });

  test('aggregation: one read of a global store, the sum over pods of per-pod stores, for the newest period', () => {
    const key = (name: string, period: string, spentUSD: number, requests = 1): KeyUsage => ({
      name,
      period,
      periodKind: 'month',
      timezone: 'UTC',
      periodStart: '',
      resetsAt: 'R' + period,
      budgetUSD: 1,
      enforcedUSD: 1,
      spentUSD,
      remainingUSD: 0,
      requests,
      inputTokens: 10 * requests,
      outputTokens: requests,
    });
    const report = (store: 'global' | 'pod', time: string, keys: KeyUsage[]): UsageReport => ({ store, gateways: 2, version: 'v', time, keys });
    const g = aggregateUsage([
      report('global', '2026-03-10T12:00:01Z', [key('a/x', '2026-03', 0.5, 5)]),
      report('global', '2026-03-10T12:00:00Z', [key('a/x', '2026-03', 0.4, 4)]),
    ]);
    expect(g.get('a/x')).toMatchObject({ spentUSD: 0.5, requests: 5, store: 'global', pods: 1 });
    const p = aggregateUsage([
      report('pod', '2026-03-31T23:59:59Z', [key('a/x', '2026-03', 0.1, 1), key('a/y', '2026-03', 0.2, 2)]),
      report('pod', '2026-04-01T00:00:01Z', [key('a/x', '2026-04', 0.3, 3)]),
      report('pod', '2026-04-01T00:00:00Z', [key('a/x', '2026-04', 0.1, 1)]),
    ]);
    expect(p.get('a/x')).toMatchObject({
      period: '2026-04',
      resetsAt: 'R2026-04',
      spentUSD: 0.4,
      requests: 4,
      inputTokens: 40,
      outputTokens: 4,
      store: 'pod',
      pods: 2,
    });
    expect(p.get('a/y')).toMatchObject({ period: '2026-03', spentUSD: 0.2, pods: 1 });
  });

  test('desiredStatus of an ApiKey with a budget: usage and BudgetExceeded beside Accepted and Programmed', () => {
    const sync: SyncView = { synced: 1, total: 1, failures: [], service: 'switchyard/gw' };
    const k = (st?: any) => ({
      ...apiKey('k', 'client', { budget: { usd: 10, period: 'month' } }),
      status: st,
      metadata: { name: 'k', namespace: 'team-a', generation: 2 },
    });
    const ok: ObjectResult = { kind: 'ApiKey', key: 'team-a/k', generation: 2, accepted: true, reason: 'Accepted', message: 'key is valid', errors: [] };
    const first: any = desiredStatus(k(), ok, sync, now, { usage: fleet({ spentUSD: 12 }), refreshMs: 300_000 });
    expect(first.usage).toEqual(status({ spentUSD: 12, updatedAt: '2026-03-10T12:00:00Z' }));
    expect(first.conditions.map((c: any) => [c.type, c.status, c.reason])).toEqual([
      ['Accepted', 'True', 'Accepted'],
      ['Programmed', 'True', 'Programmed'],
      ['BudgetExceeded', 'True', 'BudgetExhausted'],
    ]);
    // Unchanged usage a minute later: nothing to write.
    const later = new Date('2026-03-10T12:01:00Z');
    expect(statusDiffers(first, desiredStatus(k(first), ok, sync, later, { usage: fleet({ spentUSD: 12 }), refreshMs: 300_000 }))).toBe(false);
    // The next period: False, and the condition's transition time moves.
    const april: any = desiredStatus(k(first), ok, sync, later, {
      usage: fleet({ period: '2026-04', spentUSD: 0, resetsAt: '2026-05-01T00:00:00Z' }),
      refreshMs: 300_000,
    });
    expect(april.conditions[2]).toMatchObject({ status: 'False', reason: 'WithinBudget', lastTransitionTime: '2026-03-10T12:01:00Z' });
    // Rejected (its Secret went away): usage and BudgetExceeded stay as they were.
    const rejected: any = desiredStatus(k(first), { ...ok, accepted: false, reason: 'SecretNotFound', message: 'gone' }, sync, later, {
      usage: fleet({ spentUSD: 20 }),
      refreshMs: 300_000,
    });
    expect(rejected.usage).toEqual(first.usage);
    expect(rejected.conditions[2]).toEqual(first.conditions[2]);
    // The budget removed: the condition goes, the usage stays (every key's usage is counted).
    const noBudget = { ...k(first), spec: { secretRef: { name: 'client' } } };
    const plain: any = desiredStatus(noBudget, ok, sync, later, { usage: fleet(), refreshMs: 300_000 });
    expect(plain.conditions.map((c: any) => c.type)).toEqual(['Accepted', 'Programmed']);
    expect(plain.usage.period).toBe('2026-03');
  });
});

describe('statusDiffers', () => {
  test('key order is not a change (the API server sorts keys)', () => {
    const desired = {
      observedGeneration: 1,
      usage: { period: '2026-03', spentUSD: 1, updatedAt: 'T' },
      conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: '', lastTransitionTime: 'T' }],
    };
    const fromServer = {
      conditions: [{ lastTransitionTime: 'T', message: '', reason: 'Accepted', status: 'True', type: 'Accepted' }],
      observedGeneration: 1,
      usage: { period: '2026-03', spentUSD: 1, updatedAt: 'T' },
    };
    expect(statusDiffers(fromServer, desired)).toBe(false);
    expect(statusDiffers({ ...fromServer, usage: { ...fromServer.usage, spentUSD: 2 } }, desired)).toBe(true);
  });
});
