import { parentPort } from 'node:worker_threads';
import { countChatTokens } from './tokens';
import type { OpenAIOptions } from './options';

/** The thread behind token-counter.ts: counts one translated Chat Completions body per message. */
parentPort!.on('message', (m: { id: number; chat: Record<string, any>; opts: OpenAIOptions }) => {
  try {
    parentPort!.postMessage({ id: m.id, tokens: countChatTokens(m.chat, m.opts) });
  } catch (err) {
    parentPort!.postMessage({ id: m.id, error: (err as Error)?.message ?? String(err) });
  }
});
