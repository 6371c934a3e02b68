import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { readRequestBody, startServer, type TestServer } from './http-server';
import { chunkFrame, exceptionFrame, streamEvents } from './bedrock-frames';

/**
 * A loopback Bedrock runtime. Every request must carry either a SigV4 signature that this server
 * recomputes from the known secret (for the access key it names, over exactly the headers it lists)
 * or the expected Bedrock API key as Bearer; anything else gets Bedrock's 403.
 */
export interface FakeBedrockOptions {
  region: string;
  /** accessKeyId → secretAccessKey the server accepts (static keys and STS-issued ones). */
  keys: Record<string, string>;
  /** Session tokens that must accompany temporary keys (accessKeyId → token). */
  sessionTokens?: Record<string, string>;
  apiKey?: string;
  /** Decides the answer per request; default: a message (invoke) or a stream (invoke-with-response-stream). */
  reply?: (req: RecordedRequest, res: ServerResponse) => void | Promise<void>;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
  json: any;
  auth: 'sigv4' | 'bearer';
  accessKeyId?: string;
}

export interface FakeBedrock extends TestServer {
  requests: RecordedRequest[];
  rejected: string[];
}

const MESSAGE = {
  id: 'msg_bdrk_01',
  type: 'message',
  role: 'assistant',
  model: 'claude-sonnet-4-5-20250929',
  content: [{ type: 'text', text: 'Hello from Bedrock' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 12, output_tokens: 5 },
};

export async function startFakeBedrock(opts: FakeBedrockOptions): Promise<FakeBedrock> {
  const requests: RecordedRequest[] = [];
  const rejected: string[] = [];
  const server = await startServer(async (req, res) => {
    const body = await readRequestBody(req);
    const authn = await authenticate(req, body, opts);
    if (typeof authn === 'string') {
      rejected.push(authn);
      res.writeHead(403, {
        'content-type': 'application/json',
        'x-amzn-ErrorType': 'UnrecognizedClientException:http://internal.amazon.com/coral/com.amazon.coral.service/',
      });
      res.end(JSON.stringify({ message: authn }));
      return;
    }
    let json: any;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      json = undefined;
    }
    const rec: RecordedRequest = { method: req.method!, path: req.url!, headers: req.headers, body, json, ...authn };
    requests.push(rec);
    const invalid = validate(rec);
    if (invalid) {
      rejected.push(invalid);
      awsError(res, 400, 'ValidationException', invalid);
      return;
    }
    if (opts.reply) return opts.reply(rec, res);
    defaultReply(rec, res);
  });
  return { ...server, requests, rejected };
}

/**
 * The betas Bedrock knows (AWS's Claude parameter docs); any other value of `anthropic_beta` is a
 * 400, as on Bedrock. Written out here, not taken from the gateway, so the gateway's filter is
 * tested against the cloud's list rather than against itself.
 */
const BEDROCK_KNOWN_BETAS = new Set([
  'computer-use-2024-10-22',
  'computer-use-2025-01-24',
  'computer-use-2025-11-24',
  'token-efficient-tools-2025-02-19',
  'interleaved-thinking-2025-05-14',
  'output-128k-2025-02-19',
  'dev-full-thinking-2025-05-14',
  'context-1m-2025-08-07',
  'context-management-2025-06-27',
  'effort-2025-11-24',
  'tool-search-tool-2025-10-19',
  'tool-examples-2025-10-29',
  'fine-grained-tool-streaming-2025-05-14',
]);

/**
 * What Bedrock refuses with a ValidationException before invoking the model: a body that is not
 * InvokeModel's (the Messages API's `model`/`stream`, no `anthropic_version`), an unknown beta, and
 * the newer fields it does not take (`tools[].eager_input_streaming`: "Extra inputs are not
 * permitted"). count-tokens checks the InvokeModel body it wraps.
 */
function validate(rec: RecordedRequest): string | undefined {
  if (!rec.json || typeof rec.json !== 'object') return 'Malformed input request, please reformat your input and try again.';
  let body = rec.json;
  if (rec.path.endsWith('/count-tokens')) {
    try {
      body = JSON.parse(Buffer.from(rec.json.input.invokeModel.body, 'base64').toString('utf8'));
    } catch {
      return 'input.invokeModel.body: not a base64 JSON InvokeModel body';
    }
  }
  if (body.anthropic_version !== 'bedrock-2023-05-31') return `anthropic_version: expected bedrock-2023-05-31, got ${body.anthropic_version}`;
  for (const k of ['model', 'stream']) if (k in body) return `${k}: Extra inputs are not permitted`;
  if (typeof body.max_tokens !== 'number') return 'max_tokens: Field required';
  for (const b of body.anthropic_beta ?? []) if (!BEDROCK_KNOWN_BETAS.has(b)) return `invalid beta flag: ${b}`;
  const tools: any[] = Array.isArray(body.tools) ? body.tools : [];
  const extra = tools.findIndex((t) => t && 'eager_input_streaming' in t);
  if (extra >= 0) return `tools.${extra}.custom.eager_input_streaming: Extra inputs are not permitted`;
  return undefined;
}

/** Writes Anthropic stream events as Bedrock does: chunk frames, sent in uneven slices so frames straddle TCP chunks. */
export function eventStream(res: ServerResponse, events: Record<string, unknown>[], tail?: Buffer): void {
  res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-requestid': 'aws-req-1' });
  const wire = Buffer.concat([...events.map(chunkFrame), ...(tail ? [tail] : [])]);
  for (let i = 0; i < wire.length; i += 37) res.write(wire.subarray(i, i + 37));
  res.end();
}

/** Bedrock's answers: JSON for invoke, event-stream frames for the stream, inputTokens for count-tokens. */
export function defaultReply(rec: RecordedRequest, res: ServerResponse): void {
  if (rec.path.endsWith('/count-tokens')) {
    const inner = JSON.parse(Buffer.from(rec.json.input.invokeModel.body, 'base64').toString('utf8'));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ inputTokens: JSON.stringify(inner.messages).length }));
  } else if (rec.path.endsWith('/invoke-with-response-stream')) {
    res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-bedrock-content-type': 'application/json' });
    // Written in uneven slices so a client meets frames split across TCP chunks.
    const wire = Buffer.concat(streamEvents().map(chunkFrame));
    for (let i = 0; i < wire.length; i += 37) res.write(wire.subarray(i, i + 37));
    res.end();
  } else if (rec.path.endsWith('/invoke')) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(MESSAGE));
  } else {
    awsError(res, 404, 'UnknownOperationException', 'unknown operation');
  }
}

export function awsError(res: ServerResponse, status: number, type: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-ErrorType': `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/` });
  res.end(JSON.stringify({ message }));
}

/** A stream that fails after its first event, as Bedrock does when throttled mid-stream. */
export function throttledStream(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream' });
  res.write(chunkFrame(streamEvents()[0]));
  res.end(exceptionFrame('throttlingException', 'Too many tokens, please wait before trying again.'));
}

/** Returns who signed, or why the request is refused. */
async function authenticate(
  req: IncomingMessage,
  body: Buffer,
  opts: FakeBedrockOptions,
): Promise<{ auth: 'sigv4' | 'bearer'; accessKeyId?: string } | string> {
  const authz = req.headers.authorization ?? '';
  if (authz.startsWith('Bearer ')) {
    return opts.apiKey && authz === `Bearer ${opts.apiKey}` ? { auth: 'bearer' } : 'The security token included in the request is invalid.';
  }
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(authz);
  if (!m) return 'missing or malformed SigV4 Authorization';
  const [, accessKeyId, , region, service, signedHeaders] = m;
  if (service !== 'bedrock' || region !== opts.region) return `signed for ${service}/${region}`;
  const secret = opts.keys[accessKeyId];
  if (!secret) return `unknown access key ${accessKeyId}`;
  const expectedToken = opts.sessionTokens?.[accessKeyId];
  if (expectedToken !== undefined && req.headers['x-amz-security-token'] !== expectedToken) return 'session token missing or wrong';
  const names = signedHeaders.split(';');
  for (const required of ['host', 'x-amz-date', 'x-amz-content-sha256']) if (!names.includes(required)) return `${required} not signed`;
  if (expectedToken !== undefined && !names.includes('x-amz-security-token')) return 'x-amz-security-token not signed';
  // The signature covers x-amz-content-sha256, not the body: AWS checks the body against it.
  if (req.headers['x-amz-content-sha256'] !== createHash('sha256').update(body).digest('hex'))
    return 'The provided x-amz-content-sha256 header does not match what was computed.';
  const dateHeader = String(req.headers['x-amz-date']);
  const d = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(dateHeader);
  if (!d) return 'bad x-amz-date';
  const signingDate = new Date(Date.UTC(+d[1], +d[2] - 1, +d[3], +d[4], +d[5], +d[6]));
  const headers: Record<string, string> = {};
  for (const n of names) headers[n] = String(req.headers[n] ?? '');
  const [path, qs] = (req.url ?? '/').split('?');
  const query: Record<string, string> = {};
  new URLSearchParams(qs ?? '').forEach((v, k) => (query[k] = v));
  const signer = new SignatureV4({
    service,
    region,
    sha256: Sha256,
    credentials: { accessKeyId, secretAccessKey: secret, ...(expectedToken ? { sessionToken: expectedToken } : {}) },
  });
  const host = headers.host;
  const recomputed = await signer.sign({ method: req.method!, protocol: 'http:', hostname: host.split(':')[0], path, query, headers, body }, { signingDate });
  if (recomputed.headers.authorization !== authz) return 'The request signature we calculated does not match the signature you provided.';
  return { auth: 'sigv4', accessKeyId };
}
