/**
 * Upstream bytes as a JSON object or array, or undefined when they are not one. The one parse
 * helper for upstream replies: a scalar (`42`, `"ok"`, `null`) is no reply any provider sends, so
 * it counts as not JSON too.
 */
export function parseJson(raw: Buffer | string): any {
  try {
    const v = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
    return v && typeof v === 'object' ? v : undefined;
  } catch {
    return undefined;
  }
}
