import type { ConfigSnapshot, KeySnapshot, RouteSnapshot, ShadowSnapshot, TargetSnapshot } from '../config/snapshot';

export interface Target extends TargetSnapshot {
  /** Stable identity across snapshots, for circuit breakers and connection pools. */
  id: string;
}

export interface Route extends Omit<RouteSnapshot, 'targets' | 'shadows'> {
  targets: Target[];
  shadows?: Shadow[];
}

export interface Shadow extends Omit<ShadowSnapshot, 'target'> {
  target: Target;
}

export interface ApiKey extends KeySnapshot {
  /** Empty when the key admits ServiceAccounts only. */
  digest: Buffer;
  mayUse: (model: string) => boolean;
}

export interface ModelEntry {
  id: string;
  route: Route;
}

/**
 * What the layers below routing read of the compiled snapshot; routing/table.ts builds it. An
 * interface here so a call can carry its table without core importing the code that builds it.
 */
export interface RoutingTable {
  readonly version: string;
  readonly serial: number;
  readonly snapshot: ConfigSnapshot;
  /** Model names then aliases, in configuration order: what /v1/models lists. */
  readonly models: ModelEntry[];
  route(model: string): Route | undefined;
  keyByDigest(hex: string): ApiKey | undefined;
  keyByServiceAccount(namespace: string, name: string): ApiKey | undefined;
  readonly keys: Iterable<ApiKey>;
}
