import { readFileSync } from 'node:fs';
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { openAccount } from '../gateway/src/budget/account';
import { installBudgets } from '../gateway/src/budget/install';
import type { Gateway } from '../gateway/src/gateway';
import { installLimits } from '../gateway/src/limits/install';
import { installShadowRecords } from '../gateway/src/shadow/install';
import { installTelemetry } from '../gateway/src/telemetry';
import { startFakeAnthropic, type FakeAnthropic } from './helpers/fake-anthropic';
import { CLIENT_KEY, adminURL, baseURL, simpleConfig, snapshotOf, startGateway } from './helpers/gateway';
import { waitFor } from './helpers/http-server';
import { scrape, type Scrape } from './helpers/prom';
import { metricNames } from './helpers/promql';
import { startRedis, type RedisServer } from './helpers/redis';

const DASHBOARD = path.join(__dirname, '..', 'charts', 'switchyard', 'dashboards', 'switchyard.json');

/** Every PromQL expression of a dashboard: panel targets (rows included) and query variables. */
function expressions(dash: any): string[] {
  const out: string[] = [];
  const walk = (panels: any[]) => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) if (t.expr) out.push(t.expr);
      walk(p.panels);
    }
  };
  walk(dash.panels);
  for (const v of dash.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    const lv = /^label_values\((.*),\s*[a-zA-Z_]\w*\s*\)$/.exec(q ?? '');
    out.push(lv ? lv[1] : q);
  }
  return out;
}

describe('Grafana dashboard', () => {
  const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
  let fake: FakeAnthropic;
  let redis: RedisServer;
  let gw: Gateway;
  let live: Scrape;

  // A gateway with everything a production one has (Redis limit store, a budget), so every series
  // a panel reads is exported; what installFeatures() does, with the access log captured.
  beforeAll(async () => {
    fake = await startFakeAnthropic();
    redis = await startRedis();
    // A shadow on the route, so the comparison row's series are exported too.
    const shadows = [
      { name: 'trial', percent: 100, target: { provider: 'anthropic', model: 'claude-shadow', baseURL: fake.url, credentialsRef: { name: 'upstream' } } },
    ];
    gw = await startGateway(snapshotOf(simpleConfig(fake.url, { keySpec: { budget: { usd: 5, period: 'month' } }, routeSpec: { shadows } })));
    const lines: string[] = [];
    const telemetry = installTelemetry(gw, {}, { accessLogSink: (l) => lines.push(l) });
    installShadowRecords(gw, telemetry);
    installBudgets(gw, await installLimits(gw, { SWITCHYARD_REDIS_URL: redis.url, SWITCHYARD_REDIS_PREFIX: 'dashboard:' }, openAccount), telemetry.metrics);
    const client = new Anthropic({ baseURL: baseURL(gw), apiKey: CLIENT_KEY, maxRetries: 0 });
    await client.messages.create({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] });
    await client.messages.stream({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] }).finalMessage();
    fake.queue.push({ kind: 'error', status: 500, type: 'api_error', message: 'x', headers: { 'x-should-retry': 'false' } });
    await client.messages.create({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] }).catch(() => undefined);
    await waitFor(() => lines.length === 6); // three requests, three shadows
    live = await scrape(adminURL(gw));
  });
  afterAll(async () => {
    await gw?.close();
    await fake?.close();
    await redis?.close();
  });

  test('the extractor finds metric names and nothing else', () => {
    expect(metricNames('histogram_quantile(0.95, sum by (le, route) (rate(a_bucket{route=~"$route",x!="y z"}[$__rate_interval])))')).toEqual(['a_bucket']);
    expect(metricNames('sum(rate(a_total{code!~"2.."}[5m])) / sum(rate(b_total[5m])) * 3600')).toEqual(['a_total', 'b_total']);
    expect(metricNames('count by (version) (c_info == 1) and on (instance) d')).toEqual(['c_info', 'd']);
  });

  test('every PromQL expression names only metrics a live gateway exports', () => {
    const exported = live.exportedNames();
    const exprs = expressions(dash);
    expect(exprs.length).toBeGreaterThan(20);
    const used = new Set(exprs.flatMap(metricNames));
    const missing = [...used].filter((n) => !exported.has(n));
    expect(missing).toEqual([]);
    // The dashboard covers the series DESIGN.md names.
    for (const n of [
      'switchyard_requests_total',
      'switchyard_request_duration_seconds_bucket',
      'switchyard_time_to_first_token_seconds_bucket',
      'switchyard_tokens_total',
      'switchyard_upstream_attempts_total',
      'switchyard_fallbacks_total',
      'switchyard_rate_limited_total',
      'switchyard_inflight_requests',
      'switchyard_cost_usd_total',
      'switchyard_config_info',
      'switchyard_budget_remaining_usd',
      'switchyard_budget_usd',
      'switchyard_limit_store_info',
      'switchyard_limit_store_fallback_total',
      'switchyard_limit_store_degraded',
      'switchyard_limit_store_duration_seconds_bucket',
      'switchyard_upstream_breaker_open',
      'switchyard_shadow_requests_total',
      'switchyard_shadow_request_duration_seconds_bucket',
      'switchyard_shadow_time_to_first_token_seconds_bucket',
      'switchyard_shadow_tokens_total',
      'switchyard_shadow_cost_usd_total',
      'switchyard_shadow_skipped_total',
    ]) {
      expect(used).toContain(n);
    }
  });

  test('panels use the datasource variable; the dashboard is importable as is', () => {
    const vars = dash.templating.list.map((v: any) => v.name);
    expect(vars).toEqual(expect.arrayContaining(['datasource', 'route', 'api_key']));
    expect(dash.templating.list.find((v: any) => v.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    const panels = dash.panels.filter((p: any) => p.type !== 'row');
    for (const p of panels) {
      expect(p.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
      for (const t of p.targets) expect(t.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
    expect(new Set(dash.panels.map((p: any) => p.id)).size).toBe(dash.panels.length);
    expect(dash.uid).toBe('switchyard');
    expect(dash.id).toBeUndefined(); // a provisioned dashboard must not carry a database id
  });

  test('namespace and job variables; the instance variable and its All are scoped to the job', () => {
    const v = (name: string) => dash.templating.list.find((x: any) => x.name === name);
    expect(dash.templating.list.map((x: any) => x.name)).toEqual(['datasource', 'namespace', 'job', 'instance', 'route', 'api_key']);
    expect(v('namespace').query.query).toBe('label_values(switchyard_config_info, namespace)');
    expect(v('job').query.query).toBe('label_values(switchyard_config_info{namespace=~"$namespace"}, job)');
    expect(v('instance').query.query).toBe('label_values(switchyard_config_info{namespace=~"$namespace",job=~"$job"}, instance)');
    // A custom allValue (".*") would make All match every instance of every service; without one,
    // All is the listed instances of the job.
    for (const name of ['namespace', 'job', 'instance']) expect([name, v(name).includeAll, v(name).allValue]).toEqual([name, true, undefined]);
    for (const name of ['route', 'api_key']) expect(v(name).query.query).toContain('{namespace=~"$namespace",job=~"$job"}');
  });

  test('every series a panel reads is scoped to $namespace and $job (and $instance), and filtered by $route and $api_key where it has those labels', () => {
    const labelsOf = (name: string) => {
      const out = new Set<string>();
      for (const key of live.samples.keys()) {
        const m = /^([^{]+)\{(.*)\}$/.exec(key);
        if (m && m[1] === name) for (const l of m[2].matchAll(/([a-zA-Z_]\w*)="/g)) out.add(l[1]);
      }
      return out;
    };
    // The gen_ai_* series have route (and no api_key: DESIGN.md, Telemetry).
    expect(labelsOf('gen_ai_server_request_duration_seconds_count').has('route')).toBe(true);
    expect(labelsOf('gen_ai_server_request_duration_seconds_count').has('api_key')).toBe(false);
    const checked = new Set<string>();
    const walk = (panels: any[]) => {
      for (const p of panels ?? []) {
        const budget = /budget/i.test(p.title);
        for (const t of p.targets ?? []) {
          const selectors = [...t.expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}/g)];
          expect([p.title, [...new Set(selectors.map((m) => m[1]))].sort()]).toEqual([p.title, metricNames(t.expr).sort()]); // every series has a selector
          for (const [, name, matchers] of selectors) {
            const where = `${p.title}: ${name}`;
            expect([where, matchers]).toEqual([where, expect.stringContaining('namespace=~"$namespace",job=~"$job"')]);
            // Budgets add up over every pod of the job; everything else follows $instance.
            if (!budget) expect([where, matchers]).toEqual([where, expect.stringContaining('instance=~"$instance"')]);
            const labels = labelsOf(name);
            if (labels.has('route')) expect([where, matchers]).toEqual([where, expect.stringContaining('route=~"$route"')]);
            if (labels.has('api_key')) expect([where, matchers]).toEqual([where, expect.stringContaining('api_key=~"$api_key"')]);
            if (labels.size) checked.add(name);
          }
        }
        walk(p.panels);
      }
    };
    walk(dash.panels);
    for (const n of [
      'switchyard_requests_total',
      'gen_ai_server_request_duration_seconds_count',
      'switchyard_tokens_total',
      'switchyard_budget_remaining_usd',
      'switchyard_upstream_breaker_open',
      'switchyard_shadow_requests_total',
      'switchyard_shadow_request_duration_seconds_bucket',
    ])
      expect(checked).toContain(n);
  });

  test("budget remaining: the pods' shares added with the local store, one pod's figure with Redis", () => {
    const panel = dash.panels.find((p: any) => p.title === 'Budget remaining (USD) by API key');
    const [local, redisSide] = panel.targets[0].expr.split(' or ');
    expect(local).toMatch(
      /^sum by \(api_key\) \(switchyard_budget_remaining_usd\{[^}]*\} \* on \(namespace, job, instance\) group_left \(\) switchyard_limit_store_info\{[^}]*store="local"\}\)$/,
    );
    expect(redisSide).toMatch(
      /^max by \(api_key\) \(switchyard_budget_remaining_usd\{[^}]*\} \* on \(namespace, job, instance\) group_left \(\) switchyard_limit_store_info\{[^}]*store="redis"\}\)$/,
    );
    // The store a gateway reports is the one it uses, one series per gateway, to join on.
    expect([...live.samples.entries()].filter(([k]) => k.startsWith('switchyard_limit_store_info'))).toEqual([
      ['switchyard_limit_store_info{store="redis"}', 1],
    ]);
    expect(live.samples.get('switchyard_budget_remaining_usd{api_key="default/team-a"}')).toBeGreaterThan(0);
    expect(live.samples.get('switchyard_budget_usd{api_key="default/team-a"}')).toBe(5);
  });
});
