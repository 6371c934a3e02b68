import type { Registry } from 'prom-client';

/**
 * Counters and histograms for the per-request hot path, registered on the gateway's prom-client
 * registry (which formats them like its own). Why not prom-client's Counter and Histogram: they
 * validate and hash the label object on every observation and keep histogram buckets in objects
 * keyed by the bound's string, which cost more per request than the rest of the telemetry
 * together. Here a series is looked up once by its label values and then updated in place.
 */
type LabelValues = ReadonlyArray<string | undefined>;

let resets = 0;
/** Bumped by every family's reset(): a cache of series objects taken before it is stale. */
export const seriesResets = (): number => resets;

interface MetricValue {
  labels: Record<string, string>;
  value: number;
  metricName?: string;
}

abstract class Family<S> {
  protected readonly series = new Map<string, { labels: Record<string, string>; s: S }>();
  readonly aggregator = 'sum';
  abstract readonly type: string;

  constructor(
    readonly name: string,
    readonly help: string,
    protected readonly labelNames: readonly string[],
    registry: Registry,
  ) {
    registry.registerMetric(this as any);
  }

  protected abstract create(): S;

  /** What the registry formats on a scrape (prom-client's metric interface). */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: MetricValue[] }> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.collect() };
  }

  /** The series for these label values (in labelNames order); an undefined value leaves the label out. */
  at(values: LabelValues): S {
    const key = values.join('\u0001');
    let entry = this.series.get(key);
    if (!entry) {
      const labels: Record<string, string> = {};
      values.forEach((v, i) => {
        if (v !== undefined) labels[this.labelNames[i]] = v;
      });
      entry = { labels, s: this.create() };
      this.series.set(key, entry);
    }
    return entry.s;
  }

  reset(): void {
    this.series.clear();
    resets++;
  }

  protected abstract collect(): MetricValue[];
}

export class FastCounter extends Family<{ value: number }> {
  readonly type = 'counter';

  protected create() {
    return { value: 0 };
  }

  inc(values: LabelValues, by = 1): void {
    this.at(values).value += by;
  }

  protected collect(): MetricValue[] {
    return [...this.series.values()].map(({ labels, s }) => ({ labels, value: s.value }));
  }
}

export interface HistogramSeries {
  counts: Float64Array;
  sum: number;
  count: number;
}

/** Records one observation in a series of a histogram with these buckets. */
export function observeIn(s: HistogramSeries, buckets: readonly number[], v: number): void {
  s.sum += v;
  s.count++;
  for (let i = 0; i < buckets.length; i++) {
    if (v <= buckets[i]) {
      s.counts[i]++;
      break;
    }
  }
}

export class FastHistogram extends Family<HistogramSeries> {
  readonly type = 'histogram';

  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    readonly buckets: readonly number[],
    registry: Registry,
  ) {
    super(name, help, labelNames, registry);
  }

  protected create(): HistogramSeries {
    return { counts: new Float64Array(this.buckets.length), sum: 0, count: 0 };
  }

  observe(values: LabelValues, v: number): void {
    observeIn(this.at(values), this.buckets, v);
  }

  protected collect(): MetricValue[] {
    const out: MetricValue[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const { labels, s } of this.series.values()) {
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += s.counts[i];
        out.push({ metricName: bucketName, labels: { ...labels, le: String(le) }, value: cumulative });
      });
      out.push({ metricName: bucketName, labels: { ...labels, le: '+Inf' }, value: s.count });
      out.push({ metricName: `${this.name}_sum`, labels, value: s.sum });
      out.push({ metricName: `${this.name}_count`, labels, value: s.count });
    }
    return out;
  }
}
