import type { StreamEvent } from './upstream';

/** The parsed `data` of an event: translators give objects, pass-through gives raw text. */
export function payload(ev: StreamEvent): any {
  if (ev.data !== undefined) return ev.data;
  if (!ev.raw) return undefined;
  const lines = ev.raw
    .split(/\r\n|\r|\n/)
    .filter((l) => l.startsWith('data:'))
    .map((l) => l.slice(l.startsWith('data: ') ? 6 : 5));
  try {
    return (ev.data = JSON.parse(lines.join('\n')));
  } catch {
    return undefined;
  }
}
