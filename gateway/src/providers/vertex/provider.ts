import type { Target } from '../../core/routes';
import type { ProviderAdapter, UpstreamCall } from '../../core/upstream';
import { withoutForeignThinking } from '../anthropic/foreign-thinking';
import { anthropicProvider, relayed } from '../anthropic/provider';
import { passThrough } from '../anthropic/pass-through';
import { httpAdapter } from '../adapter';
import { filterBetas } from '../bedrock/request';
import { readCloudOptions, vertexPublisher } from '../cloud-options';
import { CredentialError } from '../credential-error';
import { geminiProvider } from '../gemini/provider';
import type { StreamContext } from '../gemini/stream';
import type { UpstreamPools } from '../http';
import { rememberSecret, secretsOf } from '../redact';
import { TranslationError } from '../translation-error';
import type { JsonAnswer, Provider } from '../translator';
import { vertexErrorReply } from './errors';
import { credentialsFor, type Credentials } from './target-credentials';
import {
  DEFAULT_VERTEX_BETAS,
  DEFAULT_VERTEX_DROP_FIELDS,
  claudeCountTokensURL,
  claudeURL,
  geminiURL,
  toVertexBody,
  toVertexCountTokensBody,
  unsupportedContent,
  type VertexTarget,
} from './request';

/**
 * Vertex AI: Claude (publisher `anthropic`, rawPredict with Anthropic's own JSON and SSE) and
 * Gemini (publisher `google`, the Gemini translation) behind one provider name, both with a
 * Google OAuth bearer. Two providers on the skeleton, picked per target: Claude relays its stream
 * byte for byte, Gemini translates it, and the adapter decides between the two by `relay`.
 */
export function vertexAdapter(pools: UpstreamPools): ProviderAdapter {
  const claude = httpAdapter(pools, vertexClaudeProvider);
  const gemini = httpAdapter(pools, vertexGeminiProvider);
  return {
    send: (call) => (vertexPublisher(call.target.model, readCloudOptions(call.target.options)) === 'google' ? gemini : claude).send(call),
  };
}

/** What request() hands on: the URL is completed once the project is known (it may come from the credentials). */
interface Pending {
  url: (project: string) => string;
  project?: string;
}

function projectOf(target: Target, c: Credentials): Promise<string> {
  if (target.project) return Promise.resolve(target.project);
  c.project ??= c.auth.projectId().then((p) => {
    if (!p) throw new CredentialError('vertex', c.auth.source, 'the credentials name no project; set the target’s project');
    return p;
  });
  // A failed lookup is not cached: the next request asks again.
  return c.project.catch((err) => {
    c.project = undefined;
    throw err;
  });
}

function where(target: Target, project: string): VertexTarget {
  return { project, region: target.region ?? 'global', baseURL: target.baseURL };
}

/** Bearer token and project: both may need a fetch, so they are resolved here (async) and the URL completed in sign(). */
async function authorize(call: UpstreamCall, headers: Record<string, string>, state: Pending): Promise<void> {
  const c = credentialsFor(call.target);
  const auth = await c.auth.headers();
  // An upstream echoing the token must not hand it to the client: it joins the target's secrets.
  rememberSecret(call.target, auth.authorization.replace(/^Bearer /, ''));
  Object.assign(headers, auth);
  state.project = await projectOf(call.target, c);
}

function completeUrl(req: { url: string; state: Pending }): void {
  req.url = req.state.url(req.state.project!);
}

/** Vertex's error (Anthropic's envelope or Google's) mapped; Google's RetryInfo becomes `retry-after`. */
function errorAnswer(status: number, headers: Record<string, string>, raw: Buffer, call: UpstreamCall): JsonAnswer {
  const r = vertexErrorReply(status, raw, null, secretsOf(call.target));
  if (r.retryAfter) headers['retry-after'] = r.retryAfter;
  return { status: r.status, headers, body: r.body };
}

const SIGNATURE = Buffer.from('"signature"');

export const vertexClaudeProvider: Provider<Pending> = {
  request(call) {
    const { target } = call;
    const opts = readCloudOptions(target.options);
    // Thinking that another provider produced carries signatures Claude refuses, as on the anthropic path.
    const body = (call.raw.includes(SIGNATURE) && withoutForeignThinking(call.body)) || call.body;
    const refused = unsupportedContent(body);
    if (refused) throw new TranslationError(refused);
    const fields = opts.dropFields ?? DEFAULT_VERTEX_DROP_FIELDS;
    const counting = call.endpoint === 'count_tokens';
    const stream = !counting && body.stream === true;
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: stream ? 'text/event-stream' : 'application/json' };
    // count-tokens:rawPredict refuses every beta Claude Code sends there (context-1m, web-search),
    // so it gets none unless the target lists its own.
    const betas = counting && !opts.betas ? [] : filterBetas(call.clientHeaders['anthropic-beta'], opts.betas ?? DEFAULT_VERTEX_BETAS);
    if (betas.length) headers['anthropic-beta'] = betas.join(',');
    const ua = call.clientHeaders['user-agent'];
    if (typeof ua === 'string') headers['user-agent'] = ua;
    return {
      url: '',
      headers,
      body: JSON.stringify(counting ? toVertexCountTokensBody(body, target.model, fields) : toVertexBody(body, fields)),
      state: { url: (project) => (counting ? claudeCountTokensURL(where(target, project)) : claudeURL(where(target, project), target.model, stream)) },
    };
  },
  auth: authorize,
  sign: completeUrl,
  responseHeaders: relayed,
  // The same checks as for Anthropic: a 2xx must be a Message or a token count.
  response: (body, _state, call, res) => anthropicProvider.response(body, undefined, call, res),
  errorReply: (status, headers, raw, call) => errorAnswer(status, relayed(headers), raw, call),
  relay: passThrough,
};

interface GeminiPending extends Pending {
  gemini: StreamContext;
}

/** Gemini on Vertex: the Gemini provider's translation, Vertex's URLs and bearer instead of the API key. */
export const vertexGeminiProvider: Provider<GeminiPending> = {
  request(call) {
    const out = geminiProvider.request(call);
    if ('local' in out) throw new Error('the Gemini translation answered locally');
    const { target } = call;
    const counting = call.endpoint === 'count_tokens';
    const op = counting ? 'countTokens' : call.body.stream === true ? 'streamGenerateContent' : 'generateContent';
    // Vertex's countTokens takes the request's fields at the top level; the Gemini API's
    // `generateContentRequest` wrapper (with its `models/…` name) is an unknown field there.
    let body = out.body;
    if (counting) {
      const { model: _model, ...fields } = JSON.parse(String(out.body)).generateContentRequest;
      body = JSON.stringify(fields);
    }
    return {
      url: '',
      headers: out.headers,
      body,
      state: { gemini: out.state, url: (project) => geminiURL(where(target, project), target.model, op) },
    };
  },
  auth: authorize,
  sign: completeUrl,
  responseHeaders: () => ({}),
  response: (body, state, call, res) => geminiProvider.response(body, state.gemini, call, res),
  errorReply: (status, headers, raw, call) => errorAnswer(status, headers['retry-after'] ? { 'retry-after': headers['retry-after'] } : {}, raw, call),
  streamTranslator: (state, call) => geminiProvider.streamTranslator!(state.gemini, call),
};
