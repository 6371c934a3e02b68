import { Client, Dispatcher, errors } from 'undici';

/** One connection of the pool and what the pool knows of it from its events. */
interface Member {
  client: Client;
  /** Position in the idle stack, or -1 while the client carries a request (or is leaving). */
  idleAt: number;
  /** Has a socket up (between its 'connect' and its 'disconnect'). */
  connected: boolean;
}

type Targets = readonly Dispatcher[];
type UndiciError = InstanceType<typeof errors.UndiciError>;

/**
 * A per-origin pool of undici `Client`s (one request at a time each, as with `pipelining: 1`) that
 * finds a free connection in O(1): free clients sit on a stack, fed by each client's 'drain', and
 * a client that has lost its socket while free is closed and forgotten. undici's `Pool` scans every
 * client of the origin on each dispatch (and removes clients with `indexOf`/`splice`), which made
 * opening the n-th concurrent stream cost O(n) and holding thousands of live streams a CPU sink.
 *
 * Unbounded, like the `Pool` it replaces (no `connections` limit): a dispatch never waits, so it
 * returns true and the pool never emits 'drain'; each client's own backpressure is honoured (a
 * client whose `dispatch` returned false gets nothing until its 'drain'). 'connect', 'disconnect'
 * and 'connectionError' are re-emitted with the pool prepended to the targets, as `Pool` does, for
 * the `Agent` that counts an origin's connections. The most recently freed connection is reused
 * first, so surplus connections idle out (keep-alive timeout) instead of being kept warm in turn,
 * and the one reused is the least likely to be racing the upstream's own idle close.
 */
export class IdlePool extends Dispatcher {
  private readonly members = new Map<Client, Member>();
  private readonly idle: Member[] = [];
  private closing: Promise<void> | null = null;
  private destroying: Promise<void> | null = null;

  constructor(
    private readonly origin: string | URL,
    private readonly clientOptions: Client.Options,
  ) {
    super();
  }

  get closed(): boolean {
    return this.closing !== null;
  }

  get destroyed(): boolean {
    return this.destroying !== null;
  }

  /** Connections the pool holds, free or not (for tests and diagnostics). */
  get size(): number {
    return this.members.size;
  }

  /** Connections free for a request now. */
  get free(): number {
    return this.idle.length;
  }

  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if (this.destroying || this.closing) {
      const err = this.destroying ? new errors.ClientDestroyedError() : new errors.ClientClosedError();
      // What undici's own dispatchers do: the error goes to the handler when it can take one.
      if (typeof handler.onError !== 'function') throw err;
      handler.onError(err);
      return false;
    }
    const m = this.idle.pop() ?? this.add();
    m.idleAt = -1;
    // With pipelining 1 a client is busy after one request and says so (false, then 'drain' when
    // it is free again); one that is not stays on the stack. false with nothing queued is a request
    // the client refused (invalid options, already reported to the handler): no 'drain' will come.
    if (m.client.dispatch(opts, handler) || m.client.stats.size === 0) this.push(m);
    return true;
  }

  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    // Graceful: each client finishes the requests it carries, then closes.
    this.closing ??= this.destroying ?? Promise.all([...this.members.keys()].map((c) => c.close().catch(() => undefined))).then(() => undefined);
    if (!callback) return this.closing;
    this.closing.then(
      () => callback(),
      () => callback(),
    );
  }

  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(errOrCallback?: Error | null | (() => void), callback?: () => void): Promise<void> | void {
    if (typeof errOrCallback === 'function') {
      callback = errOrCallback;
      errOrCallback = null;
    }
    const err = errOrCallback ?? null;
    this.destroying ??= Promise.all([...this.members.keys()].map((c) => c.destroy(err).catch(() => undefined))).then(() => undefined);
    if (!callback) return this.destroying;
    const cb = callback;
    this.destroying.then(
      () => cb(),
      () => cb(),
    );
  }

  private add(): Member {
    const client = new Client(this.origin, this.clientOptions);
    const m: Member = { client, idleAt: -1, connected: false };
    this.members.set(client, m);
    // undici's types give 'drain' listeners only the origin; clients pass their targets too.
    client
      .on('drain', this.onDrain as unknown as (origin: URL) => void)
      .on('connect', this.onConnect)
      .on('disconnect', this.onDisconnect)
      .on('connectionError', this.onConnectionError);
    return m;
  }

  private push(m: Member): void {
    m.idleAt = this.idle.length;
    this.idle.push(m);
  }

  /** Takes a member off the stack wherever it sits (the top one fills its place). */
  private unstack(m: Member): void {
    const at = m.idleAt;
    if (at < 0) return;
    const last = this.idle.pop()!;
    if (last !== m) {
      this.idle[at] = last;
      last.idleAt = at;
    }
    m.idleAt = -1;
  }

  private forget(m: Member): void {
    this.unstack(m);
    this.members.delete(m.client);
  }

  private readonly onDrain = (_origin: URL, targets: Targets): void => {
    const m = this.members.get(targets[0] as Client);
    if (!m || m.idleAt >= 0 || this.closing || this.destroying) return;
    if (m.connected) {
      this.push(m);
      return;
    }
    // Free but without a socket (it failed or closed while the request ran): reconnecting it later
    // would cost as much as a new client, and keeping it would hold its memory.
    this.forget(m);
    m.client.close().catch(() => undefined);
  };

  private readonly onConnect = (origin: URL, targets: Targets) => {
    const m = this.members.get(targets[0] as Client);
    if (m) m.connected = true;
    this.emit('connect', origin, [this, ...targets]);
  };

  private readonly onDisconnect = (origin: URL, targets: Targets, err: UndiciError) => {
    const m = this.members.get(targets[0] as Client);
    if (m) {
      m.connected = false;
      // A free connection the upstream (or the keep-alive timeout) closed: gone for good. One
      // carrying a request is judged at its 'drain' (undici may reconnect for a queued request).
      if (m.idleAt >= 0) {
        this.forget(m);
        m.client.close().catch(() => undefined);
      }
    }
    this.emit('disconnect', origin, [this, ...targets], err);
  };

  private readonly onConnectionError = (origin: URL, targets: Targets, err: UndiciError) => {
    // As undici's Pool does since nodejs/undici#3895: a client that failed to connect (its queued
    // requests have been failed) is dropped and never reused, but not closed, which undici's Pool
    // notes the client cannot be in this state.
    const m = this.members.get(targets[0] as Client);
    if (m) {
      m.connected = false;
      this.forget(m);
    }
    this.emit('connectionError', origin, [this, ...targets], err);
  };
}
