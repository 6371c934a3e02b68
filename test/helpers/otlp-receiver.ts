import { readRequestBody, startServer, type TestServer } from './http-server';

/**
 * An OTLP/HTTP trace receiver: accepts POST /v1/traces in OTLP JSON (what the exporter sends with
 * OTEL_EXPORTER_OTLP_PROTOCOL=http/json) and flattens the spans for assertions. Protobuf bodies
 * are kept raw (a test can look for trace id bytes in them).
 */
export interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client. */
  kind: number;
  attributes: Record<string, unknown>;
  events: Array<{ name: string; attributes: Record<string, unknown> }>;
  links: Array<{ traceId: string; spanId: string }>;
  status: { code?: number; message?: string };
  startNs: bigint;
  endNs: bigint;
  resource: Record<string, unknown>;
}

export interface ExportRequest {
  headers: Record<string, string | string[] | undefined>;
  contentType: string;
  raw: Buffer;
}

export interface OtlpReceiver extends TestServer {
  spans: ExportedSpan[];
  requests: ExportRequest[];
  /** Everything received, as text (to search for secrets). */
  rawText(): string;
}

export const SPAN_KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3 } as const;

function anyValue(v: any): unknown {
  if (!v || typeof v !== 'object') return v;
  if ('stringValue' in v) return v.stringValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return v.doubleValue;
  if ('boolValue' in v) return v.boolValue;
  if ('arrayValue' in v) return (v.arrayValue.values ?? []).map(anyValue);
  return v;
}

function attrs(list: any[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of list ?? []) out[kv.key] = anyValue(kv.value);
  return out;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ExportedSpan[] = [];
  const requests: ExportRequest[] = [];
  const srv = await startServer(async (req, res) => {
    const raw = await readRequestBody(req);
    const contentType = String(req.headers['content-type'] ?? '');
    requests.push({ headers: req.headers, contentType, raw });
    if (req.method === 'POST' && req.url === '/v1/traces' && contentType.includes('json')) {
      const body = JSON.parse(raw.toString('utf8'));
      for (const rs of body.resourceSpans ?? []) {
        const resource = attrs(rs.resource?.attributes);
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            spans.push({
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId || undefined,
              name: s.name,
              kind: s.kind,
              attributes: attrs(s.attributes),
              events: (s.events ?? []).map((e: any) => ({ name: e.name, attributes: attrs(e.attributes) })),
              links: (s.links ?? []).map((l: any) => ({ traceId: l.traceId, spanId: l.spanId })),
              status: s.status ?? {},
              startNs: BigInt(s.startTimeUnixNano),
              endNs: BigInt(s.endTimeUnixNano),
              resource,
            });
          }
        }
      }
    }
    res.writeHead(200, { 'content-type': contentType.includes('json') ? 'application/json' : 'application/x-protobuf' });
    res.end(contentType.includes('json') ? '{}' : '');
  });
  return Object.assign(srv, { spans, requests, rawText: () => requests.map((r) => JSON.stringify(r.headers) + r.raw.toString('latin1')).join('\n') });
}
