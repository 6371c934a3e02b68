import type { ProviderName } from '../config/snapshot';
import type { Target } from '../core/routes';
import { httpAdapter } from './adapter';
import { anthropicProvider } from './anthropic/provider';
import { bedrockProvider } from './bedrock/provider';
import { geminiProvider } from './gemini/provider';
import { openaiProvider } from './openai/provider';
import { vertexAdapter } from './vertex/provider';
import type { UpstreamPools } from './http';
import type { ProviderAdapter, UpstreamReply } from '../core/upstream';
import { envelope } from '../core/errors';

/** One adapter per upstream protocol, sharing the gateway's connection pools. A new provider is one line here (docs/adding-a-provider.md). */
export function createAdapters(pools: UpstreamPools): (target: Target) => ProviderAdapter {
  const adapters: Partial<Record<ProviderName, ProviderAdapter>> = {
    anthropic: httpAdapter(pools, anthropicProvider),
    bedrock: httpAdapter(pools, bedrockProvider),
    gemini: httpAdapter(pools, geminiProvider),
    openai: httpAdapter(pools, openaiProvider),
    vertex: vertexAdapter(pools),
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
