import type { ProviderName } from '../config/snapshot';
import type { Target } from '../core/routes';
import { anthropicAdapter } from './anthropic/adapter';
import { geminiAdapter } from './gemini/adapter';
import { openaiAdapter } from './openai/adapter';
import type { UpstreamPools } from './http';
import type { ProviderAdapter, UpstreamReply } from '../core/upstream';
import { envelope } from '../core/errors';

/** One adapter per upstream protocol, sharing the gateway's connection pools. */
export function createAdapters(pools: UpstreamPools): (target: Target) => ProviderAdapter {
  const adapters: Partial<Record<ProviderName, ProviderAdapter>> = {
    anthropic: anthropicAdapter(pools),
    gemini: geminiAdapter(pools),
    openai: openaiAdapter(pools),
  };
  return (target) => adapters[target.provider] ?? unsupported(target.provider);
}

function unsupported(provider: string): ProviderAdapter {
  return {
    async send(): Promise<UpstreamReply> {
      return { kind: 'json', status: 501, headers: {}, body: envelope('api_error', `provider '${provider}' is not supported by this gateway build`, null) };
    },
  };
}
