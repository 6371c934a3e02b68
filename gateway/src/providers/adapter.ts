import { BatchStream } from '../core/batch-stream';
import { envelope } from '../core/errors';
import { messageEvents } from './anthropic/message-events';
import { CredentialError } from './credential-error';
import { httpSend, readAll, targetName, type SendOptions, type UpstreamPools } from './http';
import { sendWhole, type WholeReply } from './json-exchange';
import { parseJson } from './json';
import { redact, secretsOf } from './redact';
import { translateStream } from './stream-loop';
import { TranslationError } from './translation-error';
import type { OutgoingRequest, Provider } from './translator';
import type { ProviderAdapter, UpstreamCall, UpstreamReply } from '../core/upstream';

/**
 * Runs any Provider over HTTP, the one place that does what every provider needs alike:
 * translate or answer 400, add credentials and sign, send with the target's deadlines and the
 * gateway's size limits, map error replies, refuse a 2xx that is not JSON, translate streams
 * (or relay them), and give a stream request that got a JSON answer the stream it asked for.
 */
export function httpAdapter<S, F>(pools: UpstreamPools, provider: Provider<S, F>): ProviderAdapter {
  const streamType = provider.streamContentType ?? 'text/event-stream';

  /**
   * The request out and the reply in, once credentials are on it. A request that cannot get a
   * stream is read whole and made into its answer inside the exchange's own promise (no await,
   * no async function of ours in between); a stream request may get a stream, so it goes the
   * general way.
   */
  function transmit(call: UpstreamCall, req: OutgoingRequest<S>): Promise<UpstreamReply> {
    const send = { url: req.url, headers: req.headers, body: req.body, signal: call.cancellation ?? call.signal };
    if (call.endpoint === 'messages' && call.body.stream === true) return transmitStreaming(call, req, send);
    // Nothing but a whole reply can come of it: read in one step, without a body stream.
    return sendWhole(pools, call.target, send, (res) => answer(call, req, res, false));
  }

  async function transmitStreaming(call: UpstreamCall, req: OutgoingRequest<S>, send: SendOptions): Promise<UpstreamReply> {
    const { target } = call;
    const head = await httpSend(pools, target, send);
    if (head.status >= 200 && head.status < 300 && (head.headers['content-type'] ?? '').startsWith(streamType)) {
      const events = provider.relay
        ? provider.relay(head.body, call, pools.limits.maxEventBytes)
        : translateStream(head.body, provider.streamTranslator!(req.state, call), target, pools.limits.maxEventBytes, provider.decoder);
      return { kind: 'sse', status: 200, headers: provider.responseHeaders(head.headers), events };
    }
    const raw = await readAll(head, target, pools.limits.maxResponseBytes);
    return answer(call, req, { status: head.status, headers: head.headers, raw }, true);
  }

  /** A whole reply as the client's answer: errors mapped, a 2xx that is not JSON refused, a stream given to who asked for one. */
  function answer(call: UpstreamCall, req: OutgoingRequest<S>, res: WholeReply, wantsStream: boolean): UpstreamReply {
    const { raw } = res;
    const { target } = call;
    const ok = res.status >= 200 && res.status < 300;
    if (!ok) return { kind: 'json', headers: {}, ...provider.errorReply(res.status, res.headers, raw, call) };
    const body = parseJson(raw);
    // A 2xx that is not JSON (a truncated body, a proxy's HTML page, a stream nobody asked for) is
    // the upstream failing: 502, which the core retries and the breaker counts.
    if (body === undefined) {
      const what = `${targetName(target)} answered HTTP ${res.status} with a ${res.headers['content-type'] || 'untyped'} body that is not JSON`;
      return {
        kind: 'json',
        status: 502,
        headers: provider.responseHeaders(res.headers),
        body: envelope('api_error', redact(what, secretsOf(target)).slice(0, 500), null),
      };
    }
    const answer = provider.response(body, req.state, call, { status: res.status, raw });
    const headers = provider.responseHeaders(res.headers);
    if ('events' in answer) return { kind: 'sse', status: 200, headers, events: BatchStream.of(answer.events) };
    // An upstream that ignored `stream: true` still gets the client the stream it asked for.
    if (wantsStream && answer.status === 200) return { kind: 'sse', status: 200, headers, events: BatchStream.of(messageEvents(answer.body)) };
    return { kind: 'json', ...answer, headers: answer.headers ?? headers };
  }

  /** Credentials that are fetched or a signature that is computed first (cloud providers). */
  async function authThenTransmit(call: UpstreamCall, req: OutgoingRequest<S>, pending: Promise<void> | void): Promise<UpstreamReply> {
    try {
      if (pending) await pending;
      if (provider.sign) await provider.sign(req, call);
    } catch (err) {
      return credentialFailure(err);
    }
    return transmit(call, req);
  }

  return {
    send(call: UpstreamCall): Promise<UpstreamReply> {
      // Everything here fails as a rejected promise, never a throw, as from an async function.
      try {
        let out: ReturnType<Provider<S, F>['request']>;
        try {
          out = provider.request(call);
        } catch (err) {
          if (err instanceof TranslationError)
            return Promise.resolve({ kind: 'json', status: 400, headers: {}, body: envelope('invalid_request_error', err.message, null) });
          throw err;
        }
        if ('local' in out) return out.local.then((local) => ({ kind: 'json', headers: {}, ...local }));
        const req: OutgoingRequest<S> = out;
        Object.assign(req.headers, call.target.headers, call.extraHeaders);
        let pending: Promise<void> | void;
        try {
          pending = provider.auth(call, req.headers, req.state);
        } catch (err) {
          return Promise.resolve(credentialFailure(err));
        }
        if (pending || provider.sign) return authThenTransmit(call, req, pending);
        return transmit(call, req);
      } catch (err) {
        return Promise.reject(err);
      }
    },
  };
}

/**
 * No credential, no request: a 502 naming the provider and the source (never the secret), which
 * the core retries and the breaker counts like any upstream failure. Anything else is thrown on.
 */
function credentialFailure(err: unknown): UpstreamReply {
  if (err instanceof CredentialError) return { kind: 'json', status: 502, headers: {}, body: envelope('api_error', err.message, null) };
  throw err;
}
