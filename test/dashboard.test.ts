import { readFileSync } from 'node:fs';
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import type { Gateway } from '../gateway/src/gateway';
import { installTelemetry } from '../gateway/src/telemetry';
import { startFakeAnthropic, type FakeAnthropic } from './helpers/fake-anthropic';
import { CLIENT_KEY, adminURL, baseURL, simpleConfig, snapshotOf, startGateway } from './helpers/gateway';
import { waitFor } from './helpers/http-server';
import { scrape, type Scrape } from './helpers/prom';
import { metricNames } from './helpers/promql';

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
  let gw: Gateway;
  let live: Scrape;

  beforeAll(async () => {
    fake = await startFakeAnthropic();
    gw = await startGateway(snapshotOf(simpleConfig(fake.url)));
    const lines: string[] = [];
    installTelemetry(gw, {}, { accessLogSink: (l) => lines.push(l) });
    const client = new Anthropic({ baseURL: baseURL(gw), apiKey: CLIENT_KEY, maxRetries: 0 });
    await client.messages.create({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] });
    await client.messages.stream({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] }).finalMessage();
    fake.queue.push({ kind: 'error', status: 500, type: 'api_error', message: 'x', headers: { 'x-should-retry': 'false' } });
    await client.messages.create({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] }).catch(() => undefined);
    await waitFor(() => lines.length === 3);
    live = await scrape(adminURL(gw));
  });
  afterAll(async () => {
    await gw?.close();
    await fake?.close();
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
    for (const n of ['switchyard_requests_total', 'switchyard_request_duration_seconds_bucket', 'switchyard_time_to_first_token_seconds_bucket', 'switchyard_tokens_total', 'switchyard_upstream_attempts_total', 'switchyard_fallbacks_total', 'switchyard_rate_limited_total', 'switchyard_inflight_requests', 'switchyard_cost_usd_total', 'switchyard_config_info']) {
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
});
