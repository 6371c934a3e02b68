import { envelope, errorTypeForStatus } from '../../core/errors';
import { SseParser, type SseEvent } from '../../core/sse';
import { joinUrl, targetName, toFailure } from '../http';
import { parseJson } from '../json';
import { redact, redactJson, secretsOf } from '../redact';
import type { Provider } from '../translator';
import { RELAYED_HEADERS, UpstreamFailure, type EventBatch, type StreamEvent, type UpstreamCall } from '../../core/upstream';
import { withoutForeignThinking } from './foreign-thinking';
import { replaceTopLevelString } from './splice';

const PATHS = { messages: '/v1/messages', count_tokens: '/v1/messages/count_tokens' } as const;

/**
 * Anthropic upstreams: the client's body goes out byte for byte but for `model`; the upstream's
 * events come back byte for byte (`relay`). Only headers are rebuilt, so the client's
 * credentials never leave the gateway.
 */
export const anthropicProvider: Provider = {
  request(call) {
    return {
      url: joinUrl(call.target.baseURL, PATHS[call.endpoint]) + call.search,
      headers: upstreamHeaders(call),
      body: outgoingBody(call),
      state: undefined,
    };
  },

  auth(call, headers) {
    if (call.target.apiKey) headers['x-api-key'] = call.target.apiKey;
  },

  responseHeaders: relayed,

  // A 2xx must be what the endpoint promises (a Message, a token count): anything else is the
  // upstream failing, a 502 `api_error` the core retries and the breaker counts.
  response(body, _state, call, res) {
    if (call.endpoint === 'messages' ? body.type === 'message' && Array.isArray(body.content) : typeof body.input_tokens === 'number')
      return { status: res.status, body, raw: res.raw };
    const what =
      body.type === 'error'
        ? `an error: ${String(body.error?.message ?? body.error?.type)}`
        : `JSON that is not a ${call.endpoint === 'messages' ? 'Message' : 'token count'}`;
    return {
      status: 502,
      body: envelope('api_error', redact(`${targetName(call.target)} answered HTTP ${res.status} with ${what}`, secretsOf(call.target)).slice(0, 500), null),
    };
  },

  errorReply(status, headers, raw, call) {
    return { headers: relayed(headers), ...errorBody(call, status, raw) };
  },

  relay: passThrough,
};

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
  for (const k in call.clientHeaders) {
    const v = call.clientHeaders[k];
    if (k.startsWith('anthropic-') && typeof v === 'string') h[k] = v;
  }
  const ua = call.clientHeaders['user-agent'];
  if (typeof ua === 'string') h['user-agent'] = ua;
  return h;
}

/** The response headers relayed to the client (retry hints, the upstream's request id); Vertex's Claude path shares them. */
export function relayed(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of RELAYED_HEADERS) if (headers[k] !== undefined) out[k] = headers[k];
  if (headers['request-id']) out['upstream-request-id'] = headers['request-id'];
  return out;
}

/**
 * A non-2xx reply. Error bodies are relayed as sent unless they quote a credential (see
 * ../redact); a non-envelope one (a proxy's page) becomes an Anthropic envelope.
 */
function errorBody(call: UpstreamCall, status: number, raw: Buffer): { status: number; body: any; raw?: Buffer } {
  const clean = redactJson(raw, secretsOf(call.target));
  const body = parseJson(clean);
  if (body && !Array.isArray(body)) {
    if (body.type === 'error' && body.error && typeof body.error.type === 'string') return { status, body, raw: clean };
    const message = typeof body.error?.message === 'string' ? body.error.message : JSON.stringify(body).slice(0, 500);
    return { status, body: envelope(errorTypeForStatus(status), message, null) };
  }
  const snippet = clean.toString('utf8').replace(/\s+/g, ' ').trim().slice(0, 200);
  return { status, body: envelope(errorTypeForStatus(status), `${targetName(call.target)} returned HTTP ${status}${snippet ? `: ${snippet}` : ''}`, null) };
}

/**
 * The upstream's events, byte for byte when they are well formed. Each event is checked just
 * enough to keep a broken one from reaching the client's SDK (which would throw a parse error
 * and leave the gateway counting a success): its data must be a JSON object whose `type` is the
 * event's name. The check is a prefix test for the `{"type":"<event>"…}` Anthropic writes, and a
 * parse only for anything else. A broken event ends the stream with an UpstreamFailure, which
 * the relay turns into an `error` event. `error` events are parsed and redacted (../redact).
 */
export async function* passThrough(body: AsyncIterable<Buffer>, call: UpstreamCall, maxEventBytes: number): AsyncGenerator<EventBatch> {
  const decoder = new TextDecoder();
  const parser = new SseParser(maxEventBytes);
  const secrets = secretsOf(call.target);
  let broken: string | undefined;
  const batchOf = (events: SseEvent[]): EventBatch => {
    const batch: EventBatch = [];
    for (const ev of events) {
      // Comment-only keep-alives are dropped: the gateway sends its own pings.
      if (ev.event === '' && ev.data === '') continue;
      const problem = checkEvent(ev);
      if (problem) {
        broken = problem;
        break;
      }
      batch.push(ev.event === 'error' ? errorEvent(ev, secrets) : { event: ev.event, raw: ev.raw });
    }
    return batch;
  };
  const fail = () => new UpstreamFailure('network', `${targetName(call.target)} sent a malformed stream event: ${redact(broken!, secrets)}`);
  const batchFor = (chunk: Buffer): EventBatch => {
    const aligned = parser.idle;
    const events = parser.push(decoder.decode(chunk, { stream: true }));
    const batch = batchOf(events);
    // A chunk that starts and ends on event boundaries is exactly its events: relay its bytes.
    if (aligned && parser.idle && !broken && batch.length === events.length && batch.every((e) => e.data === undefined)) batch.bytes = chunk;
    return batch;
  };
  try {
    for await (const chunk of body) {
      let batch: EventBatch | undefined = batchFor(chunk);
      if (batch.length) yield batch;
      // A live stream waits here until its next chunk: the generator's frame would keep the batch
      // it has relayed (events, strings, bytes) for that long, for every stream.
      batch = undefined;
      if (broken) throw fail();
    }
    const tail = batchOf([...parser.push(decoder.decode()), ...parser.flush()]);
    if (tail.length) yield tail;
    if (broken) throw fail();
  } catch (err) {
    throw toFailure(err, call.target);
  }
}

const TYPE_PREFIX = '{"type":"';

/** Why an event is not one a client can parse, or undefined. */
function checkEvent(ev: SseEvent): string | undefined {
  const { event, data } = ev;
  if (event === 'ping') return undefined;
  // No string is built for the test: it runs on every event of every stream.
  if (
    event &&
    data.startsWith(TYPE_PREFIX) &&
    data.startsWith(event, TYPE_PREFIX.length) &&
    data.charCodeAt(TYPE_PREFIX.length + event.length) === 0x22 &&
    data.charCodeAt(data.length - 1) === 0x7d
  )
    return undefined;
  let parsed: any;
  try {
    parsed = JSON.parse(data);
  } catch {
    return `${event || '(unnamed)'} event whose data is not JSON: ${data.slice(0, 100)}`;
  }
  if (!parsed || typeof parsed !== 'object' || typeof parsed.type !== 'string') return `${event || '(unnamed)'} event whose data has no type`;
  if (event && parsed.type !== event) return `${event} event whose data has type ${parsed.type.slice(0, 50)}`;
  return undefined;
}

/** An upstream `error` event (already checked to be a JSON object), with any credential it quotes redacted. */
function errorEvent(ev: SseEvent, secrets: readonly string[]): StreamEvent {
  const clean = redact(ev.data, secrets);
  if (clean === ev.data) return { event: 'error', raw: ev.raw };
  try {
    return { event: 'error', data: JSON.parse(clean) };
  } catch {
    return { event: 'error', data: envelope('api_error', clean.slice(0, 500), null) };
  }
}
