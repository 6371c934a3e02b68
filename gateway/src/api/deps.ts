import type { ProviderAdapter } from '../core/upstream';
import type { CircuitBreakers } from '../routing/breaker';
import type { RoutingTable, Target } from '../core/routes';
import type { Limiter } from '../core/limits';
import type { Observers } from '../core/observers';
import type { Logger } from '../log';
import type { Socket } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import type { CallContext } from '../core/call';

export interface GatewayOptions {
  maxBodyBytes: number;
  bodyIdleTimeoutMs: number;
  /** Longest a whole request body may take to arrive (slow-POST guard). */
  bodyTimeoutMs: number;
  /** Longest a client may take to send its request headers (slowloris guard; Node answers 408). */
  headersTimeoutMs: number;
  /** Largest upstream SSE event the gateway buffers; a larger one ends the stream with an `error` event. */
  maxEventBytes: number;
  /** Largest non-streamed upstream reply the gateway buffers; a larger one is a 502. */
  maxUpstreamBodyBytes: number;
  pingIntervalMs: number;
  /** Longest a response may wait for a client that has stopped reading (its socket full); then the client is cut off. 0: no limit. */
  streamStallMs: number;
  maxRetryWaitMs: number;
  baseBackoffMs: number;
  /** Consecutive failures that eject a target, and for how long. */
  breakerThreshold: number;
  breakerCooldownMs: number;
  /** Client connections taken before new ones get a 503; unset: derived from the descriptor limit; 0: no cap. */
  maxConnections?: number;
}

export const defaultOptions: GatewayOptions = {
  maxBodyBytes: 32 * 1024 * 1024,
  bodyIdleTimeoutMs: 30_000,
  bodyTimeoutMs: 60_000,
  headersTimeoutMs: 60_000,
  maxEventBytes: 4 * 1024 * 1024,
  maxUpstreamBodyBytes: 32 * 1024 * 1024,
  pingIntervalMs: 10_000,
  streamStallMs: 120_000,
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
  /** Aborted when a drain runs out of time: streams and upstream waits still open end with an error the client can act on. */
  shutdown: AbortSignal;
  /** Whether this connection was accepted beyond the connection cap (its requests get a 503). */
  overCapacity(socket: Socket): boolean;
  /** Shadow traffic: called once an admitted request's route has shadows; never throws, never awaited. */
  shadows: { offer(call: CallContext, req: { raw: Buffer; search: string; clientHeaders: IncomingHttpHeaders }): void };
  /** Logs running out of file descriptors (rate-limited). */
  reportFdExhaustion(what: string, fields: Record<string, unknown>): void;
}
