import type Koa from 'koa';
import type { CallContext } from '../core/call';
import { GatewayError, invalidRequest } from '../core/errors';
import type { ModelEntry } from '../core/routes';

function modelObject(m: ModelEntry, fallbackCreated: string) {
  return {
    type: 'model',
    id: m.id,
    display_name: m.route.displayName ?? m.id,
    created_at: m.route.createdAt ?? fallbackCreated,
  };
}

function visible(call: CallContext): ModelEntry[] {
  return call.table!.models.filter((m) => call.key!.mayUse(m.id));
}

/** GET /v1/models: the names and aliases this key may use, paged like Anthropic's API (cursor = model id). */
export const listModels: Koa.Middleware = async (ctx) => {
  const call: CallContext = ctx.state.call;
  call.endpoint = 'models';
  const q = ctx.query;
  const one = (k: string) => (Array.isArray(q[k]) ? (q[k] as string[])[0] : (q[k] as string | undefined));
  const limitRaw = one('limit');
  const limit = limitRaw === undefined ? 20 : Number(limitRaw);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw invalidRequest('limit: Input should be an integer between 1 and 1000');
  const afterId = one('after_id');
  const beforeId = one('before_id');
  if (afterId && beforeId) throw invalidRequest('after_id and before_id cannot both be set');
  const all = visible(call);
  let page: ModelEntry[];
  let hasMore: boolean;
  if (beforeId !== undefined) {
    const end = all.findIndex((m) => m.id === beforeId);
    const stop = end < 0 ? 0 : end;
    const start = Math.max(0, stop - limit);
    page = all.slice(start, stop);
    hasMore = start > 0;
  } else {
    const from = afterId === undefined ? 0 : all.findIndex((m) => m.id === afterId) + 1;
    const start = afterId !== undefined && from === 0 ? all.length : from;
    page = all.slice(start, start + limit);
    hasMore = start + limit < all.length;
  }
  const created = call.table!.snapshot.generatedAt;
  ctx.body = {
    data: page.map((m) => modelObject(m, created)),
    has_more: hasMore,
    first_id: page[0]?.id ?? null,
    last_id: page[page.length - 1]?.id ?? null,
  };
};

/** GET /v1/models/{id} */
export const getModel: Koa.Middleware = async (ctx) => {
  const call: CallContext = ctx.state.call;
  call.endpoint = 'models';
  const id = ctx.params.id as string;
  const entry = call.table!.models.find((m) => m.id === id);
  if (!entry) throw new GatewayError(404, 'not_found_error', `model: ${id}`);
  if (!call.key!.mayUse(id)) throw new GatewayError(403, 'permission_error', `this API key is not allowed to use model '${id}'`);
  ctx.body = modelObject(entry, call.table!.snapshot.generatedAt);
};
