import { openAccount } from './budget/account';
import { installBudgets } from './budget/install';
import type { Gateway } from './gateway';
import { installLimits } from './limits/install';
import { installShadowRecords } from './shadow/install';
import { installTelemetry } from './telemetry';

/**
 * Wires optional features (limit stores and budgets, metrics, tracing, access log) into a gateway from the
 * environment. The standalone CLI and tests that want the full gateway call this; each feature
 * registers through Gateway's hooks (observers, limiter, admin routes).
 */
export async function installFeatures(gateway: Gateway, env: NodeJS.ProcessEnv): Promise<void> {
  const telemetry = installTelemetry(gateway, env);
  installShadowRecords(gateway, telemetry);
  const store = await installLimits(gateway, env, openAccount);
  installBudgets(gateway, store, telemetry.metrics);
}
