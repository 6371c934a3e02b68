import { BatchStream } from '../core/batch-stream';
import { envelope } from '../core/errors';
import { messageEvents } from './anthropic/message-events';
import { CredentialError } from './credential-error';
import { httpSend, readAll, targetName, type UpstreamPools } from './http';
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
  return {
    async send(call: UpstreamCall): Promise<UpstreamReply> {
      let out: ReturnType<Provider<S, F>['request']>;
      try {
        out = provider.request(call);
      } catch (err) {
        if (err instanceof TranslationError) return { kind: 'json', status: 400, headers: {}, body: envelope('invalid_request_error', err.message, null) };
        throw err;
      }
      if ('local' in out) return { kind: 'json', headers: {}, ...(await out.local) };
      const req: OutgoingRequest<S> = out;
      const { target } = call;
      Object.assign(req.headers, target.headers, call.extraHeaders);
      try {
        const pending = provider.auth(call, req.headers, req.state);
        if (pending) await pending;
        if (provider.sign) await provider.sign(req, call);
      } catch (err) {
        // No credential, no request: a 502 naming the provider and the source (never the secret),
        // which the core retries and the breaker counts like any upstream failure.
        if (err instanceof CredentialError) return { kind: 'json', status: 502, headers: {}, body: envelope('api_error', err.message, null) };
        throw err;
      }
      const send = { url: req.url, headers: req.headers, body: req.body, signal: call.cancellation ?? call.signal };
      const wantsStream = call.endpoint === 'messages' && call.body.stream === true;
      let res: WholeReply;
      if (wantsStream) {
        const head = await httpSend(pools, target, send);
        if (head.status >= 200 && head.status < 300 && (head.headers['content-type'] ?? '').startsWith(streamType)) {
          const events = provider.relay
            ? provider.relay(head.body, call, pools.limits.maxEventBytes)
            : translateStream(head.body, provider.streamTranslator!(req.state, call), target, pools.limits.maxEventBytes, provider.decoder);
          return { kind: 'sse', status: 200, headers: provider.responseHeaders(head.headers), events };
        }
        res = { status: head.status, headers: head.headers, raw: await readAll(head, target, pools.limits.maxResponseBytes) };
      } else {
        // Nothing but a whole reply can come of it: read in one step, without a body stream.
        res = await sendWhole(pools, target, send);
      }
      const { raw } = res;
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
    },
  };
}
