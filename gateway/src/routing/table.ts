import { createHash } from 'node:crypto';
import type { ConfigSnapshot, TargetSnapshot } from '../config/snapshot';
import { compileGlobs } from './glob';
import type { ApiKey, ModelEntry, Route, RoutingTable as TableView } from '../core/routes';

/** The compiled, immutable view of one snapshot. A new snapshot builds a new table; requests keep the table they started with. */
export class RoutingTable implements TableView {
  readonly version: string;
  readonly serial: number;
  private readonly byModel = new Map<string, Route>();
  private readonly byDigest = new Map<string, ApiKey>();
  private readonly all: ApiKey[] = [];
  /** `namespace/name` → key, and namespace → key for `name: '*'`; an exact entry wins over the wildcard. */
  private readonly byServiceAccount = new Map<string, ApiKey>();
  private readonly byNamespace = new Map<string, ApiKey>();
  /** Model names then aliases, in configuration order: what /v1/models lists. */
  readonly models: ModelEntry[] = [];

  constructor(readonly snapshot: ConfigSnapshot) {
    this.version = snapshot.version;
    this.serial = snapshot.serial;
    for (const r of snapshot.routes) {
      const route: Route = { ...r, targets: r.targets.map((t) => ({ ...t, id: targetId(t) })), shadows: undefined };
      if (r.shadows?.length) route.shadows = r.shadows.map((s) => ({ ...s, target: { ...s.target, id: targetId(s.target) } }));
      for (const name of [r.model, ...r.aliases]) {
        if (this.byModel.has(name)) continue; // the compiler rejects clashes; first wins if one slips through
        this.byModel.set(name, route);
        this.models.push({ id: name, route });
      }
    }
    for (const k of snapshot.keys) {
      const key: ApiKey = { ...k, digest: Buffer.from(k.sha256 ?? '', 'hex'), mayUse: compileGlobs(k.allowedModels) };
      this.all.push(key);
      if (k.sha256) this.byDigest.set(k.sha256, key);
      for (const sa of k.serviceAccounts ?? []) {
        // The compiler rejects an ApiKey claiming a ServiceAccount another already claims; first wins if one slips through.
        const map = sa.name === '*' ? this.byNamespace : this.byServiceAccount;
        const id = sa.name === '*' ? sa.namespace : `${sa.namespace}/${sa.name}`;
        if (!map.has(id)) map.set(id, key);
      }
    }
  }

  route(model: string): Route | undefined {
    return this.byModel.get(model);
  }

  /** Looks a key up by its SHA-256 digest. */
  keyByDigest(hex: string): ApiKey | undefined {
    return this.byDigest.get(hex);
  }

  /** The ApiKey admitting ServiceAccount `namespace/name`. */
  keyByServiceAccount(namespace: string, name: string): ApiKey | undefined {
    return this.byServiceAccount.get(`${namespace}/${name}`) ?? this.byNamespace.get(namespace);
  }

  get keys(): Iterable<ApiKey> {
    return this.all;
  }
}

export function targetId(t: TargetSnapshot): string {
  return createHash('sha256')
    .update(`${t.provider}\n${t.baseURL}\n${t.model}\n${t.apiKey ?? ''}\n${t.project ?? ''}\n${t.aws?.accessKeyId ?? ''}\n${t.googleServiceAccount ?? ''}`)
    .digest('hex')
    .slice(0, 16);
}
