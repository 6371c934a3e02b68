import type { ProviderAdapter } from '../providers/types';
import type { CircuitBreakers } from '../routing/breaker';
import type { RoutingTable, Target } from '../routing/table';
import type { Limiter } from '../limits/types';
import type { Observers } from './observers';
import type { Logger } from '../log';

export interface GatewayOptions {
  maxBodyBytes: number;
  bodyIdleTimeoutMs: number;
  /** Largest upstream SSE event the gateway buffers; a larger one ends the stream with an `error` event. */
  maxEventBytes: number;
  /** Largest non-streamed upstream reply the gateway buffers; a larger one is a 502. */
  maxUpstreamBodyBytes: number;
  pingIntervalMs: number;
  maxRetryWaitMs: number;
  baseBackoffMs: number;
  /** Consecutive failures that eject a target, and for how long. */
  breakerThreshold: number;
  breakerCooldownMs: number;
}

export const defaultOptions: GatewayOptions = {
  maxBodyBytes: 32 * 1024 * 1024,
  bodyIdleTimeoutMs: 30_000,
  maxEventBytes: 4 * 1024 * 1024,
  maxUpstreamBodyBytes: 32 * 1024 * 1024,
  pingIntervalMs: 10_000,
  maxRetryWaitMs: 10_000,
  baseBackoffMs: 250,
  breakerThreshold: 5,
  breakerCooldownMs: 30_000,
};

/** Everything the traffic middleware needs, passed explicitly (no module state) so tests can run many gateways in one process. */
export interface GatewayDeps {
  /** The routing table requests start with; replaced wholesale when a snapshot is applied. */
  table(): RoutingTable | undefined;
  adapter(target: Target): ProviderAdapter;
  limiter: Limiter;
  observers: Observers;
  breakers: CircuitBreakers;
  options: GatewayOptions;
  /** Wall clock (ms since epoch); injectable so tests can move time. */
  now(): number;
  log: Logger;
}
