import type { StreamEvent } from './upstream';

/** The parsed `data` of an event: translators give objects, pass-through gives raw text. */
export function payload(ev: StreamEvent): any {
  if (ev.data !== undefined) return ev.data;
  const raw = ev.raw;
  if (!raw) return undefined;
  let text: string;
  // The shape upstreams write, `event: x\ndata: {…}\n\n`, read without splitting it into lines:
  // the relay asks this of every message_start and message_delta.
  const eol = raw.indexOf('\n');
  if (
    raw.startsWith('event:') &&
    raw.startsWith('data: ', eol + 1) &&
    raw.indexOf('\n', eol + 7) === raw.length - 2 &&
    raw.endsWith('\n\n') &&
    !raw.includes('\r')
  ) {
    text = raw.slice(eol + 7, raw.length - 2);
  } else {
    text = raw
      .split(/\r\n|\r|\n/)
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(l.startsWith('data: ') ? 6 : 5))
      .join('\n');
  }
  try {
    return (ev.data = JSON.parse(text));
  } catch {
    return undefined;
  }
}
