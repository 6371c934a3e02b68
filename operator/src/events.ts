import type { ObjectResult } from './compile';
import { API_VERSION, type K8sObject } from './types';

export const REPORTING_CONTROLLER = 'switchyard.dev/operator';

/** events.k8s.io/v1 MicroTime: exactly six fraction digits (a JS Date has three, and the API server refuses it). */
export function microTime(d: Date): string {
  return d.toISOString().replace(/Z$/, '000Z');
}

/**
 * A Warning Event for a rejected object, so `kubectl describe` and `kubectl events` show why.
 * The note is compile()'s message, which names Secrets and keys but never holds their values.
 */
export function rejectionEvent(obj: K8sObject, result: ObjectResult, instance: string, now: Date): Record<string, unknown> {
  return {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: { generateName: `${obj.metadata.name}.`, namespace: obj.metadata.namespace },
    eventTime: microTime(now),
    reportingController: REPORTING_CONTROLLER,
    reportingInstance: instance.slice(0, 128),
    action: 'Compile',
    reason: result.reason,
    type: 'Warning',
    note: result.message.length > 1024 ? result.message.slice(0, 1021) + '...' : result.message,
    regarding: { apiVersion: API_VERSION, kind: result.kind, name: obj.metadata.name, namespace: obj.metadata.namespace, uid: obj.metadata.uid, resourceVersion: obj.metadata.resourceVersion },
  };
}
