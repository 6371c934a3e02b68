/**
 * What a platform team adds around the chart's core: ingress (Gateway API HTTPRoute, Ingress),
 * alerts (PrometheusRule), the operator's scrape (PodMonitor), probes, disruption budget and
 * spread, the aggregated ClusterRoles, the image location and the CRDs' category. The schema and
 * strict-field checks of every document are in chart.test.ts (value set "exposure").
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { find, render, renderer, ROOT, type K8sObject, type Rendered } from './helm/render';
import { bracketProblems, metricNames } from './helpers/promql';

const NS = 'ai-gateway';
const EXPOSED = {
  httpRoute: { enabled: true, parentRefs: [{ name: 'public', namespace: 'gateway-system', sectionName: 'https' }], hostnames: ['llm.example.com'] },
  ingress: {
    enabled: true,
    className: 'nginx',
    hosts: ['llm.example.com'],
    tls: [{ hosts: ['llm.example.com'], secretName: 'llm-tls' }],
    annotations: { 'nginx.ingress.kubernetes.io/proxy-buffering': 'off' },
  },
  serviceMonitor: { enabled: true, interval: '15s' },
  prometheusRule: { enabled: true, alertLabels: { team: 'ai' }, serverErrorRatio: 0.02, firstTokenP95Seconds: 12 },
  operator: {
    replicas: 2,
    podDisruptionBudget: { enabled: true },
    livenessProbe: { periodSeconds: 30, timeoutSeconds: 5, failureThreshold: 4 },
    readinessProbe: { periodSeconds: 7, timeoutSeconds: 2, failureThreshold: 2 },
  },
};

/** The operator metrics agreed with the operator's /metrics (operator/src). */
const OPERATOR_METRICS = [
  'switchyard_operator_reconciles_total',
  'switchyard_operator_pushes_total',
  'switchyard_operator_informer_restarts_total',
  'switchyard_operator_leader',
  'switchyard_operator_last_successful_push_timestamp_seconds',
];

let def: Rendered;
let exposed: Rendered;

beforeAll(async () => {
  renderer();
  [def, exposed] = await Promise.all([
    render({}, { namespace: NS, apiVersions: ['monitoring.coreos.com/v1'] }),
    render(EXPOSED, { namespace: NS, apiVersions: ['monitoring.coreos.com/v1'] }),
  ]);
}, 120_000);

const byComponent = (r: Rendered, kind: string, component: string) => {
  const hits = r.docs.filter((d) => d.kind === kind && d.metadata.labels?.['app.kubernetes.io/component'] === component);
  if (hits.length !== 1) throw new Error(`expected one ${component} ${kind}, found ${hits.length}`);
  return hits[0];
};
const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
const kinds = (r: Rendered) => r.docs.map((d) => d.kind);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name));
}

describe('off by default', () => {
  test('no HTTPRoute, Ingress, PrometheusRule, PodMonitor or operator PDB unless asked for', () => {
    for (const k of ['HTTPRoute', 'Ingress', 'PrometheusRule', 'PodMonitor', 'PodDisruptionBudget']) expect(kinds(def)).not.toContain(k);
  });
});

describe('HTTPRoute and Ingress', () => {
  test('the HTTPRoute attaches to the given Gateways and sends everything to the traffic Service, with long timeouts for streams', () => {
    const route = find(exposed, 'HTTPRoute');
    const traffic = find(exposed, 'Service', 'switchyard');
    expect(route.spec.parentRefs).toEqual(EXPOSED.httpRoute.parentRefs);
    expect(route.spec.hostnames).toEqual(['llm.example.com']);
    expect(route.spec.rules).toEqual([
      { backendRefs: [{ name: traffic.metadata.name, port: traffic.spec.ports[0].port }], timeouts: { request: '600s', backendRequest: '600s' } },
    ]);
    // Longer than the gateway lets a stopping pod finish its streams.
    expect(Number(route.spec.rules[0].timeouts.request.replace(/s$/, ''))).toBeGreaterThanOrEqual(300);
  });

  test('the Ingress routes each host to the traffic Service by port name, with TLS, class and annotations', () => {
    const ing = find(exposed, 'Ingress');
    const traffic = find(exposed, 'Service', 'switchyard');
    expect(ing.spec.ingressClassName).toBe('nginx');
    expect(ing.spec.tls).toEqual(EXPOSED.ingress.tls);
    expect(ing.metadata.annotations).toEqual({ 'nginx.ingress.kubernetes.io/proxy-buffering': 'off' });
    expect(ing.spec.rules).toEqual([
      {
        host: 'llm.example.com',
        http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: traffic.metadata.name, port: { name: 'http' } } } }] },
      },
    ]);
    expect(traffic.spec.ports.map((p: any) => p.name)).toContain('http');
  });

  test.each<[string, object, RegExp]>([
    ['an HTTPRoute without parentRefs', { httpRoute: { enabled: true } }, /httpRoute\.parentRefs must name at least one Gateway/],
    ['an Ingress without hosts', { ingress: { enabled: true } }, /ingress\.hosts must list at least one host/],
    [
      'an operator PDB that would block every drain',
      { operator: { podDisruptionBudget: { enabled: true } } },
      /operator\.podDisruptionBudget\.minAvailable \(1\) must be below operator\.replicas \(1\)/,
    ],
  ])('fails on %s', async (_what, values, message) => {
    await expect(render(values, { namespace: NS })).rejects.toThrow(message);
  });
});

describe('operator: scrape, probes, disruption budget, spread', () => {
  test("the PodMonitor scrapes /metrics on the operator pods' named health port, and only them", () => {
    const pm = find(exposed, 'PodMonitor');
    const op = byComponent(exposed, 'Deployment', 'operator');
    const gw = byComponent(exposed, 'Deployment', 'gateway');
    expect(matches(pm.spec.selector.matchLabels, op.spec.template.metadata.labels)).toBe(true);
    expect(matches(pm.spec.selector.matchLabels, gw.spec.template.metadata.labels)).toBe(false);
    expect(pm.spec.namespaceSelector).toEqual({ matchNames: [NS] });
    const [endpoint] = pm.spec.podMetricsEndpoints;
    expect(endpoint).toMatchObject({ port: 'health', path: '/metrics', interval: '15s', honorLabels: true });
    const ports = op.spec.template.spec.containers[0].ports;
    expect(ports.find((p: any) => p.name === endpoint.port)?.containerPort).toBe(Number(container(op).args[container(op).args.indexOf('--health-port') + 1]));
  });

  test('probes follow the values', () => {
    const c = container(byComponent(exposed, 'Deployment', 'operator'));
    expect(c.livenessProbe).toEqual({ httpGet: { path: '/healthz', port: 'health' }, periodSeconds: 30, timeoutSeconds: 5, failureThreshold: 4 });
    expect(c.readinessProbe).toEqual({ httpGet: { path: '/readyz', port: 'health' }, periodSeconds: 7, timeoutSeconds: 2, failureThreshold: 2 });
    const d = container(byComponent(def, 'Deployment', 'operator'));
    expect([d.livenessProbe.periodSeconds, d.readinessProbe.periodSeconds]).toEqual([20, 10]);
  });

  test('the PDB covers the operator pods only; spread constraints select them', () => {
    const pdb = byComponent(exposed, 'PodDisruptionBudget', 'operator');
    const op = byComponent(exposed, 'Deployment', 'operator');
    expect(pdb.spec.minAvailable).toBe(1);
    expect(matches(pdb.spec.selector.matchLabels, op.spec.template.metadata.labels)).toBe(true);
    expect(matches(pdb.spec.selector.matchLabels, byComponent(exposed, 'Deployment', 'gateway').spec.template.metadata.labels)).toBe(false);
    const spread = byComponent(def, 'Deployment', 'operator').spec.template.spec.topologySpreadConstraints;
    expect(spread).toEqual([
      { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: op.spec.selector.matchLabels } },
    ]);
  });
});

describe('PrometheusRule', () => {
  const rules = () => find(exposed, 'PrometheusRule').spec.groups.flatMap((g: any) => g.rules);

  test('has the alerts a platform team expects, with severities and the extra labels', () => {
    expect(rules().map((r: any) => r.alert)).toEqual([
      'SwitchyardNoReadyGateway',
      'SwitchyardHighServerErrorRatio',
      'SwitchyardUpstreamErrorRatio',
      'SwitchyardSlowFirstToken',
      'SwitchyardBudgetNearlySpent',
      'SwitchyardLimitStoreFallback',
      'SwitchyardConfigPushFailing',
    ]);
    for (const r of rules()) {
      expect([r.alert, ['critical', 'warning'].includes(r.labels.severity), r.labels.team]).toEqual([r.alert, true, 'ai']);
      expect(r.annotations.summary).toBeTruthy();
      expect(r.for).toMatch(/^\d+m$/);
    }
    expect(rules().find((r: any) => r.alert === 'SwitchyardHighServerErrorRatio').expr).toMatch(/> 0\.02\s*$/);
    expect(rules().find((r: any) => r.alert === 'SwitchyardSlowFirstToken').expr).toMatch(/> 12\s*$/);
    expect(rules().find((r: any) => r.alert === 'SwitchyardBudgetNearlySpent').expr).toMatch(/> 0\.9\s*$/);
  });

  test('every expression is well-formed and reads only series the gateway or the operator export, as the chart scrapes them', () => {
    const gatewaySource = sourceFiles(join(ROOT, 'gateway/src'))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    const operatorSource = sourceFiles(join(ROOT, 'operator/src'))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    const family = (n: string) => n.replace(/_(bucket|sum|count)$/, '');
    const admin = find(exposed, 'Service', 'switchyard-admin').metadata.name;
    for (const r of rules()) {
      expect([r.alert, bracketProblems(r.expr)]).toEqual([r.alert, []]);
      const names = metricNames(r.expr);
      expect(names.length).toBeGreaterThan(0);
      for (const n of names) {
        if (n.startsWith('switchyard_operator_')) {
          expect(OPERATOR_METRICS).toContain(n);
          // Once the operator exports its metrics, the names must be its own.
          if (operatorSource.includes('switchyard_operator_')) expect([n, operatorSource.includes(`'${n}'`)]).toEqual([n, true]);
          expect(r.expr).toContain(`${n}{namespace="${NS}",container="operator"`);
        } else {
          expect([n, gatewaySource.includes(`'${family(n)}'`)]).toEqual([n, true]);
          // The labels the Prometheus Operator gives the ServiceMonitor's targets.
          expect(r.expr).toContain(`${n}{namespace="${NS}",service="${admin}"`);
        }
      }
    }
    // Alert templates reach Prometheus unexpanded by Helm.
    expect(rules().find((r: any) => r.alert === 'SwitchyardUpstreamErrorRatio').annotations.summary).toContain('{{ $labels.provider }}');
  });
});

describe('aggregated ClusterRoles', () => {
  const role = (r: Rendered, to: string) =>
    r.docs.find((d) => d.kind === 'ClusterRole' && d.metadata.labels?.[`rbac.authorization.k8s.io/aggregate-to-${to}`] === 'true');

  test('view reads routes and keys; edit (and so admin) manages them; neither touches status writes or Secrets', () => {
    const view = role(def, 'view') as K8sObject;
    const edit = role(def, 'edit') as K8sObject;
    expect(view.rules).toEqual([
      { apiGroups: ['switchyard.dev'], resources: ['modelroutes', 'apikeys', 'modelroutes/status', 'apikeys/status'], verbs: ['get', 'list', 'watch'] },
    ]);
    expect(edit.rules).toEqual([
      {
        apiGroups: ['switchyard.dev'],
        resources: ['modelroutes', 'apikeys'],
        verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'],
      },
    ]);
    expect(edit.metadata.labels['rbac.authorization.k8s.io/aggregate-to-admin']).toBe('true');
    // Bound to nobody: Kubernetes' aggregation controller folds them into view/edit/admin.
    for (const b of def.docs.filter((d) => d.kind.endsWith('Binding'))) expect([view.metadata.name, edit.metadata.name]).not.toContain(b.roleRef.name);
    // Every resource they name is one of the CRDs'.
    const plurals = readdirSync(join(ROOT, 'crds')).map((f) => (yaml.load(readFileSync(join(ROOT, 'crds', f), 'utf8')) as any).spec.names.plural);
    for (const res of [...view.rules[0].resources, ...edit.rules[0].resources]) expect(plurals).toContain(res.split('/')[0]);
  });

  test('rbac.aggregateClusterRoles=false leaves them out', async () => {
    const r = await render({ rbac: { aggregateClusterRoles: false } }, { namespace: NS });
    expect(role(r, 'view')).toBeUndefined();
    expect(role(r, 'edit')).toBeUndefined();
  });
});

describe('image location', () => {
  test('registry + repository by default (the published pattern); an empty registry leaves the repository whole', async () => {
    const chart = yaml.load(readFileSync(join(ROOT, 'charts/switchyard/Chart.yaml'), 'utf8')) as any;
    expect(container(byComponent(def, 'Deployment', 'gateway')).image).toBe(`ghcr.io/switchyard-dev/switchyard:${chart.appVersion}`);
    expect(container(byComponent(def, 'Deployment', 'operator')).image).toBe(`ghcr.io/switchyard-dev/switchyard:${chart.appVersion}`);
    const r = await render({ image: { registry: '', repository: 'localhost:5000/switchyard', tag: 'dev' } }, { namespace: NS });
    expect(container(byComponent(r, 'Deployment', 'gateway')).image).toBe('localhost:5000/switchyard:dev');
  });
});

function container(d: K8sObject) {
  return d.spec.template.spec.containers[0];
}
