import type { Gateway } from '../gateway';
import type { Telemetry } from '../telemetry';
import { shadowAccessLog, shadowMetrics, shadowSpans } from './records';

/** Plugs the shadows' records into the gateway's runner: whichever of metrics, traces and the access log are on. */
export function installShadowRecords(gateway: Gateway, telemetry: Telemetry): void {
  if (telemetry.metrics) gateway.shadows.addRecorder(shadowMetrics(gateway.registry));
  if (telemetry.tracing) gateway.shadows.addRecorder(shadowSpans(telemetry.tracing));
  if (telemetry.accessSink) gateway.shadows.addRecorder(shadowAccessLog(telemetry.accessSink));
}
