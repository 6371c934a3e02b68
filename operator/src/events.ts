import type { ObjectResult } from '../../gateway/src/config/compile';
import { API_VERSION, type K8sObject } from '../../gateway/src/config/k8s-object';

export const REPORTING_CONTROLLER = 'switchyard.dev/operator';

/** events.k8s.io/v1 MicroTime: exactly six fraction digits (a JS Date has three, and the API server refuses it). */
export function microTime(d: Date): string {
  return d.toISOString().replace(/Z$/, '000Z');
}

/** What one Warning Event says about one object. */
export interface WarningEventSpec {
  kind: 'ModelRoute' | 'ApiKey';
  action: string;
  reason: string;
  note: string;
}

/** An events.k8s.io/v1 Warning Event regarding `obj`; the note is cut to the API's 1 KiB. */
export function warningEvent(obj: K8sObject, e: WarningEventSpec, instance: string, now: Date): Record<string, unknown> {
  return {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: { generateName: `${obj.metadata.name}.`, namespace: obj.metadata.namespace },
    eventTime: microTime(now),
    reportingController: REPORTING_CONTROLLER,
    reportingInstance: instance.slice(0, 128),
    action: e.action,
    reason: e.reason,
    type: 'Warning',
    note: e.note.length > 1024 ? e.note.slice(0, 1021) + '...' : e.note,
    regarding: {
      apiVersion: API_VERSION,
      kind: e.kind,
      name: obj.metadata.name,
      namespace: obj.metadata.namespace,
      uid: obj.metadata.uid,
      resourceVersion: obj.metadata.resourceVersion,
    },
  };
}

/**
 * A Warning Event for a rejected object, so `kubectl describe` and `kubectl events` show why.
 * The note is compile()'s message, which names Secrets and keys but never holds their values.
 */
export function rejectionEvent(obj: K8sObject, result: ObjectResult, instance: string, now: Date): Record<string, unknown> {
  return warningEvent(obj, { kind: result.kind, action: 'Compile', reason: result.reason, note: result.message }, instance, now);
}
