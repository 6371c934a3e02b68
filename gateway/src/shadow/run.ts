import type { Usage } from '../core/call';
import type { Shadow } from '../core/routes';

/** How one shadow request ended. */
export type ShadowOutcome = 'ok' | 'error' | 'timeout' | 'failure' | 'aborted';

/** Why a sampled request was not sent to its shadow. */
export type SkipReason = 'max_concurrent' | 'draining';

/** One shadow request, filled in as it runs and handed to the recorders when it is over. */
export interface ShadowRun {
  /** The shadow's own id (`req_…`), sent upstream as the request id. */
  requestId: string;
  /** The primary's request id. */
  shadowOf: string;
  /** The primary's trace, for the span link. */
  trace?: { traceId: string; spanId?: string };
  /** `namespace/name` of the ModelRoute. */
  route: string;
  shadow: Shadow;
  /** What the client asked for (the primary's model name). */
  requestedModel: string;
  stream: boolean;
  startTime: Date;
  /** performance.now() when the shadow was sent. */
  startedAt: number;
  endedAt?: number;
  firstTokenAt?: number;
  outcome?: ShadowOutcome;
  /** The upstream's HTTP status as the adapter reported it; absent when nothing answered. */
  status?: number;
  errorType?: string;
  responseModel?: string;
  stopReason?: string;
  usage: Usage;
  costUSD: number;
  /** Characters of the answer: text, thinking and tool input. */
  outputChars: number;
  /** The completion in the GenAI conventions' shape; only when a recorder asked for content. */
  output?: string;
}

export const durationMs = (r: ShadowRun) => (r.endedAt ?? performance.now()) - r.startedAt;
export const ttftMs = (r: ShadowRun) => (r.firstTokenAt === undefined ? undefined : r.firstTokenAt - r.startedAt);

/** What records a shadow: metrics, the access log, a span. One that throws never touches the others or the run. */
export interface ShadowRecorder {
  /** Before the shadow is sent; may return headers to add (trace context) and whether it wants the completion text. */
  start?(run: ShadowRun): { headers?: Record<string, string>; content?: boolean } | void;
  end?(run: ShadowRun): void;
  skipped?(route: string, shadow: Shadow, reason: SkipReason): void;
}
