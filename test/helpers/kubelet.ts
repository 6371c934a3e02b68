import type { Gateway } from '../../gateway/src/gateway';
import type { FakeKube } from './fake-kube';
import { endpointSlice } from './cluster-fixtures';

interface Pod {
  name: string;
  /** The port the operator is told about (a gateway's admin port, or a proxy in front of it). */
  adminPort: number;
  probe: () => Promise<boolean>;
  ready?: boolean;
}

/**
 * What the kubelet and the EndpointSlice controller do for the gateway Service: probe each pod's
 * /readyz and keep its endpoint's `ready` condition in step. Each pod gets its own slice because
 * every in-process gateway has its own admin port (a slice has one port list).
 */
export class FakeKubelet {
  private pods = new Map<string, Pod>();
  private timer?: NodeJS.Timeout;
  private paused = false;

  constructor(private readonly kube: FakeKube) {}

  start(intervalMs = 100): this {
    this.timer = setInterval(() => this.tick().catch(() => undefined), intervalMs);
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Freezes the slices as they are (a pod can restart without its endpoint changing). */
  pause(paused = true): void {
    this.paused = paused;
  }

  /** Adds a pod: its endpoint appears not ready, as a new pod's does until its probe passes. */
  addGateway(name: string, gw: Gateway, adminPort = gw.adminPort): void {
    const url = `http://127.0.0.1:${gw.adminPort}/readyz`;
    const pod: Pod = { name, adminPort, probe: () => probe(url) };
    this.pods.set(name, pod);
    this.kube.create(endpointSlice(`switchyard-gateway-${name}`, adminPort, [{ address: '127.0.0.1', pod: name, ready: false }]));
    pod.ready = false;
  }

  /** Points an existing pod's probe at a new gateway object (the same pod restarted). */
  replaceGateway(name: string, gw: Gateway): void {
    const url = `http://127.0.0.1:${gw.adminPort}/readyz`;
    this.pods.get(name)!.probe = () => probe(url);
  }

  removeGateway(name: string): void {
    this.pods.delete(name);
    this.kube.delete('EndpointSlice', 'switchyard', `switchyard-gateway-${name}`, 'discovery.k8s.io');
  }

  private async tick(): Promise<void> {
    if (this.paused) return;
    for (const pod of this.pods.values()) {
      const ready = await pod.probe();
      if (ready === pod.ready || this.paused || !this.pods.has(pod.name)) continue;
      pod.ready = ready;
      this.kube.update(endpointSlice(`switchyard-gateway-${pod.name}`, pod.adminPort, [{ address: '127.0.0.1', pod: pod.name, ready }]));
    }
  }
}

async function probe(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}
