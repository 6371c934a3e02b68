import Anthropic from '@anthropic-ai/sdk';
import type { CallContext } from '../../gateway/src/core/call';
import { installFeatures } from '../../gateway/src/features';
import type { Gateway } from '../../gateway/src/gateway';
import type { K8sObject } from '../../gateway/src/config/k8s-object';
import { startFakeAnthropic, type FakeAnthropic } from './fake-anthropic';
import { CLIENT_KEY, baseURL, snapshotOf, startGateway } from './gateway';

export interface ClockedGateway {
  /** The fake Anthropic upstream, shared by the suite. */
  fake: FakeAnthropic;
  /** The gateway of the current test (closed after each test). */
  gw?: Gateway;
  /** The gateway's clock (epoch ms): tests move it to refill buckets or start a new period. */
  clock: number;
  /** Every finished request of the current gateway, in order. */
  calls: CallContext[];
  /** The official SDK pointed at the current gateway with the test client key. */
  client: Anthropic;
  /** Starts the test's gateway on `objects`, its features installed with `env`, the clock at `at`. */
  start(objects: K8sObject[], o?: { at?: string; gateways?: number; env?: Record<string, string> }): Promise<Gateway>;
}

/**
 * The harness the limits and budgets suites share: one fake upstream for the suite, one gateway
 * per test with an injected clock, its features installed as `npm start` would (access log off), and its finished
 * requests recorded. Registers its own Jest hooks.
 */
export function clockedGateway(): ClockedGateway {
  const h: ClockedGateway = {
    fake: undefined as unknown as FakeAnthropic,
    clock: 0,
    calls: [],
    client: undefined as unknown as Anthropic,
    async start(objects, { at = '2026-03-23T10:00:00Z', gateways, env = {} } = {}) {
      h.clock = Date.parse(at);
      h.calls = [];
      const gw = await startGateway(snapshotOf(objects, gateways), { now: () => h.clock });
      h.gw = gw;
      // The access log off unless a test asks for it: tests read `calls`, not stdout.
      await installFeatures(gw, { SWITCHYARD_ACCESS_LOG: 'off', ...env });
      gw.observers.add({ requestEnd: (c) => h.calls.push(c) });
      h.client = new Anthropic({ baseURL: baseURL(gw), apiKey: CLIENT_KEY, maxRetries: 0 });
      return gw;
    },
  };
  beforeAll(async () => {
    h.fake = await startFakeAnthropic();
  });
  afterAll(async () => {
    await h.fake.close();
  });
  afterEach(async () => {
    await h.gw?.close();
    h.gw = undefined;
    h.fake.queue.length = 0;
  });
  return h;
}
