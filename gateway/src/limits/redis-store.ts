import Redis from 'ioredis';
import { BATCH, READ, RENEW } from './redis-scripts';
import {
  StoreUnavailable,
  type AdmitRequest,
  type AdmitResult,
  type BucketRef,
  type CheckState,
  type Debit,
  type LimitStore,
  type RateCheck,
  type Settlement,
  type SlotCheck,
} from './store';

export interface RedisStoreOptions {
  url: string;
  /** Prefix of every key, so several gateway fleets can share one Redis. */
  prefix?: string;
  /** Longest wait for one Redis command: bounds what a slow or hung Redis adds to a request. */
  timeoutMs?: number;
  /** Concurrency slots expire this long after their last renewal (a pod that died frees its slots). */
  leaseMs?: number;
  /** After a failed command, requests skip Redis for this long before trying again. */
  retryAfterFailureMs?: number;
}

type Health = 'connecting' | 'up' | 'down';
type Args = Array<string | number>;
interface Scripted {
  syBatch(...args: Args): Promise<Array<number | string>>;
  syRenew(...args: Args): unknown;
  syRead(...args: Args): Promise<string[]>;
}

interface Waiting {
  req: AdmitRequest;
  enc: Encoded;
  resolve(r: AdmitResult): void;
  reject(err: unknown): void;
}

/** A request's part of a script call: its keys, its arguments, and which check each reply pair answers. */
interface Encoded {
  keys: string[];
  args: Args;
  order: number[];
}

/** `key:team-a/alpha:rpm` → subject `key:team-a/alpha`, field `rpm`: a subject's buckets share one Redis key. */
function split(id: string): [string, string] {
  const i = id.lastIndexOf(':');
  return i > 0 ? [id.slice(0, i), id.slice(i + 1)] : [id, '_'];
}

/** Most admissions per script call; a larger turn is split (keeps one script run short). */
const MAX_BATCH = 256;

/** Distinct period buckets owed at most (four per ApiKey and period: a few thousand keys). */
const MAX_OWED = 20_000;

/**
 * Exact, global limits in Redis: every gateway pod admits through the same Lua script, so N pods
 * share one bucket. Each event-loop turn sends one EVALSHA carrying the settlements queued since
 * the last one (usage debits, slot releases) and every admission that arrived during the turn:
 * one round trip per request on the hot path, shared by the requests of the turn, so the cost in
 * the gateway (command encoding, timers, promises, syscalls) stays flat as load grows. ioredis
 * sends EVAL the first time on a connection and again on NOSCRIPT (a Redis restart, SCRIPT FLUSH).
 * Nothing queues while Redis is away: calls fail at once when disconnected and time out after
 * `timeoutMs` when Redis hangs; the caller (FailoverStore) applies the failure policy.
 */
export class RedisStore implements LimitStore {
  readonly scope = 'global';
  readonly client: Redis;
  private readonly prefix: string;
  private readonly leaseMs: number;
  private readonly retryAfterFailureMs: number;
  private health: Health = 'connecting';
  private retryAt = 0;
  private closing = false;
  private settles: Settlement[] = [];
  private admits: Waiting[] = [];
  private flushScheduled = false;
  /** Script calls sent and not yet answered. */
  private inFlight = 0;
  private readonly flushBound = () => this.flush();
  /** Slots this pod holds, by Redis key: renewed while the requests run. */
  private readonly leases = new Map<string, Set<string>>();
  private readonly renewer: NodeJS.Timeout;
  private readonly waiters: Array<() => void> = [];
  /**
   * Period-counter debits (spend, usage: buckets that never refill) that could not be written,
   * summed per bucket, sent with the first batch once Redis answers again, so a budget still
   * sees what was spent during an outage. Per-minute buckets are not kept: they would have
   * drained by then anyway.
   */
  private readonly owed = new Map<string, Debit>();
  private owedTimer?: NodeJS.Timeout;
  /** Told when Redis becomes usable or stops being usable, once per change (events come asynchronously, so set it right after construction). */
  onHealth?: (up: boolean, reason: string) => void;

  constructor(opts: RedisStoreOptions) {
    this.prefix = `${opts.prefix ?? 'switchyard:'}rl:`;
    this.leaseMs = opts.leaseMs ?? 60_000;
    // At least the command timeout, so a settlement call still pending from the failure is over
    // before admissions are sent again (they would queue behind it).
    this.retryAfterFailureMs = opts.retryAfterFailureMs ?? Math.max(1000, opts.timeoutMs ?? 500);
    this.client = new Redis(opts.url, {
      // Never hold commands for later: a limit check that cannot be answered now is a failure now.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: opts.timeoutMs ?? 500,
      connectTimeout: 2000,
      // disconnect() arms a referenced timer of this length that only the socket's 'close' clears;
      // when Redis died first the socket has closed already, and the default 2 s held a drained pod.
      disconnectTimeout: 100,
      // Reconnect forever, quickly at first, at most every 2 s: recovery needs no restart.
      retryStrategy: (times) => Math.min(100 * times, 2000),
      lazyConnect: false,
    });
    this.client.defineCommand('syBatch', { lua: BATCH });
    this.client.defineCommand('syRenew', { lua: RENEW });
    this.client.defineCommand('syRead', { lua: READ });
    this.client.on('ready', () => {
      this.retryAt = 0;
      this.setHealth('up', 'connected');
      if (this.owed.size) this.schedule();
    });
    // ioredis reports each failed (re)connection as an 'error' event; without a listener it would throw.
    this.client.on('error', (err: Error) => this.setHealth('down', err.message || String(err)));
    this.client.on('close', () => this.setHealth('down', 'connection closed'));
    this.renewer = setInterval(() => this.renew(), Math.max(1000, Math.floor(this.leaseMs / 3)));
    this.renewer.unref();
  }

  /**
   * Whether a request should try Redis now: connected, and not within the pause after a failed
   * command. (Not `health`: after a timeout only a successful command can say Redis is back.)
   */
  get usable(): boolean {
    return this.client.status === 'ready' && Date.now() >= this.retryAt;
  }

  get up(): boolean {
    return this.health === 'up';
  }

  /** Resolves once the first connection attempt has succeeded or failed, or after `ms`. */
  settled(ms: number): Promise<boolean> {
    if (this.health !== 'connecting') return Promise.resolve(this.health === 'up');
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(this.health === 'up'), ms);
      t.unref();
      this.waiters.push(() => {
        clearTimeout(t);
        resolve(this.health === 'up');
      });
    });
  }

  admit(req: AdmitRequest): Promise<AdmitResult> {
    return new Promise((resolve, reject) => {
      this.admits.push({ req, enc: this.encodeAdmission(req), resolve, reject });
      this.schedule();
    });
  }

  settle(s: Settlement): void {
    for (const id of s.release) {
      const key = this.prefix + id;
      const set = this.leases.get(key);
      set?.delete(s.holder);
      if (set && !set.size) this.leases.delete(key);
    }
    this.settles.push(s);
    this.schedule();
  }

  /**
   * Debits that another store counted while Redis could not (the failure policy's local store),
   * or settlements never sent because Redis was not connected: their period counters are
   * carried over to Redis when it answers.
   */
  owe(debits: readonly Debit[]): void {
    for (const d of debits) {
      if (d.perMs !== 0 || d.amount === 0) continue;
      // Past MAX_OWED distinct buckets, new ones are given up: memory stays bounded in a long outage.
      const cur = this.owed.get(d.id);
      if (cur) {
        cur.amount += d.amount;
        cur.ttlMs = Math.max(cur.ttlMs ?? 0, d.ttlMs ?? 0);
      } else if (this.owed.size < MAX_OWED) this.owed.set(d.id, { id: d.id, perMs: 0, amount: d.amount, ttlMs: d.ttlMs });
    }
    if (this.owed.size) this.payOwedLater();
  }

  /** Owed debits go out with the next batch; a quiet gateway sends one of its own once Redis answers. */
  private payOwedLater(): void {
    if (this.owedTimer || this.closing) return;
    this.owedTimer = setTimeout(() => {
      this.owedTimer = undefined;
      if (!this.owed.size) return;
      if (this.client.status === 'ready' && Date.now() >= this.retryAt) this.schedule();
      else this.payOwedLater();
    }, this.retryAfterFailureMs);
    this.owedTimer.unref();
  }

  /** One script call for every bucket asked, grouped by subject key as the buckets are stored. */
  async read(buckets: BucketRef[]): Promise<number[]> {
    if (!buckets.length) return [];
    if (this.client.status !== 'ready') throw new StoreUnavailable(`redis not connected (${this.client.status})`);
    const subjects = new Map<string, Array<{ i: number; field: string }>>();
    buckets.forEach((b, i) => {
      const [subject, field] = split(b.id);
      const list = subjects.get(subject);
      if (list) list.push({ i, field });
      else subjects.set(subject, [{ i, field }]);
    });
    const keys: string[] = [];
    const args: Args = [];
    const order: number[] = [];
    for (const [subject, fields] of subjects) {
      keys.push(this.prefix + subject);
      args.push(fields.length);
      for (const { i, field } of fields) {
        args.push(field, buckets[i].perMs);
        order.push(i);
      }
    }
    let reply: string[];
    try {
      reply = await (this.client as unknown as Scripted).syRead(keys.length, ...keys, ...args);
    } catch (err) {
      throw new StoreUnavailable(`redis read failed: ${(err as Error)?.message ?? String(err)}`);
    }
    const out = new Array<number>(buckets.length).fill(0);
    order.forEach((i, j) => (out[i] = Number(reply[j]) || 0));
    return out;
  }

  /**
   * Sends at setImmediate (after every I/O callback of this turn, so their admissions share one
   * call), and only while no call is in flight: under load, what arrives during a round trip
   * goes out together when it returns. An idle gateway adds no wait; a busy one makes far fewer,
   * larger calls (fewer syscalls here, less per-call work in Redis).
   */
  private schedule(): void {
    if (this.flushScheduled || this.inFlight > 0) return;
    this.flushScheduled = true;
    setImmediate(this.flushBound);
  }

  private landed(): void {
    this.inFlight--;
    if (this.inFlight === 0 && (this.admits.length || this.settles.length)) this.schedule();
  }

  private flush(): void {
    this.flushScheduled = false;
    const settles = this.settles;
    const admits = this.admits;
    this.settles = [];
    this.admits = [];
    if (this.client.status !== 'ready') {
      // Settlements are not queued (their slots expire with the lease), but what they add to
      // period counters is owed; admissions fail now so the failure policy answers them.
      for (const st of settles) this.owe(st.debits);
      const err = new Error(`redis not connected (${this.client.status})`);
      if (admits.length) this.failed(err);
      for (const w of admits) w.reject(err);
      return;
    }
    if (Date.now() < this.retryAt && admits.length) {
      // Queued behind a call that just failed (a hung Redis): do not make them wait another
      // timeout. Settlements still go: they hold up no request.
      const err = new Error('redis failed a moment ago');
      for (const w of admits.splice(0)) w.reject(err);
      if (!settles.length) return;
    }
    if (this.owed.size) {
      settles.unshift({ holder: 'carried-over', gateways: 1, debits: [...this.owed.values()], release: [] });
      this.owed.clear();
    }
    for (let i = 0; i < admits.length || (i === 0 && settles.length > 0); i += MAX_BATCH) {
      this.send(i === 0 ? settles : [], admits.slice(i, i + MAX_BATCH));
    }
  }

  private encodeAdmission(req: AdmitRequest): Encoded {
    const subjects = new Map<string, number[]>();
    const slots: number[] = [];
    req.checks.forEach((c, i) => {
      if (c.kind === 'slots') return void slots.push(i);
      const [subject] = split(c.id);
      const list = subjects.get(subject);
      if (list) list.push(i);
      else subjects.set(subject, [i]);
    });
    const keys: string[] = [];
    const args: Args = [req.holder, subjects.size, slots.length];
    const order: number[] = [];
    for (const [subject, idx] of subjects) {
      keys.push(this.prefix + subject);
      args.push(idx.length);
      for (const i of idx) {
        const c = req.checks[i] as RateCheck;
        args.push(split(c.id)[1], c.capacity, c.perMs, c.cost, c.ttlMs ?? 0);
        order.push(i);
      }
    }
    for (const i of slots) {
      keys.push(this.prefix + req.checks[i].id);
      args.push((req.checks[i] as SlotCheck).max);
      order.push(i);
    }
    return { keys, args, order };
  }

  private send(settles: Settlement[], admits: Waiting[]): void {
    // Settlements of one turn are summed per bucket and slot set: ten requests of one key that
    // ended together cost Redis one update of that key.
    const debits = new Map<string, Map<string, [perMs: number, amount: number, ttl: number]>>();
    const releases = new Map<string, string[]>();
    for (const s of settles) {
      for (const d of s.debits) {
        const [subject, field] = split(d.id);
        let fields = debits.get(subject);
        if (!fields) debits.set(subject, (fields = new Map()));
        const cur = fields.get(field);
        if (cur) cur[1] += d.amount;
        else fields.set(field, [d.perMs, d.amount, d.ttlMs ?? 0]);
      }
      for (const id of s.release) {
        const list = releases.get(id);
        if (list) list.push(s.holder);
        else releases.set(id, [s.holder]);
      }
    }
    const keys: string[] = [];
    const argv: Args = [this.leaseMs, debits.size, releases.size, admits.length];
    for (const [subject, fields] of debits) {
      keys.push(this.prefix + subject);
      argv.push(fields.size);
      for (const [field, [perMs, amount, ttl]] of fields) argv.push(field, perMs, amount, ttl);
    }
    for (const [id, holders] of releases) {
      keys.push(this.prefix + id);
      argv.push(holders.length, ...holders);
    }
    for (const w of admits) {
      keys.push(...w.enc.keys);
      argv.push(...w.enc.args);
    }
    this.inFlight++;
    (this.client as unknown as Scripted).syBatch(keys.length, ...keys, ...argv).then(
      (reply) => {
        this.landed();
        this.succeeded();
        let at = 0;
        for (const w of admits) {
          const admitted = reply[at] === 1;
          const states = new Array<CheckState>(w.req.checks.length);
          w.enc.order.forEach((i, j) => {
            const c = w.req.checks[i];
            states[i] = {
              ok: reply[at + 1 + 2 * j] === 1,
              used: Number(reply[at + 2 + 2 * j]),
              capacity: c.kind === 'rate' ? c.capacity : c.max,
              perMs: c.kind === 'rate' ? c.perMs : 0,
              divisor: 1,
            };
          });
          at += 1 + 2 * w.enc.order.length;
          if (admitted) this.hold(w);
          w.resolve({ admitted, states, store: this });
        }
      },
      (err) => {
        this.landed();
        // Not owed: a call that timed out may still run when a hung Redis wakes up, and
        // carrying it over would count it twice. Only debits never sent are owed.
        this.failed(err);
        for (const w of admits) w.reject(err);
      },
    );
  }

  /** Remembers the slots an admission took, to renew their leases while the request runs. */
  private hold(w: Waiting): void {
    for (const c of w.req.checks) {
      if (c.kind !== 'slots') continue;
      const key = this.prefix + c.id;
      let set = this.leases.get(key);
      if (!set) this.leases.set(key, (set = new Set()));
      set.add(w.req.holder);
    }
  }

  private renew(): void {
    if (!this.leases.size || this.client.status !== 'ready') return;
    const p = this.client.pipeline() as unknown as Scripted & { exec(): Promise<unknown> };
    for (const [key, holders] of this.leases) p.syRenew(1, key, this.leaseMs, ...holders);
    p.exec().catch((err) => this.failed(err));
  }

  private failed(err: unknown): void {
    this.retryAt = Date.now() + this.retryAfterFailureMs;
    this.setHealth('down', (err as Error)?.message ?? String(err));
  }

  private succeeded(): void {
    if (this.health !== 'up') this.setHealth('up', 'commands succeed again');
  }

  private setHealth(h: Health, reason: string): void {
    if (this.closing || h === this.health) return;
    this.health = h;
    for (const w of this.waiters.splice(0)) w();
    this.onHealth?.(h === 'up', reason);
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.renewer);
    clearTimeout(this.owedTimer);
    this.inFlight = 0;
    this.flush(); // what is queued goes out before QUIT
    if (this.client.status === 'ready') {
      const timer = setTimeout(() => this.client.disconnect(), 1000);
      await this.client.quit().catch(() => this.client.disconnect());
      clearTimeout(timer);
    } else this.client.disconnect();
  }
}
