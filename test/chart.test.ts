/**
 * The Helm chart (charts/switchyard), rendered without helm: Go's text/template + sprig through
 * test/helm/render.go. Every value set's documents are checked against the Kubernetes schemas;
 * RBAC against operator/src/rbac.ts; the gateway Deployment against the gateway's real process.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import Ajv from 'ajv';
import yaml from 'js-yaml';
import { GATEWAY_COMMAND } from '../gateway/src/cli';
import { parseCommand } from '../gateway/src/cli-spec';
import { parseOperatorArgs } from '../operator/src/options';
import { OPERATOR_NON_RESOURCE_URLS, OPERATOR_PERMISSIONS } from '../operator/src/rbac';
import { compileYaml } from '../gateway/src/config/yaml-config';
import { snapshotOf, simpleConfig } from './helpers/gateway';
import { CHART, ROOT, find, render, renderer, type K8sObject, type Rendered } from './helm/render';
import { schemaErrors, unknownFields } from './helm/k8s-validate';
import { valueDocs, valuesTable } from './helm/values-doc';

const NS = 'ai-gateway';
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');

/** The value sets the chart is checked with (beyond the defaults). */
const VALUE_SETS: Record<string, { values: object; name?: string; namespace?: string }> = {
  default: { values: {} },
  ha: {
    values: {
      commonLabels: { team: 'platform' },
      image: { registry: 'registry.example.com', repository: 'platform/switchyard', digest: `sha256:${'a'.repeat(64)}` },
      imagePullSecrets: [{ name: 'regcred' }],
      gateway: {
        replicas: 3,
        drainSeconds: 600,
        autoscaling: {
          enabled: true,
          minReplicas: 3,
          maxReplicas: 20,
          targetCPUUtilizationPercentage: 60,
          targetMemoryUtilizationPercentage: 80,
          behavior: { scaleDown: { stabilizationWindowSeconds: 600 } },
        },
        podDisruptionBudget: { enabled: true, minAvailable: 2 },
        service: { type: 'LoadBalancer', annotations: { 'service.beta.kubernetes.io/aws-load-balancer-internal': 'true' } },
        priorityClassName: 'high-priority',
        nodeSelector: { 'kubernetes.io/os': 'linux' },
        tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'ai', effect: 'NoSchedule' }],
        affinity: {
          nodeAffinity: {
            preferredDuringSchedulingIgnoredDuringExecution: [
              { weight: 1, preference: { matchExpressions: [{ key: 'pool', operator: 'In', values: ['gw'] }] } },
            ],
          },
        },
        annotations: { 'deploy.example.com/owner': 'platform' },
        podAnnotations: { 'cluster-autoscaler.kubernetes.io/safe-to-evict': 'true' },
        podLabels: { tier: 'edge' },
        extraEnv: [{ name: 'SWITCHYARD_MAX_BODY_BYTES', value: '67108864' }],
        extraEnvFrom: [{ configMapRef: { name: 'gw-extra' } }],
        extraVolumes: [{ name: 'ca', configMap: { name: 'corp-ca' } }],
        extraVolumeMounts: [{ name: 'ca', mountPath: '/etc/corp-ca', readOnly: true }],
        extraArgs: ['--max-body-bytes', '67108864'],
      },
      operator: { replicas: 2, priorityClassName: 'high-priority', tolerations: [{ key: 'dedicated', operator: 'Exists' }] },
      networkPolicy: {
        enabled: true,
        allowedNamespaces: ['team-a', 'team-b'],
        extraTrafficFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }],
      },
    },
  },
  namespaced: {
    name: 'gw',
    namespace: 'platform',
    values: {
      operator: { watchNamespace: 'team-a', extraEnv: [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=384' }] },
      adminToken: { existingSecret: 'switchyard-admin', existingSecretKey: 'admin-token' },
      gateway: { serviceAccount: { annotations: { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::1:role/gw' } } },
    },
  },
  observability: {
    values: {
      redis: { url: 'redis://redis-master.cache.svc:6379/0', failurePolicy: 'closed' },
      serviceMonitor: {
        enabled: true,
        interval: '15s',
        labels: { release: 'kube-prometheus-stack' },
        metricRelabelings: [{ action: 'labeldrop', regex: 'api_key' }],
      },
      grafanaDashboard: { enabled: true, labels: { grafana_dashboard: '1', team: 'ai' }, annotations: { grafana_folder: 'AI' } },
      otel: {
        endpoint: 'http://otel-collector.observability:4317',
        protocol: 'grpc',
        extraEnv: [
          { name: 'OTEL_TRACES_SAMPLER', value: 'parentbased_traceidratio' },
          { name: 'OTEL_TRACES_SAMPLER_ARG', value: '0.1' },
        ],
      },
    },
  },
  exposure: {
    values: {
      image: { registry: '', repository: 'localhost:5000/switchyard', tag: 'dev' },
      httpRoute: {
        enabled: true,
        parentRefs: [{ name: 'public', namespace: 'gateway-system', sectionName: 'https' }],
        hostnames: ['llm.example.com'],
        labels: { exposure: 'public' },
        annotations: { 'example.com/owner': 'ai' },
      },
      ingress: {
        enabled: true,
        className: 'nginx',
        hosts: ['llm.example.com', 'llm.internal.example.com'],
        tls: [{ hosts: ['llm.example.com'], secretName: 'llm-tls' }],
        annotations: { 'nginx.ingress.kubernetes.io/proxy-read-timeout': '600', 'nginx.ingress.kubernetes.io/proxy-buffering': 'off' },
      },
      serviceMonitor: { enabled: true },
      prometheusRule: { enabled: true, labels: { release: 'kube-prometheus-stack' }, alertLabels: { team: 'ai' }, serverErrorRatio: 0.02 },
      operator: {
        replicas: 2,
        podDisruptionBudget: { enabled: true },
        livenessProbe: { periodSeconds: 30, timeoutSeconds: 5, failureThreshold: 4 },
        readinessProbe: { periodSeconds: 7, timeoutSeconds: 2, failureThreshold: 2 },
        topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule' }],
      },
    },
  },
  redisExistingSecret: {
    values: { redis: { existingSecret: 'redis-creds', existingSecretKey: 'REDIS_URL' }, gateway: { terminationGracePeriodSeconds: 400, preStopSeconds: 0 } },
  },
};

const rendered: Record<string, Rendered> = {};

beforeAll(async () => {
  renderer(); // build (or reuse) the Go renderer once, outside the per-test timeouts
  await Promise.all(
    Object.entries(VALUE_SETS).map(async ([set, { values, name, namespace }]) => {
      rendered[set] = await render(values, { name, namespace: namespace ?? NS, apiVersions: ['monitoring.coreos.com/v1'] });
    }),
  );
}, 120_000);

// --- helpers ------------------------------------------------------------------------------

const deployment = (r: Rendered, component: string) => {
  const hits = r.docs.filter((d) => d.kind === 'Deployment' && d.metadata.labels?.['app.kubernetes.io/component'] === component);
  if (hits.length !== 1) throw new Error(`expected one ${component} Deployment, found ${hits.length}`);
  return hits[0];
};
const podSpec = (d: K8sObject) => d.spec.template.spec;
const container = (d: K8sObject) => podSpec(d).containers[0];
const envOf = (d: K8sObject) => new Map<string, any>(container(d).env.map((e: any) => [e.name, e]));
const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
const decode = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');

/** The admin Service: the one whose port is named "admin". */
const adminService = (r: Rendered) => {
  const hits = r.docs.filter((d) => d.kind === 'Service' && d.spec.ports.some((p: any) => p.name === 'admin'));
  if (hits.length !== 1) throw new Error(`expected one Service with an admin port, found ${hits.length}`);
  return hits[0];
};

function operatorFlag(r: Rendered, flag: string): string | undefined {
  const args: string[] = container(deployment(r, 'operator')).args;
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

/** What the operator's ServiceAccount may do, rule by rule, with the namespace it applies in ('*' = all). */
function operatorGrants(r: Rendered) {
  const op = deployment(r, 'operator');
  const sa = podSpec(op).serviceAccountName;
  const ns = op.metadata.namespace;
  const grants: Array<{ apiGroup: string; resource: string; verb: string; scope: string; resourceNames?: string[] }> = [];
  for (const b of r.docs.filter((d) => d.kind === 'RoleBinding' || d.kind === 'ClusterRoleBinding')) {
    if (!b.subjects.some((s: any) => s.kind === 'ServiceAccount' && s.name === sa && s.namespace === ns)) continue;
    const role = r.docs.find(
      (d) => d.kind === b.roleRef.kind && d.metadata.name === b.roleRef.name && (d.kind === 'ClusterRole' || d.metadata.namespace === b.metadata.namespace),
    );
    if (!role) throw new Error(`${b.kind} ${b.metadata.name} refers to a missing ${b.roleRef.kind} ${b.roleRef.name}`);
    const scope: string = b.kind === 'ClusterRoleBinding' ? '*' : (b.metadata.namespace ?? '');
    for (const rule of role.rules) {
      if (rule.nonResourceURLs) continue; // nonResourceGrants()
      for (const apiGroup of rule.apiGroups)
        for (const resource of rule.resources)
          for (const verb of rule.verbs) grants.push({ apiGroup, resource, verb, scope, resourceNames: rule.resourceNames });
    }
  }
  return grants;
}

/** Non-resource URLs the operator's ServiceAccount may read, `verb path`. */
function nonResourceGrants(r: Rendered): string[] {
  const sa = podSpec(deployment(r, 'operator')).serviceAccountName;
  const out: string[] = [];
  for (const b of r.docs.filter((d) => d.kind === 'ClusterRoleBinding' && d.subjects.some((s: any) => s.kind === 'ServiceAccount' && s.name === sa))) {
    const role = r.docs.find((d) => d.kind === 'ClusterRole' && d.metadata.name === b.roleRef.name)!;
    for (const rule of role.rules) for (const url of rule.nonResourceURLs ?? []) for (const verb of rule.verbs) out.push(`${verb} ${url}`);
  }
  return out.sort();
}

const expectedTriples = () => OPERATOR_PERMISSIONS.flatMap((p) => p.verbs.map((v) => `${p.apiGroup}|${p.resource}|${v}`)).sort();

/** Custom resources, the Secrets they reference and Events about them live where the operator watches; the rest in the release namespace. */
const watchedScope = (apiGroup: string, resource: string) =>
  apiGroup === 'switchyard.dev' || (apiGroup === '' && resource === 'secrets') || (apiGroup === 'events.k8s.io' && resource === 'events');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

// --- chart files ("helm lint") --------------------------------------------------------------

describe('chart files', () => {
  const chart = yaml.load(read('charts/switchyard/Chart.yaml')) as any;

  test('required files are present', () => {
    for (const f of [
      'Chart.yaml',
      'values.yaml',
      'values.schema.json',
      'README.md',
      '.helmignore',
      'templates/NOTES.txt',
      'templates/_helpers.tpl',
      'dashboards/switchyard.json',
    ]) {
      expect([f, existsSync(join(CHART, f))]).toEqual([f, true]);
    }
  });

  test('Chart.yaml: apiVersion v2, semver version, name of its folder, appVersion = package.json version', () => {
    expect(chart.apiVersion).toBe('v2');
    expect(chart.name).toBe('switchyard');
    expect(chart.type ?? 'application').toBe('application');
    expect(chart.version).toMatch(/^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/);
    expect(typeof chart.appVersion).toBe('string');
    expect(chart.appVersion).toBe(JSON.parse(read('package.json')).version);
    expect(chart.description).toBeTruthy();
  });

  test('crds/ is identical to the root crds/', () => {
    const root = readdirSync(join(ROOT, 'crds')).sort();
    expect(readdirSync(join(CHART, 'crds')).sort()).toEqual(root);
    for (const f of root) expect([f, readFileSync(join(CHART, 'crds', f), 'utf8') === read(`crds/${f}`)]).toEqual([f, true]);
  });

  test('the CRDs validate as apiextensions.k8s.io/v1 CustomResourceDefinitions', () => {
    for (const f of readdirSync(join(CHART, 'crds'))) {
      for (const doc of yaml.loadAll(readFileSync(join(CHART, 'crds', f), 'utf8')) as K8sObject[]) {
        if (!doc) continue;
        expect([f, schemaErrors(doc), unknownFields(doc)]).toEqual([f, [], []]);
      }
    }
  });

  test('the dashboard is valid Grafana dashboard JSON', () => {
    const d = JSON.parse(readFileSync(join(CHART, 'dashboards/switchyard.json'), 'utf8'));
    expect(typeof d.title).toBe('string');
    expect(Array.isArray(d.panels)).toBe(true);
    expect(d.panels.length).toBeGreaterThan(0);
  });

  test('every value in values.yaml is documented there, and README.md has the current values table', () => {
    const text = readFileSync(join(CHART, 'values.yaml'), 'utf8');
    const docs = valueDocs(text);
    expect(docs.filter((d) => d.description === undefined && !d.group).map((d) => d.path)).toEqual([]);
    expect(docs.filter((d) => d.description !== undefined).length).toBeGreaterThan(60);
    // Regenerate with: node -r ./test/helm/ts-register.js test/helm/values-doc.ts
    expect(readFileSync(join(CHART, 'README.md'), 'utf8')).toContain(valuesTable(text));
  });

  test('the values layout of docs/DESIGN.md is kept', () => {
    const v = yaml.load(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as any;
    const paths = [
      'image.repository',
      'image.tag',
      'image.pullPolicy',
      'imagePullSecrets',
      'gateway.replicas',
      'gateway.resources',
      'gateway.drainSeconds',
      'gateway.autoscaling.enabled',
      'gateway.autoscaling.minReplicas',
      'gateway.autoscaling.maxReplicas',
      'gateway.autoscaling.targetCPUUtilizationPercentage',
      'gateway.podDisruptionBudget.enabled',
      'gateway.podDisruptionBudget.minAvailable',
      'gateway.service.type',
      'gateway.service.port',
      'gateway.service.adminPort',
      'gateway.extraEnv',
      'gateway.nodeSelector',
      'gateway.tolerations',
      'gateway.affinity',
      'gateway.topologySpreadConstraints',
      'operator.replicas',
      'operator.resources',
      'operator.watchNamespaces',
      'operator.watchNamespace',
      'operator.extraEnv',
      'adminToken.existingSecret',
      'redis.url',
      'redis.existingSecret',
      'redis.failurePolicy',
      'otel.endpoint',
      'otel.protocol',
      'otel.extraEnv',
      'networkPolicy.enabled',
      'networkPolicy.allowedNamespaces',
      'serviceMonitor.enabled',
      'serviceMonitor.interval',
      'serviceMonitor.labels',
      'grafanaDashboard.enabled',
      'grafanaDashboard.labels',
    ];
    const missing = paths.filter((p) => p.split('.').reduce((o: any, k) => (o && k in o ? o[k] : undefined), v) === undefined && !/null$/.test(p));
    expect(missing).toEqual([]);
  });

  test('no secret in the defaults: values.yaml holds no token, URL with credentials or key', () => {
    const v = readFileSync(join(CHART, 'values.yaml'), 'utf8');
    expect(v).not.toMatch(/sk-[A-Za-z0-9]|:\/\/[^/\s]*:[^/\s]*@|token:\s*["']?[A-Za-z0-9]{8,}/);
    const d = yaml.load(v) as any;
    expect([d.adminToken.existingSecret, d.redis.url, d.redis.existingSecret]).toEqual(['', '', '']);
  });
});

// --- values.schema.json ---------------------------------------------------------------------

describe('values.schema.json', () => {
  const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8'));
  const ajv = new Ajv({ allErrors: true, allowUnionTypes: true });
  const validate = ajv.compile(schema);
  const defaults = yaml.load(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as any;
  /** Helm's coalescing: user maps merge into the defaults, anything else replaces, null deletes. */
  const merge = (base: any, over: any): any => {
    if (!over || typeof over !== 'object' || Array.isArray(over) || !base || typeof base !== 'object' || Array.isArray(base)) return over;
    const out = { ...base };
    for (const [k, v] of Object.entries(over)) {
      if (v === null) delete out[k];
      else out[k] = merge(base[k], v);
    }
    return out;
  };
  const check = (values: object) => (validate(merge(defaults, values)) ? [] : validate.errors!.map((e) => `${e.instancePath} ${e.message}`));

  test('accepts the defaults and every value set', () => {
    for (const [set, { values }] of Object.entries(VALUE_SETS)) expect([set, check(values)]).toEqual([set, []]);
  });

  test.each<[string, object, RegExp]>([
    ['a misspelt key', { gateway: { replica: 3 } }, /must NOT have additional properties/],
    ['an unknown top-level key', { operater: {} }, /must NOT have additional properties/],
    ['replicas as a string', { gateway: { replicas: 'two' } }, /\/gateway\/replicas must be integer/],
    ['a negative drain', { gateway: { drainSeconds: -1 } }, /\/gateway\/drainSeconds must be >= 0/],
    ['a numeric image tag (1.0 in YAML)', { image: { tag: 1.0 } }, /\/image\/tag must be string/],
    ['an unknown pull policy', { image: { pullPolicy: 'Sometimes' } }, /\/image\/pullPolicy must be equal to one of the allowed values/],
    ['an unknown Service type', { gateway: { service: { type: 'Ingress' } } }, /\/gateway\/service\/type must be equal to one of the allowed values/],
    ['a port out of range', { gateway: { service: { port: 70000 } } }, /\/gateway\/service\/port must be <= 65535/],
    ['an unknown Redis failure policy', { redis: { failurePolicy: 'maybe' } }, /\/redis\/failurePolicy must be equal to one of the allowed values/],
    ['a Redis URL without scheme', { redis: { url: 'redis-master:6379' } }, /\/redis\/url must match pattern/],
    ['an unknown OTLP protocol', { otel: { protocol: 'udp' } }, /\/otel\/protocol must be equal to one of the allowed values/],
    ['a bad namespace name', { networkPolicy: { allowedNamespaces: ['Team_A'] } }, /\/networkPolicy\/allowedNamespaces\/0 must match pattern/],
    ['a bad watch namespace', { operator: { watchNamespace: 'Team A' } }, /\/operator\/watchNamespace must match exactly one schema in oneOf/],
    ['a bad namespace in watchNamespaces', { operator: { watchNamespaces: ['team-a', 'Team A'] } }, /\/operator\/watchNamespaces\/1 must match pattern/],
    ['watchNamespaces as a string', { operator: { watchNamespaces: 'team-a' } }, /\/operator\/watchNamespaces must be array/],
    [
      'a PDB minAvailable that is neither a number nor a percentage',
      { gateway: { podDisruptionBudget: { minAvailable: 'half' } } },
      /\/gateway\/podDisruptionBudget\/minAvailable must match exactly one schema in oneOf/,
    ],
    ['a Prometheus duration without unit', { serviceMonitor: { interval: '30' } }, /\/serviceMonitor\/interval must match pattern/],
    ['a log level that does not exist', { gateway: { logLevel: 'verbose' } }, /\/gateway\/logLevel must be equal to one of the allowed values/],
    ['extraEnv entries without a name', { gateway: { extraEnv: [{ value: 'x' }] } }, /\/gateway\/extraEnv\/0 must have required property 'name'/],
    ['labels with non-string values', { commonLabels: { team: 1 } }, /\/commonLabels\/team must be string/],
    ['autoscaling.enabled as a string', { gateway: { autoscaling: { enabled: 'yes' } } }, /\/gateway\/autoscaling\/enabled must be boolean/],
  ])('rejects %s', (_what, values, message) => {
    const errors = check(values);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.join('\n')).toMatch(message);
  });
});

// --- every rendered document ----------------------------------------------------------------

test('the validators catch what the API server would reject', () => {
  const bad: K8sObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'x' },
    spec: {
      selector: { matchLabels: { a: 'b' } },
      template: {
        metadata: { labels: { a: 'b' } },
        spec: {
          containers: [{ name: 'c', image: 'i', ports: [{ containerPort: '80' }], livenessProbe: { httpGet: { path: '/', port: 'admin' }, periodSecond: 10 } }],
        },
      },
    },
  };
  expect(schemaErrors(bad).join('\n')).toMatch(/containerPort must be integer/);
  expect(unknownFields(bad)).toEqual(['.spec.template.spec.containers[0].livenessProbe.periodSecond']);
  expect(
    schemaErrors({ apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor', metadata: { name: 'x' }, spec: { endpoints: [{ port: 1 }] } }).join('\n'),
  ).toMatch(/port must be string/);
});

describe.each(Object.keys(VALUE_SETS))('value set %s', (set) => {
  test('every document is a valid Kubernetes object (schemas, no unknown fields)', () => {
    const r = rendered[set];
    expect(r.docs.length).toBeGreaterThan(5);
    for (const d of r.docs) {
      const where = `${d._source}: ${d.kind} ${d.metadata?.name}`;
      expect([where, typeof d.apiVersion, typeof d.kind, typeof d.metadata?.name]).toEqual([where, 'string', 'string', 'string']);
      expect([where, schemaErrors(d)]).toEqual([where, []]);
      const unknown = unknownFields(d);
      if (['ServiceMonitor', 'PodMonitor', 'PrometheusRule', 'HTTPRoute'].includes(d.kind))
        expect(unknown).toBeUndefined(); // CRD: validated by its CRD schema above
      else expect([where, unknown]).toEqual([where, []]);
    }
  });

  test('names, namespaces and labels are well-formed and unique', () => {
    const r = rendered[set];
    const ns = VALUE_SETS[set].namespace ?? NS;
    const seen = new Set<string>();
    for (const d of r.docs) {
      const where = `${d.kind} ${d.metadata.name}`;
      const clusterScoped = ['ClusterRole', 'ClusterRoleBinding'].includes(d.kind);
      expect([where, clusterScoped ? undefined : typeof d.metadata.namespace]).toEqual([where, clusterScoped ? undefined : 'string']);
      if (!clusterScoped && !['Role', 'RoleBinding'].includes(d.kind) && d.kind !== 'ServiceMonitor' && d.kind !== 'ConfigMap')
        expect([where, d.metadata.namespace]).toEqual([where, ns]);
      const maxLen = d.kind === 'Service' ? 63 : 253;
      expect([where, d.metadata.name.length <= maxLen && /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(d.metadata.name)]).toEqual([where, true]);
      const key = `${d.kind}/${d.metadata.namespace ?? ''}/${d.metadata.name}`;
      expect([key, seen.has(key)]).toEqual([key, false]);
      seen.add(key);
      const labels = d.metadata.labels ?? {};
      expect([where, labels['app.kubernetes.io/instance'], labels['app.kubernetes.io/managed-by']]).toEqual([
        where,
        VALUE_SETS[set].name ?? 'switchyard',
        'Helm',
      ]);
      for (const [k, v] of Object.entries(labels))
        expect([where, k, typeof v === 'string' && v.length <= 63 && /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(v)]).toEqual([where, k, true]);
    }
  });

  test('the values the templates saw pass values.schema.json', () => {
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8'));
    const validate = new Ajv({ allErrors: true, allowUnionTypes: true }).compile(schema);
    const values = structuredClone(rendered[set].values);
    delete values.adminToken._generated; // remembered by the templates during the render
    expect(validate(values) ? [] : validate.errors).toEqual([]);
  });

  test('the gateway and operator pods are hardened', () => {
    for (const component of ['gateway', 'operator']) {
      const d = deployment(rendered[set], component);
      const pod = podSpec(d);
      const c = container(d);
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
      expect(pod.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
      expect(c.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        capabilities: { drop: ['ALL'] },
      });
      expect(c.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
      expect(pod.volumes).toContainEqual({ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } });
      expect(pod.enableServiceLinks).toBe(false);
      expect(c.resources.requests).toBeDefined();
      expect(c.resources.limits.memory).toBeDefined();
    }
    expect(podSpec(deployment(rendered[set], 'gateway')).automountServiceAccountToken).toBe(false);
  });
});

test.each(Object.keys(VALUE_SETS))('%s renders without references to missing values (helm lint --strict)', async (set) => {
  const { values, name, namespace } = VALUE_SETS[set];
  const strict = await render(values, { name, namespace: namespace ?? NS, apiVersions: ['monitoring.coreos.com/v1'], strict: true });
  expect(strict.docs.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual(rendered[set].docs.map((d) => `${d.kind}/${d.metadata.name}`));
});

test('every template renders something in some value set', () => {
  const templates = readdirSync(join(CHART, 'templates')).filter((f) => !f.startsWith('_') && f !== 'NOTES.txt');
  const used = new Set(Object.values(rendered).flatMap((r) => r.docs.map((d) => d._source)));
  expect(templates.filter((t) => !used.has(`templates/${t}`))).toEqual([]);
});

// --- the gateway Deployment and its Services ----------------------------------------------

describe('gateway Deployment and Services', () => {
  test('ports and probes agree with the gateway CLI defaults (8080/9090, /healthz, /readyz on the admin port)', () => {
    const codeDefault = (env: string) => Number(GATEWAY_COMMAND.flags.find((f) => f.env === env)?.default);
    expect([codeDefault('SWITCHYARD_LISTEN_PORT'), codeDefault('SWITCHYARD_ADMIN_LISTEN_PORT')]).toEqual([8080, 9090]);
    const c = container(deployment(rendered.default, 'gateway'));
    const ports = Object.fromEntries(c.ports.map((p: any) => [p.name, p.containerPort]));
    expect(ports).toEqual({ http: codeDefault('SWITCHYARD_LISTEN_PORT'), admin: codeDefault('SWITCHYARD_ADMIN_LISTEN_PORT') });
    expect(c.args.slice(0, 5)).toEqual(['gateway', '--port', '8080', '--admin-port', '9090']);
    // The CLI's default is not the chart's business: a pod must listen on every interface.
    expect(c.args.slice(c.args.indexOf('--host'), c.args.indexOf('--host') + 2)).toEqual(['--host', '0.0.0.0']);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    expect(read('gateway/src/admin/app.ts')).toMatch(/router\.get\('\/healthz'[\s\S]*router\.get\('\/readyz'/);
  });

  test("gateway.limits reach the gateway as flags its own table parses: the chart's defaults are the CLI's, set values are passed", async () => {
    const parsed = (r: Rendered) => {
      const args: string[] = container(deployment(r, 'gateway')).args;
      expect(args[0]).toBe('gateway');
      return parseCommand(GATEWAY_COMMAND, args.slice(1), {});
    };
    const LIMITS = {
      'body-timeout-seconds': 'bodyTimeoutSeconds',
      'max-event-bytes': 'maxEventBytes',
      'max-upstream-body-bytes': 'maxUpstreamBodyBytes',
      'stream-stall-seconds': 'streamStallSeconds',
    } as const;
    const d = parsed(rendered.default);
    for (const [flag, key] of Object.entries(LIMITS)) {
      expect([flag, d.number(flag)]).toEqual([flag, Number(GATEWAY_COMMAND.flags.find((f) => f.name === flag)!.default)]);
      expect([flag, rendered.default.values.gateway.limits[key]]).toEqual([flag, d.number(flag)]);
    }
    // Unset: the gateway derives its cap from the pod's file-descriptor limit.
    expect(d.string('max-connections')).toBeUndefined();

    const set = {
      bodyTimeoutSeconds: 90,
      maxConnections: 20000,
      maxEventBytes: 8 * 1024 * 1024,
      maxUpstreamBodyBytes: 64 * 1024 * 1024,
      streamStallSeconds: 30.5,
    };
    const p = parsed(await render({ gateway: { limits: set } }, { namespace: NS }));
    for (const [flag, key] of Object.entries(LIMITS)) expect([flag, p.number(flag)]).toEqual([flag, set[key]]);
    expect(p.number('max-connections')).toBe(20000);
  });

  test.each(Object.keys(VALUE_SETS))('%s: terminationGracePeriodSeconds > drain + preStop, drain passed to the gateway', (set) => {
    const r = rendered[set];
    const c = container(deployment(r, 'gateway'));
    const drain = Number(c.args[c.args.indexOf('--drain-seconds') + 1]);
    const preStop = c.lifecycle?.preStop ? Number(c.lifecycle.preStop.exec.command[1]) : 0;
    expect(drain).toBe(r.values.gateway.drainSeconds);
    expect(preStop).toBe(r.values.gateway.preStopSeconds);
    if (preStop) expect(c.lifecycle.preStop.exec.command).toEqual(['sleep', String(preStop)]);
    expect(podSpec(deployment(r, 'gateway')).terminationGracePeriodSeconds).toBeGreaterThan(drain + preStop);
  });

  test('the traffic Service carries only the http port, to the gateway pods', () => {
    const r = rendered.default;
    const gw = deployment(r, 'gateway');
    const svc = find(r, 'Service', 'switchyard');
    expect(svc.spec.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' }]);
    expect(matches(svc.spec.selector, gw.spec.template.metadata.labels)).toBe(true);
    expect(svc.spec.publishNotReadyAddresses).toBeUndefined();
    expect(matches(svc.spec.selector, deployment(r, 'operator').spec.template.metadata.labels)).toBe(false);
  });

  test.each(Object.keys(VALUE_SETS))('%s: the operator is pointed at a Service whose port "admin" selects the gateway pods, ready or not', (set) => {
    const r = rendered[set];
    const ns = VALUE_SETS[set].namespace ?? NS;
    const gw = deployment(r, 'gateway');
    const admin = adminService(r);
    expect(operatorFlag(r, '--gateway-service')).toBe(`${ns}/${admin.metadata.name}`);
    expect(operatorFlag(r, '--admin-port-name')).toBe('admin');
    const port = admin.spec.ports.find((p: any) => p.name === 'admin');
    expect(port.targetPort).toBe('admin');
    expect(container(gw).ports.find((p: any) => p.name === 'admin').containerPort).toBe(r.values.gateway.containerPorts.admin);
    expect(matches(admin.spec.selector, gw.spec.template.metadata.labels)).toBe(true);
    expect(matches(gw.spec.selector.matchLabels, gw.spec.template.metadata.labels)).toBe(true);
    // A gateway turns ready only after the operator's first push: the operator must see it before.
    expect(admin.spec.publishNotReadyAddresses).toBe(true);
    expect(admin.spec.clusterIP).toBe('None');
  });

  test('topology spread constraints select the gateway pods', () => {
    const gw = deployment(rendered.default, 'gateway');
    const tsc = podSpec(gw).topologySpreadConstraints;
    expect(tsc.map((t: any) => t.topologyKey)).toEqual(['topology.kubernetes.io/zone', 'kubernetes.io/hostname']);
    for (const t of tsc) expect(t.labelSelector.matchLabels).toEqual(gw.spec.selector.matchLabels);
  });

  test('the admin token reaches both Deployments from the same Secret key, and the operator gets POD_NAMESPACE', () => {
    for (const set of Object.keys(VALUE_SETS)) {
      const r = rendered[set];
      const refs = ['gateway', 'operator'].map((c) => envOf(deployment(r, c)).get('SWITCHYARD_ADMIN_TOKEN').valueFrom.secretKeyRef);
      expect(refs[0]).toEqual(refs[1]);
      expect(envOf(deployment(r, 'operator')).get('POD_NAMESPACE').valueFrom).toEqual({ fieldRef: { fieldPath: 'metadata.namespace' } });
    }
    expect(envOf(deployment(rendered.namespaced, 'gateway')).get('SWITCHYARD_ADMIN_TOKEN').valueFrom.secretKeyRef).toEqual({
      name: 'switchyard-admin',
      key: 'admin-token',
    });
  });

  test('the rendered container runs the real gateway: probes answer, the operator token pushes, SIGTERM drains', async () => {
    const [http, admin] = [await freePort(), await freePort()];
    const r = await render({ gateway: { containerPorts: { http, admin } } }, { namespace: NS });
    const gw = deployment(r, 'gateway');
    const c = container(gw);
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', SWITCHYARD_LISTEN_HOST: '127.0.0.1' };
    for (const e of c.env) {
      if (e.value !== undefined) env[e.name] = e.value.replace(/\$\((\w+)\)/g, (_: string, v: string) => env[v] ?? '');
      else if (e.valueFrom.fieldRef)
        env[e.name] = { 'metadata.name': 'switchyard-gateway-0', 'metadata.namespace': NS }[e.valueFrom.fieldRef.fieldPath as string]!;
      else if (e.valueFrom.secretKeyRef) env[e.name] = decode(find(r, 'Secret', e.valueFrom.secretKeyRef.name).data[e.valueFrom.secretKeyRef.key]);
    }
    const portOf = (name: string) => c.ports.find((p: any) => p.name === name).containerPort;
    const probe = (p: any) => fetch(`http://127.0.0.1:${portOf(p.httpGet.port)}${p.httpGet.path}`).then((res) => res.status);
    const child = spawn(process.execPath, ['-r', './test/helm/ts-register.js', 'gateway/src/cli.ts', ...c.args], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (b) => (stderr += b));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      let live = 0;
      for (let i = 0; i < 100 && live !== 200; i++) {
        live = await probe(c.livenessProbe).catch(() => 0);
        if (live !== 200) await new Promise((res) => setTimeout(res, 100));
      }
      expect([live, stderr]).toEqual([200, expect.any(String)]);
      expect(await probe(c.readinessProbe)).toBe(503); // no configuration until the operator pushes
      const push = await fetch(`http://127.0.0.1:${portOf('admin')}/admin/config`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${env.SWITCHYARD_ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(snapshotOf(simpleConfig('http://127.0.0.1:9'))),
      });
      expect(push.status).toBe(200);
      expect(await probe(c.readinessProbe)).toBe(200);
      expect((await fetch(`http://127.0.0.1:${portOf('http')}/`)).status).toBe(200);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

// --- RBAC -----------------------------------------------------------------------------------

describe('operator RBAC', () => {
  test.each([
    ['default', '*'],
    ['namespaced', 'team-a'],
  ])('%s: grants exactly operator/src/rbac.ts, in the right scopes', (set, watchScope) => {
    const r = rendered[set];
    const ns = VALUE_SETS[set].namespace ?? NS;
    const grants = operatorGrants(r);
    expect(grants.map((g) => `${g.apiGroup}|${g.resource}|${g.verb}`).sort()).toEqual(expectedTriples());
    for (const g of grants) {
      expect([g.resource, g.scope]).toEqual([g.resource, watchedScope(g.apiGroup, g.resource) ? watchScope : ns]);
      // Only the Lease's reads and writes can be pinned to a name: the operator's own Lease.
      if (g.resource === 'leases' && g.verb !== 'create') expect(g.resourceNames).toEqual([operatorFlag(r, '--lease-name')]);
      else expect(g.resourceNames).toBeUndefined();
    }
    expect(operatorFlag(r, '--lease-name')).toBe(deployment(r, 'operator').metadata.name);
    // The rendered arguments are ones the operator accepts, and the Lease it uses is that one.
    const args: string[] = container(deployment(r, 'operator')).args;
    expect(args[0]).toBe('operator');
    expect(parseOperatorArgs(args.slice(1), { SWITCHYARD_ADMIN_TOKEN: 't', POD_NAMESPACE: ns })).toMatchObject({
      leaseName: operatorFlag(r, '--lease-name'),
      leaseNamespace: ns,
    });
    // Plus the issuer-discovery ClusterRole, the only place non-resource URLs can be granted.
    expect(r.docs.filter((d) => d.kind === 'ClusterRole' && d._source === 'templates/operator-rbac.yaml').length).toBe((watchScope === '*' ? 1 : 0) + 1);
    expect(nonResourceGrants(r)).toEqual(OPERATOR_NON_RESOURCE_URLS.map((u) => `get ${u}`).sort());
    expect(parseOperatorArgs(args.slice(1), { SWITCHYARD_ADMIN_TOKEN: 't', POD_NAMESPACE: ns })).toMatchObject({
      saAudience: 'switchyard',
      saKeysRefreshMs: 300_000,
    });
  });

  test('no wildcards, and nothing bound to the gateway', () => {
    for (const r of Object.values(rendered)) {
      for (const role of r.docs.filter((d) => d.kind === 'Role' || d.kind === 'ClusterRole')) {
        for (const rule of role.rules)
          expect([...(rule.apiGroups ?? []), ...(rule.resources ?? []), ...(rule.nonResourceURLs ?? []), ...rule.verbs]).not.toContain('*');
      }
      const gwSa = podSpec(deployment(r, 'gateway')).serviceAccountName;
      for (const b of r.docs.filter((d) => d.kind.endsWith('Binding'))) expect(b.subjects.map((s: any) => s.name)).not.toContain(gwSa);
    }
  });

  test('--namespace is passed exactly when watchNamespace is set', () => {
    expect(operatorFlag(rendered.default, '--namespace')).toBeUndefined();
    expect(operatorFlag(rendered.namespaced, '--namespace')).toBe('team-a');
  });

  test('watchNamespaces: a Role and RoleBinding per namespace, no ClusterRole, one --namespace list the operator accepts; the deprecated watchNamespace folds in', async () => {
    const r = await render({ operator: { watchNamespaces: ['team-a', 'team-b'], watchNamespace: 'team-c' } }, { namespace: NS });
    // Cluster-scoped grants left: the aggregated view/edit roles (for users) and the issuer-discovery
    // role, which holds non-resource URLs only; nothing cluster-wide reads Secrets or the CRs.
    const clusterScoped = r.docs.filter((d) => (d.kind === 'ClusterRole' || d.kind === 'ClusterRoleBinding') && d._source === 'templates/operator-rbac.yaml');
    expect(clusterScoped.map((d) => d.metadata.name)).toEqual(Array(2).fill(expect.stringMatching(/-issuer-discovery$/)));
    expect(
      clusterScoped
        .filter((d) => d.kind === 'ClusterRole')
        .flatMap((d) => d.rules)
        .every((rule: any) => rule.nonResourceURLs && !rule.resources),
    ).toBe(true);
    const grants = operatorGrants(r);
    for (const scope of ['team-a', 'team-b', 'team-c']) {
      const here = grants
        .filter((g) => g.scope === scope)
        .map((g) => `${g.apiGroup}|${g.resource}|${g.verb}`)
        .sort();
      expect([scope, here]).toEqual([scope, expectedTriples().filter((t) => watchedScope(t.split('|')[0], t.split('|')[1]))]);
    }
    expect(grants.filter((g) => g.scope === NS).every((g) => !watchedScope(g.apiGroup, g.resource))).toBe(true);
    expect(operatorFlag(r, '--namespace')).toBe('team-a,team-b,team-c');
    const args: string[] = container(deployment(r, 'operator')).args;
    expect(parseOperatorArgs(args.slice(1), { SWITCHYARD_ADMIN_TOKEN: 't' }).namespaces).toEqual(['team-a', 'team-b', 'team-c']);
    expect(r.notes).toContain('namespaces "team-a", "team-b", "team-c" only');
    // The same namespace in both values is one Role, not two.
    const dup = await render({ operator: { watchNamespaces: ['team-a'], watchNamespace: 'team-a' } }, { namespace: NS });
    expect(dup.docs.filter((d) => d.kind === 'Role' && d.metadata.namespace === 'team-a')).toHaveLength(1);
  });

  test('rbac.create=false renders no RBAC', async () => {
    const r = await render({ rbac: { create: false } }, { namespace: NS });
    expect(r.docs.filter((d) => /Role/.test(d.kind))).toEqual([]);
  });

  test('serviceAccountAuth: the audience reaches the operator; disabled, no issuer-discovery grant and the operator never reads the keys', async () => {
    const custom = await render({ serviceAccountAuth: { audience: 'llm-gateway', keysRefreshSeconds: 60 } }, { namespace: NS });
    expect([operatorFlag(custom, '--sa-audience'), operatorFlag(custom, '--sa-keys-refresh-seconds')]).toEqual(['llm-gateway', '60']);
    const off = await render({ serviceAccountAuth: { enabled: false } }, { namespace: NS });
    expect(operatorFlag(off, '--sa-keys-refresh-seconds')).toBe('0');
    expect(nonResourceGrants(off)).toEqual([]);
    expect(off.docs.filter((d) => d.kind === 'ClusterRole').map((d) => d.metadata.name)).not.toContainEqual(expect.stringMatching(/issuer-discovery/));
  });
});

// --- admin token ------------------------------------------------------------------------------

describe('admin token', () => {
  test('generated at install: random, 48 characters, the same in the Secret and both checksums', async () => {
    const [a, b] = [rendered.default, await render({}, { namespace: NS })];
    const tokens = [a, b].map((r) => decode(find(r, 'Secret', 'switchyard-admin-token').data.token));
    expect(tokens[0]).toMatch(/^[A-Za-z0-9]{48}$/);
    expect(tokens[0]).not.toBe(tokens[1]);
    const sums = ['gateway', 'operator'].map((c) => deployment(a, c).spec.template.metadata.annotations['checksum/admin-token']);
    expect(sums[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(sums[1]).toBe(sums[0]);
  });

  test('kept across upgrades (read back with lookup)', async () => {
    const existing = find(rendered.default, 'Secret', 'switchyard-admin-token');
    const up = await render({}, { namespace: NS, upgrade: true, lookup: [existing] });
    expect(find(up, 'Secret', 'switchyard-admin-token').data).toEqual(existing.data);
    const sum = (r: Rendered) => deployment(r, 'gateway').spec.template.metadata.annotations['checksum/admin-token'];
    expect(sum(up)).toBe(sum(rendered.default));
  });

  test('an existing Secret is used as is; pods restart when lookup sees it change', async () => {
    expect(rendered.namespaced.docs.filter((d) => d.kind === 'Secret')).toEqual([]);
    expect(deployment(rendered.namespaced, 'gateway').spec.template.metadata.annotations).toBeUndefined();
    const secret = (token: string): K8sObject => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'switchyard-admin', namespace: 'platform' },
      data: { 'admin-token': Buffer.from(token).toString('base64') },
    });
    const { values, name, namespace } = VALUE_SETS.namespaced;
    const [one, two] = await Promise.all(['first', 'second'].map((t) => render(values, { name, namespace, lookup: [secret(t)] })));
    const sum = (r: Rendered, c: string) => deployment(r, c).spec.template.metadata.annotations['checksum/admin-token'];
    expect(sum(one, 'gateway')).toBe(sum(one, 'operator'));
    expect(sum(one, 'gateway')).not.toBe(sum(two, 'gateway'));
  });
});

// --- optional parts -----------------------------------------------------------------------

describe('HA: autoscaling, disruption budget, network policy', () => {
  const r = () => rendered.ha;

  test('the HPA scales the gateway Deployment, which then leaves replicas to it', () => {
    const hpa = find(r(), 'HorizontalPodAutoscaler');
    const gw = deployment(r(), 'gateway');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: gw.metadata.name });
    expect([hpa.spec.minReplicas, hpa.spec.maxReplicas]).toEqual([3, 20]);
    expect(hpa.spec.metrics.map((m: any) => [m.resource.name, m.resource.target.averageUtilization])).toEqual([
      ['cpu', 60],
      ['memory', 80],
    ]);
    expect(hpa.spec.behavior).toEqual({ scaleDown: { stabilizationWindowSeconds: 600 } });
    expect(gw.spec.replicas).toBeUndefined();
    expect(deployment(rendered.default, 'gateway').spec.replicas).toBe(2);
    expect(rendered.default.docs.filter((d) => ['HorizontalPodAutoscaler', 'PodDisruptionBudget', 'NetworkPolicy'].includes(d.kind))).toEqual([]);
  });

  test('the PDB covers the gateway pods', () => {
    const pdb = find(r(), 'PodDisruptionBudget');
    expect(pdb.spec.minAvailable).toBe(2);
    expect(matches(pdb.spec.selector.matchLabels, deployment(r(), 'gateway').spec.template.metadata.labels)).toBe(true);
  });

  test('the NetworkPolicy: traffic from the listed namespaces, admin from the operator and Prometheus only', () => {
    const np = find(r(), 'NetworkPolicy');
    const gw = deployment(r(), 'gateway');
    const op = deployment(r(), 'operator');
    expect(matches(np.spec.podSelector.matchLabels, gw.spec.template.metadata.labels)).toBe(true);
    expect(matches(np.spec.podSelector.matchLabels, op.spec.template.metadata.labels)).toBe(false);
    expect(np.spec.policyTypes).toEqual(['Ingress']);
    const [traffic, admin] = np.spec.ingress;
    expect(traffic.ports).toEqual([{ port: 'http', protocol: 'TCP' }]);
    expect(traffic.from[0].namespaceSelector.matchExpressions).toEqual([
      { key: 'kubernetes.io/metadata.name', operator: 'In', values: [NS, 'team-a', 'team-b'] },
    ]);
    expect(traffic.from[1]).toEqual({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } });
    expect(admin.ports).toEqual([{ port: 'admin', protocol: 'TCP' }]);
    expect(admin.from).toHaveLength(2);
    expect(admin.from[0].namespaceSelector).toBeUndefined(); // the release namespace only
    expect(matches(admin.from[0].podSelector.matchLabels, op.spec.template.metadata.labels)).toBe(true);
    expect(matches(admin.from[0].podSelector.matchLabels, gw.spec.template.metadata.labels)).toBe(false);
    expect(admin.from[1]).toEqual({ namespaceSelector: {}, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } } });
  });

  test('scheduling and image values reach the pods', () => {
    const gw = deployment(r(), 'gateway');
    const pod = podSpec(gw);
    expect(container(gw).image).toBe(`registry.example.com/platform/switchyard@sha256:${'a'.repeat(64)}`);
    expect(pod.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(pod.priorityClassName).toBe('high-priority');
    expect(pod.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
    expect(pod.tolerations[0].key).toBe('dedicated');
    expect(pod.affinity.nodeAffinity).toBeDefined();
    expect(pod.terminationGracePeriodSeconds).toBe(600 + 5 + 15);
    expect(gw.metadata.annotations).toEqual({ 'deploy.example.com/owner': 'platform' });
    expect(gw.spec.template.metadata.annotations['cluster-autoscaler.kubernetes.io/safe-to-evict']).toBe('true');
    expect(gw.spec.template.metadata.labels.tier).toBe('edge');
    expect(gw.metadata.labels.team).toBe('platform');
    expect(container(gw).args.slice(-2)).toEqual(['--max-body-bytes', '67108864']);
    expect(container(gw).envFrom).toEqual([{ configMapRef: { name: 'gw-extra' } }]);
    expect(container(gw).volumeMounts).toContainEqual({ name: 'ca', mountPath: '/etc/corp-ca', readOnly: true });
    expect(pod.volumes).toContainEqual({ name: 'ca', configMap: { name: 'corp-ca' } });
    expect(envOf(gw).get('SWITCHYARD_MAX_BODY_BYTES').value).toBe('67108864');
    expect(find(r(), 'Service', 'switchyard').spec.type).toBe('LoadBalancer');
    expect(podSpec(deployment(r(), 'operator')).priorityClassName).toBe('high-priority');
    expect(deployment(r(), 'operator').spec.replicas).toBe(2);
  });
});

describe('Redis, ServiceMonitor, dashboard, OpenTelemetry', () => {
  const r = () => rendered.observability;

  test('Redis URL from a chart-managed Secret, failure policy as env; restart on URL change', () => {
    const gw = deployment(r(), 'gateway');
    const env = envOf(gw);
    const ref = env.get('SWITCHYARD_REDIS_URL').valueFrom.secretKeyRef;
    expect(decode(find(r(), 'Secret', ref.name).data[ref.key])).toBe('redis://redis-master.cache.svc:6379/0');
    expect(env.get('SWITCHYARD_REDIS_FAILURE_POLICY').value).toBe('closed');
    expect(gw.spec.template.metadata.annotations['checksum/redis']).toMatch(/^[0-9a-f]{64}$/);
    expect(envOf(deployment(rendered.default, 'gateway')).has('SWITCHYARD_REDIS_URL')).toBe(false);
    expect(envOf(deployment(rendered.default, 'operator')).has('SWITCHYARD_REDIS_URL')).toBe(false);
  });

  test('Redis URL from an existing Secret', () => {
    const env = envOf(deployment(rendered.redisExistingSecret, 'gateway'));
    expect(env.get('SWITCHYARD_REDIS_URL').valueFrom.secretKeyRef).toEqual({ name: 'redis-creds', key: 'REDIS_URL' });
    expect(env.get('SWITCHYARD_REDIS_FAILURE_POLICY').value).toBe('open');
    expect(rendered.redisExistingSecret.docs.filter((d) => d.kind === 'Secret').map((d) => d.metadata.name)).toEqual(['switchyard-admin-token']);
  });

  test('the ServiceMonitor scrapes /metrics on the admin port of the admin Service only', () => {
    const sm = find(r(), 'ServiceMonitor');
    const admin = adminService(r());
    const traffic = find(r(), 'Service', 'switchyard');
    expect(matches(sm.spec.selector.matchLabels, admin.metadata.labels)).toBe(true);
    expect(matches(sm.spec.selector.matchLabels, traffic.metadata.labels)).toBe(false);
    expect(sm.spec.namespaceSelector).toEqual({ matchNames: [NS] });
    expect(sm.spec.endpoints).toEqual([
      {
        port: 'admin',
        path: '/metrics',
        scheme: 'http',
        interval: '15s',
        scrapeTimeout: '10s',
        metricRelabelings: [{ action: 'labeldrop', regex: 'api_key' }],
      },
    ]);
    expect(sm.metadata.labels.release).toBe('kube-prometheus-stack');
    expect(read('gateway/src/admin/app.ts')).toMatch(/router\.get\('\/metrics'/);
  });

  test('the dashboard ConfigMap carries dashboards/switchyard.json with the sidecar label', () => {
    const cm = find(r(), 'ConfigMap');
    expect(cm.metadata.labels).toMatchObject({ grafana_dashboard: '1', team: 'ai' });
    expect(cm.metadata.annotations).toEqual({ grafana_folder: 'AI' });
    expect(JSON.parse(cm.data['switchyard.json'])).toEqual(JSON.parse(readFileSync(join(CHART, 'dashboards/switchyard.json'), 'utf8')));
  });

  test('OTEL_* reach both Deployments, with per-component service names', () => {
    for (const [component, service] of [
      ['gateway', 'switchyard'],
      ['operator', 'switchyard-operator'],
    ]) {
      const env = envOf(deployment(r(), component));
      expect(env.get('OTEL_EXPORTER_OTLP_ENDPOINT').value).toBe('http://otel-collector.observability:4317');
      expect(env.get('OTEL_EXPORTER_OTLP_PROTOCOL').value).toBe('grpc');
      expect(env.get('OTEL_SERVICE_NAME').value).toBe(service);
      expect(env.get('OTEL_RESOURCE_ATTRIBUTES').value).toContain('k8s.pod.name=$(POD_NAME)');
      expect(env.get('OTEL_TRACES_SAMPLER').value).toBe('parentbased_traceidratio');
      expect(env.get('OTEL_TRACES_SAMPLER_ARG').value).toBe('0.1');
    }
    expect([...envOf(deployment(rendered.default, 'gateway')).keys()].filter((k) => k.startsWith('OTEL_'))).toEqual([]);
  });
});

// --- install-time checks and NOTES ---------------------------------------------------------

describe('install-time checks', () => {
  test.each<[string, object, RegExp]>([
    [
      'a grace period not above drain + preStop',
      { gateway: { drainSeconds: 60, preStopSeconds: 5, terminationGracePeriodSeconds: 65 } },
      /terminationGracePeriodSeconds \(65\) must be greater than .* \(65\)/,
    ],
    ['minReplicas above maxReplicas', { gateway: { autoscaling: { enabled: true, minReplicas: 5, maxReplicas: 3 } } }, /minReplicas must not exceed/],
    [
      'an HPA without any metric',
      { gateway: { autoscaling: { enabled: true, targetCPUUtilizationPercentage: null } } },
      /needs targetCPUUtilizationPercentage or targetMemoryUtilizationPercentage/,
    ],
    [
      'a PDB that would block every drain',
      { gateway: { replicas: 1, podDisruptionBudget: { enabled: true, minAvailable: 1 } } },
      /minAvailable \(1\) must be below/,
    ],
    ['a Kubernetes older than the chart supports', {}, /incompatible with Kubernetes/],
  ])('fails on %s', async (what, values, message) => {
    await expect(render(values, { namespace: NS, kubeVersion: what.startsWith('a Kubernetes') ? 'v1.24.0' : undefined })).rejects.toThrow(message);
  });

  test('NOTES.txt tells how to call the gateway, and its example compiles with the real compiler', () => {
    const notes = rendered.default.notes;
    expect(notes).toContain(`http://switchyard.${NS}.svc/v1/messages`);
    expect(notes).toContain(`kubectl -n ${NS} port-forward svc/switchyard 8080:80`);
    const m = /<<'YAML'\n([\s\S]*?)\n\s*YAML\n/.exec(notes);
    expect(m).not.toBeNull();
    const example = m![1].replace(/^ {5}/gm, '');
    const secrets = `\n---\n${yaml.dump({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'anthropic' }, stringData: { apiKey: 'sk-ant-x' } })}---\n${yaml.dump({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'team-a-key' }, stringData: { key: 'sk-team-a-1' } })}`;
    const { snapshot } = compileYaml(example + secrets, 'NOTES.txt', {}, 1);
    expect(snapshot.routes.map((r) => r.model)).toEqual(['claude-sonnet-4-5']);
    expect(snapshot.keys).toHaveLength(1);
    expect(notes).toMatch(/set redis\.url/); // 2 pods, no Redis: say limits are per pod
  });

  test('NOTES.txt follows the release: a namespaced operator, another port', async () => {
    expect(rendered.namespaced.notes).toContain('http://gw-switchyard.platform.svc/v1/messages');
    expect(rendered.namespaced.notes).toContain('kubectl -n team-a apply');
    expect(rendered.namespaced.notes).toContain('namespace "team-a" only');
    const r = await render({ gateway: { service: { port: 8080 } } }, { namespace: NS });
    expect(r.notes).toContain(`http://switchyard.${NS}.svc:8080/v1/messages`);
  });

  test('namespaces that YAML 1.1 would read as numbers or booleans are quoted', async () => {
    for (const ns of ['123', 'on']) {
      const r = await render({ operator: { watchNamespace: ns } }, { namespace: ns });
      // Cluster-scoped objects (the issuer-discovery ClusterRole) have no namespace to quote.
      const namespaces = r.docs
        .filter((d) => !d.kind.startsWith('Cluster'))
        .map((d) => d.metadata.namespace)
        .concat(r.docs.flatMap((d) => (d.subjects ?? []).map((s: any) => s.namespace)));
      expect(new Set(namespaces)).toEqual(new Set([ns]));
      expect(operatorFlag(r, '--namespace')).toBe(ns);
      expect(operatorFlag(r, '--gateway-service')).toBe(`${ns}/switchyard-admin`);
      // js-yaml reads YAML 1.2, where `on` is a string; Kubernetes' YAML 1.1 reads it as true.
      expect(Object.values(r.manifests).join('\n')).not.toMatch(new RegExp(`^\\s*(- |[\\w]+: )${ns}$`, 'm'));
    }
  });

  test('a release name without "switchyard" gets it as a suffix; fullnameOverride wins', async () => {
    expect(deployment(rendered.namespaced, 'gateway').metadata.name).toBe('gw-switchyard-gateway');
    const r = await render({ fullnameOverride: 'llm' }, { namespace: NS });
    expect(
      r.docs
        .filter((d) => d.kind === 'Service')
        .map((d) => d.metadata.name)
        .sort(),
    ).toEqual(['llm', 'llm-admin']);
  });
});

// --- container image -----------------------------------------------------------------------

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const stages = dockerfile.split(/^FROM /m).slice(1);

  test('multi-stage: build with dev dependencies, runtime with production dependencies only', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:(22|24)-[\w-]*slim@sha256:[0-9a-f]{64}$/m);
    expect(stages[0]).toMatch(/npm ci\b(?![^\n]*--omit=dev)/);
    expect(stages[0]).toMatch(/npm run build/);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    const runtime = stages[stages.length - 1];
    expect(runtime).not.toMatch(/npm (ci|install)(?![^\n]*--omit=dev)/);
  });

  test('runtime: non-root, PID 1 handles signals, runs the CLI, has what packageRoot() needs', () => {
    const runtime = stages[stages.length - 1];
    expect(runtime).toMatch(/^USER [1-9]\d*(:[1-9]\d*)?$/m);
    expect(runtime).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--", "node", "dist\/gateway\/src\/cli\.js"\]$/m);
    expect(existsSync(join(ROOT, 'gateway/src/cli.ts'))).toBe(true);
    expect(JSON.parse(read('tsconfig.json')).compilerOptions.outDir).toBe('dist');
    expect(runtime).toMatch(/^COPY crds \.\/crds$/m);
    expect(runtime).toMatch(/^COPY package\.json/m);
    expect(runtime).toMatch(/^COPY --from=build \/src\/dist \.\/dist$/m);
    // The chart runs as this user.
    const uid = Number(/^USER (\d+)/m.exec(runtime)![1]);
    expect(podSpec(deployment(rendered.default, 'gateway')).securityContext.runAsUser).toBe(uid);
  });

  test('.dockerignore keeps node_modules, dist and .git out of the build context', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim());
    for (const p of ['node_modules', 'dist', '.git']) expect(ignored).toContain(p);
    for (const p of ['gateway', 'operator', 'crds', 'package.json', 'package-lock.json', 'tsconfig.json']) expect(ignored).not.toContain(p);
  });
});
