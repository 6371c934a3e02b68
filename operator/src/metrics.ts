import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export type PushOutcome = 'applied' | 'unchanged' | 'failed';
const OUTCOMES: readonly PushOutcome[] = ['applied', 'unchanged', 'failed'];

/**
 * The operator's own metrics, on its health server's /metrics. A registry of its own (not
 * prom-client's global one), so a gateway and an operator in one process, as in tests, never
 * share or collide on series. The names are what the chart's PrometheusRule alerts on.
 */
export class OperatorMetrics {
  readonly registry = new Registry();
  private readonly reconciles: Counter<'result'>;
  private readonly pushes: Counter<'pod' | 'outcome'>;
  private readonly informerRestarts: Counter<'resource'>;
  private readonly leader: Gauge;
  private readonly lastPush: Gauge;

  constructor(now: () => number = Date.now) {
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.reconciles = new Counter({
      name: 'switchyard_operator_reconciles_total',
      help: 'Reconciles run, by result (error: the reconcile threw and is retried)',
      labelNames: ['result'],
      registers,
    });
    this.pushes = new Counter({
      name: 'switchyard_operator_pushes_total',
      help: 'Configuration pushes to gateway pods, by pod and outcome (unchanged: the pod already ran it)',
      labelNames: ['pod', 'outcome'],
      registers,
    });
    this.informerRestarts = new Counter({
      name: 'switchyard_operator_informer_restarts_total',
      help: 'Watches restarted after a failure or a silent connection, by resource',
      labelNames: ['resource'],
      registers,
    });
    this.leader = new Gauge({ name: 'switchyard_operator_leader', help: '1 while this replica holds the Lease', registers });
    this.lastPush = new Gauge({
      name: 'switchyard_operator_last_successful_push_timestamp_seconds',
      help: 'When a gateway pod last confirmed it runs the current configuration (Unix time)',
      registers,
    });
    for (const result of ['ok', 'error']) this.reconciles.inc({ result }, 0);
    this.leader.set(0);
    this.now = now;
  }

  private readonly now: () => number;

  reconciled(ok: boolean): void {
    this.reconciles.inc({ result: ok ? 'ok' : 'error' });
  }

  pushed(pod: string, outcome: PushOutcome): void {
    this.pushes.inc({ pod, outcome });
    if (outcome !== 'failed') this.lastPush.set(this.now() / 1000);
  }

  /** A pod left the gateway Service: its series go, so the `pod` label does not grow with every pod ever run. */
  podGone(pod: string): void {
    for (const outcome of OUTCOMES) this.pushes.remove({ pod, outcome });
  }

  informerRestarted(resource: string): void {
    this.informerRestarts.inc({ resource });
  }

  leading(is: boolean): void {
    this.leader.set(is ? 1 : 0);
  }
}
