import { envelope, errorTypeForStatus } from '../../api/errors';
import { SseParser, type SseEvent } from '../../api/sse';
import { httpSend, joinUrl, readAll, toFailure, type UpstreamPools } from '../http';
import { RELAYED_HEADERS, type EventBatch, type ProviderAdapter, type StreamEvent, type UpstreamCall, type UpstreamReply } from '../types';
import { withoutForeignThinking } from './foreign-thinking';
import { replaceTopLevelString } from './splice';

const PATHS = { messages: '/v1/messages', count_tokens: '/v1/messages/count_tokens' } as const;

/**
 * Anthropic upstreams: the client's body goes out byte for byte but for `model`; the upstream's
 * events come back byte for byte. Only headers are rebuilt, so the client's credentials never
 * leave the gateway.
 */
export function anthropicAdapter(pools: UpstreamPools): ProviderAdapter {
  return {
    async send(call: UpstreamCall): Promise<UpstreamReply> {
      const { target } = call;
      const body = outgoingBody(call);
      const res = await httpSend(pools, target, {
        url: joinUrl(target.baseURL, PATHS[call.endpoint]) + call.search,
        headers: upstreamHeaders(call),
        body,
        signal: call.signal,
      });
      const headers = relayed(res.headers);
      const isStream = (res.headers['content-type'] ?? '').startsWith('text/event-stream');
      if (res.status === 200 && isStream) {
        return { kind: 'sse', status: 200, headers, events: passThrough(res.body, call, pools.limits.maxEventBytes) };
      }
      const raw = await readAll(res, target, pools.limits.maxResponseBytes);
      return { kind: 'json', status: res.status, headers, ...jsonBody(res.status, raw, res.headers['content-type']) };
    },
  };
}

/** The client's bytes with the target's model spliced in; re-serialized only when foreign thinking blocks must go. */
function outgoingBody(call: UpstreamCall): Buffer {
  const { target } = call;
  // A byte search first: a body without signatures has nothing to drop, and most have none.
  const cleaned = call.raw.includes(SIGNATURE) ? withoutForeignThinking(call.body) : undefined;
  if (cleaned) return Buffer.from(JSON.stringify({ ...cleaned, model: target.model }));
  return call.body.model === target.model ? call.raw : replaceTopLevelString(call.raw, 'model', target.model);
}

const SIGNATURE = Buffer.from('"signature"');

function upstreamHeaders(call: UpstreamCall): Record<string, string> {
  const h: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json',
    'anthropic-version': '2023-06-01',
  };
  // Every anthropic-* header (version, beta, and whatever Anthropic adds next) goes through as sent.
  for (const [k, v] of Object.entries(call.clientHeaders)) {
    if (k.startsWith('anthropic-') && typeof v === 'string') h[k] = v;
  }
  const ua = call.clientHeaders['user-agent'];
  if (typeof ua === 'string') h['user-agent'] = ua;
  Object.assign(h, call.target.headers, call.extraHeaders);
  if (call.target.apiKey) h['x-api-key'] = call.target.apiKey;
  return h;
}

function relayed(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of RELAYED_HEADERS) if (headers[k] !== undefined) out[k] = headers[k];
  if (headers['request-id']) out['upstream-request-id'] = headers['request-id'];
  return out;
}

/** Parses a JSON reply; a non-JSON error page (a proxy's HTML 502, say) becomes an Anthropic envelope. */
function jsonBody(status: number, raw: Buffer, contentType: string | undefined): { body: any; raw?: Buffer } {
  try {
    const body = JSON.parse(raw.toString('utf8'));
    if (status < 300 || (body && body.type === 'error' && body.error && typeof body.error.type === 'string')) return { body, raw };
    const message = typeof body?.error?.message === 'string' ? body.error.message : JSON.stringify(body).slice(0, 500);
    return { body: envelope(errorTypeForStatus(status), message, null) };
  } catch {
    const snippet = raw.toString('utf8').replace(/\s+/g, ' ').slice(0, 200);
    const what = status < 300 ? `a ${contentType ?? 'non-JSON'} body that is not JSON` : `HTTP ${status}: ${snippet}`;
    return { body: envelope(status < 300 ? 'api_error' : errorTypeForStatus(status), `upstream returned ${what}`, null) };
  }
}

async function* passThrough(body: AsyncIterable<Buffer>, call: UpstreamCall, maxEventBytes: number): AsyncGenerator<EventBatch> {
  const decoder = new TextDecoder();
  const parser = new SseParser(maxEventBytes);
  const batchOf = (events: SseEvent[]): EventBatch =>
    // Comment-only keep-alives are dropped: the gateway sends its own pings.
    events.filter((ev) => ev.event !== '' || ev.data !== '').map((ev): StreamEvent => ({ event: ev.event, raw: ev.raw }));
  try {
    for await (const chunk of body) {
      const aligned = parser.idle;
      const events = parser.push(decoder.decode(chunk, { stream: true }));
      const batch = batchOf(events);
      // A chunk that starts and ends on event boundaries is exactly its events: relay its bytes.
      if (aligned && parser.idle && batch.length === events.length) batch.bytes = chunk;
      if (batch.length) yield batch;
    }
    const tail = batchOf([...parser.push(decoder.decode()), ...parser.flush()]);
    if (tail.length) yield tail;
  } catch (err) {
    throw toFailure(err, call.target);
  }
}
