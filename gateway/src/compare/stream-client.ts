export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_creation_input_tokens: number;
}

export interface Answer {
  ok: boolean;
  status: number | null;
  text: string;
  usage: Usage;
  stopReason: string | null;
  latencyMs: number;
  ttftMs: number | null;
  requestId: string | null;
  error: { type: string; message: string } | null;
}

const zeroUsage = (): Usage => ({ input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 });

/** Thrown for an abort that came from the interrupt, so the runner can leave the request out. */
export class Interrupted extends Error {}

/**
 * One streaming Messages request. TTFT is the first content delta (text, thinking or tool input),
 * not the first byte: the gateway sends message_start and pings before the model says anything.
 */
export async function streamMessage(
  url: string,
  key: string,
  body: Record<string, unknown>,
  opts: { timeoutMs: number; interrupt: AbortSignal },
): Promise<Answer> {
  const started = performance.now();
  const a: Answer = { ok: false, status: null, text: '', usage: zeroUsage(), stopReason: null, latencyMs: 0, ttftMs: null, requestId: null, error: null };
  const signal = AbortSignal.any([opts.interrupt, AbortSignal.timeout(opts.timeoutMs)]);
  const finish = (error: Answer['error']) => {
    a.latencyMs = performance.now() - started;
    a.error = error;
    a.ok = !error;
    return a;
  };
  try {
    const res = await fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'x-api-key': key, 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ ...body, stream: true }),
      signal,
    });
    a.status = res.status;
    a.requestId = res.headers.get('request-id');
    if (!res.ok || !(res.headers.get('content-type') ?? '').includes('text/event-stream')) {
      const text = await res.text();
      let err = { type: `http_${res.status}`, message: text.slice(0, 500) };
      try {
        const j = JSON.parse(text);
        if (j?.error?.type) err = { type: j.error.type, message: String(j.error.message ?? '') };
      } catch {
        /* not JSON: keep the raw text */
      }
      return finish(err);
    }
    const blocks: Array<{ type: string; text: string; name?: string; json?: string }> = [];
    let stopped = false;
    let streamError: Answer['error'] = null;
    const onEvent = (data: string) => {
      let ev: any;
      try {
        ev = JSON.parse(data);
      } catch {
        return;
      }
      switch (ev?.type) {
        case 'message_start': {
          const u = ev.message?.usage ?? {};
          for (const k of Object.keys(a.usage) as Array<keyof Usage>) if (typeof u[k] === 'number') a.usage[k] = u[k];
          break;
        }
        case 'content_block_start': {
          const b = ev.content_block ?? {};
          blocks[ev.index] = { type: b.type, text: typeof b.text === 'string' ? b.text : '', name: b.name, json: '' };
          break;
        }
        case 'content_block_delta': {
          const d = ev.delta ?? {};
          const b = (blocks[ev.index] ??= { type: 'text', text: '', json: '' });
          const piece = d.text ?? d.thinking ?? d.partial_json;
          if (typeof piece === 'string' && piece.length && a.ttftMs === null) a.ttftMs = performance.now() - started;
          if (d.type === 'text_delta') b.text += d.text;
          else if (d.type === 'input_json_delta') b.json += d.partial_json;
          break;
        }
        case 'message_delta': {
          if (ev.delta?.stop_reason !== undefined) a.stopReason = ev.delta.stop_reason;
          const u = ev.usage ?? {};
          for (const k of Object.keys(a.usage) as Array<keyof Usage>) if (typeof u[k] === 'number') a.usage[k] = u[k];
          break;
        }
        case 'message_stop':
          stopped = true;
          break;
        case 'error':
          streamError = { type: ev.error?.type ?? 'error', message: String(ev.error?.message ?? '') };
          break;
      }
    };
    const decoder = new TextDecoder();
    let buf = '';
    const reader = res.body!.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = frame
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).replace(/^ /, ''))
          .join('\n');
        if (data) onEvent(data);
      }
    }
    a.text = renderBlocks(blocks);
    if (streamError) return finish(streamError);
    if (!stopped) return finish({ type: 'incomplete_stream', message: 'the stream ended without message_stop' });
    return finish(null);
  } catch (err) {
    if (opts.interrupt.aborted) throw new Interrupted('interrupted');
    const e = err as Error;
    if (e.name === 'TimeoutError') return finish({ type: 'timeout', message: `no complete answer within ${opts.timeoutMs / 1000}s` });
    return finish({ type: 'connection_error', message: String((e as any).cause?.message ?? e.message) });
  }
}

/** Text as is; tool calls as a readable line, so answers that call tools can be compared too. */
function renderBlocks(blocks: Array<{ type: string; text: string; name?: string; json?: string } | undefined>): string {
  const parts: string[] = [];
  for (const b of blocks) {
    if (!b) continue;
    if (b.type === 'text') parts.push(b.text);
    else if (b.type === 'tool_use' || b.type === 'server_tool_use') {
      let input = b.json || '{}';
      try {
        input = JSON.stringify(JSON.parse(input));
      } catch {
        /* a cut-off argument string is shown as received */
      }
      parts.push(`[tool_use ${b.name ?? '?'} ${input}]`);
    }
  }
  return parts.join('\n');
}
