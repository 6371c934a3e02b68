import { SseParser } from '../../gateway/src/core/sse';

export interface ParsedEvent {
  event: string;
  data: any;
}

/** POSTs with fetch and collects the SSE events of the response (for tests that check the raw grammar). */
export async function postSse(
  url: string,
  headers: Record<string, string>,
  body: unknown,
): Promise<{ status: number; headers: Headers; events: ParsedEvent[]; text: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, events: parseSse(text), text };
}

export function parseSse(text: string): ParsedEvent[] {
  const p = new SseParser();
  return [...p.push(text), ...p.flush()]
    .filter((e) => e.event || e.data)
    .map((e) => {
      let data: any = e.data;
      try {
        data = JSON.parse(e.data);
      } catch {
        /* keep text */
      }
      return { event: e.event, data };
    });
}
