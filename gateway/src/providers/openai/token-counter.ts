import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { OpenAIOptions } from './options';
import { countChatTokens } from './tokens';

const WORKER_FILE = join(__dirname, 'token-worker.js');

type Pending = { resolve(n: number): void; reject(err: Error): void };

/**
 * count_tokens for OpenAI-compatible targets, off the event loop. Building a tiktoken encoder
 * takes ~0.5 s of CPU (seconds on a busy pod) and counting a long conversation tens to hundreds
 * of milliseconds; on the main thread either would stall every stream the pod is relaying. One
 * worker thread, started on first use and kept (with its encoders) for the process's life, does
 * the counting; it does not keep the process alive. Where the compiled worker file is missing
 * (running from TypeScript sources) or a thread cannot be started, counting stays in-thread.
 */
export class TokenCounter {
  private worker?: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private unavailable = !existsSync(WORKER_FILE);

  count(chat: Record<string, any>, opts: OpenAIOptions): Promise<number> {
    const worker = this.unavailable ? undefined : this.spawn();
    if (!worker) return Promise.resolve().then(() => countChatTokens(chat, opts));
    const id = this.nextId++;
    return new Promise<number>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        worker.postMessage({ id, chat, opts });
      } catch {
        // Not cloneable (it never is: both are plain JSON); count here rather than fail.
        this.pending.delete(id);
        resolve(countChatTokens(chat, opts));
      }
    });
  }

  private spawn(): Worker | undefined {
    if (this.worker) return this.worker;
    let w: Worker;
    try {
      w = new Worker(WORKER_FILE);
    } catch {
      this.unavailable = true;
      return undefined;
    }
    w.on('message', (m: { id: number; tokens?: number; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error !== undefined) p.reject(new Error(m.error));
      else p.resolve(m.tokens!);
    });
    // A thread that dies fails what it was counting; the next count starts a new one.
    const fail = (err: Error) => {
      if (this.worker === w) this.worker = undefined;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`token counter thread exited with code ${code}`)));
    // After the listeners: adding a 'message' listener refs the worker again, and a referenced
    // worker would keep a drained gateway from exiting on SIGTERM.
    w.unref();
    this.worker = w;
    return w;
  }
}

/** One per process: encoders are large (~100 MB for both) and the same for every gateway. */
export const tokenCounter = new TokenCounter();
