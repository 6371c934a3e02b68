import { readFileSync, readdirSync } from 'node:fs';
import type { Logger } from '../log';

/**
 * How many client connections the gateway takes before it refuses new ones with a 503, derived
 * from the process's file-descriptor limit. Each proxied request holds two descriptors (the client
 * socket and the upstream one); past the limit, the kernel refuses the accept and libuv closes
 * the connection without a byte or a log line, or the upstream connect fails with EMFILE. Staying
 * under it keeps every refusal an answered, logged, counted 503. Infinity when the limit is unknown.
 */
export function connectionCapFromFdLimit(): number {
  const limit = softFdLimit();
  if (limit === undefined) return Infinity;
  let open = 32;
  try {
    open = readdirSync('/proc/self/fd').length;
  } catch {
    // No /proc: assume a typical start-up count.
  }
  // Headroom for what opens files later: log files, Redis, the OTLP exporter, DNS lookups.
  const headroom = 16;
  return Math.max(1, Math.floor((limit - open - headroom) / 2));
}

function softFdLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    return soft && /^\d+$/.test(soft) ? Number(soft) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether an error is the process running out of descriptors (ours or the system's), judged by its code or message. */
export function isFdExhaustion(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException | undefined;
  return e?.code === 'EMFILE' || e?.code === 'ENFILE' || /\bE[MN]FILE\b/.test(e?.message ?? '');
}

/**
 * Logs descriptor exhaustion at most once a second, with how many occurrences the quiet period
 * swallowed: during an incident it happens on every request, and the log must not add to it.
 */
export function exhaustionLogger(log: Logger, now: () => number = Date.now): (what: string, fields: Record<string, unknown>) => void {
  let last = -Infinity;
  let suppressed = 0;
  return (what, fields) => {
    const t = now();
    if (t - last < 1000) {
      suppressed++;
      return;
    }
    last = t;
    log.error(what, { ...fields, suppressed_since_last: suppressed });
    suppressed = 0;
  };
}
