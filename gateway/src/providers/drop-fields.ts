/**
 * Strips fields a cloud refuses ("Extra inputs are not permitted") from a request body, in place.
 * A path is dot-separated; a segment ending in `[]` walks every element of that array
 * (`tools[].eager_input_streaming`, `messages[].content[].cache_control.ttl`).
 */
export function dropFields(body: Record<string, unknown>, paths: readonly string[]): void {
  for (const p of paths) dropPath(body, p.split('.'));
}

function dropPath(node: unknown, parts: string[]): void {
  if (!node || typeof node !== 'object' || parts.length === 0) return;
  const [head, ...rest] = parts;
  const isArray = head.endsWith('[]');
  const key = isArray ? head.slice(0, -2) : head;
  const obj = node as Record<string, unknown>;
  if (!Object.prototype.hasOwnProperty.call(obj, key)) return;
  if (rest.length === 0 && !isArray) {
    delete obj[key];
    return;
  }
  const next = obj[key];
  if (isArray) {
    if (Array.isArray(next)) for (const el of next) dropPath(el, rest);
  } else {
    dropPath(next, rest);
  }
}
