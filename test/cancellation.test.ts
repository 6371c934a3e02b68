import { Cancellation } from '../gateway/src/core/cancellation';
import { CallContext } from '../gateway/src/core/call';
import { Observers } from '../gateway/src/core/observers';
import type { Route, Target } from '../gateway/src/core/routes';
import type { UpstreamCall } from '../gateway/src/core/upstream';
import { exchangeDeadline } from '../gateway/src/providers/deadline';
import { CircuitBreakers } from '../gateway/src/routing/breaker';
import { runAttempts } from '../gateway/src/routing/attempts';

/**
 * Issue 15: a request's cancellation is an EventEmitter, and the AbortSignal a provider may ask
 * for (about 15 µs to create under Node 20, more than the rest of routing) is made only on first
 * use; whenever it is made, it must say what the cancellation says.
 */
describe('Cancellation', () => {
  test('a signal asked for before the abort aborts with it, with the same reason', () => {
    const c = new Cancellation();
    const signal = c.signal;
    expect(signal).toBeInstanceOf(AbortSignal);
    expect(signal.aborted).toBe(false);
    const heard: unknown[] = [];
    c.once('abort', () => heard.push('emitter'));
    signal.addEventListener('abort', () => heard.push('signal'));
    const reason = new Error('client went away');
    c.abort(reason);
    expect(heard).toEqual(['emitter', 'signal']);
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe(reason);
    expect(c.signal).toBe(signal);
  });

  test('a signal asked for after the abort is born aborted; the default reason is an AbortError, as AbortController gives', () => {
    const c = new Cancellation();
    c.abort();
    c.abort(new Error('second abort is ignored'));
    expect(c.aborted).toBe(true);
    expect((c.reason as Error).name).toBe('AbortError');
    expect(c.signal.aborted).toBe(true);
    expect(c.signal.reason).toBe(c.reason);
  });

  test('listeners hear the abort once each, in the order added; a removed one is not told, one added twice is told twice', () => {
    const c = new Cancellation();
    const heard: string[] = [];
    const a = () => heard.push('a');
    const b = () => heard.push('b');
    const d = () => heard.push('d');
    c.on('abort', a).once('abort', b).on('abort', a).on('abort', d);
    c.removeListener('abort', a); // the latest registration of `a`
    c.removeListener('abort', () => undefined); // never added: nothing happens
    expect(c.listenerCount('abort')).toBe(3);
    c.removeListener('abort', a);
    c.on('abort', a);
    c.abort();
    c.abort();
    expect(heard).toEqual(['b', 'd', 'a']);
    expect(c.listenerCount('abort')).toBe(0);
  });

  test('an exchange signal tells each listener once, as an AbortSignal with { once: true } does; a removed one is not told', () => {
    const d = exchangeDeadline(new Cancellation(), 60, () => 'test target');
    const heard: string[] = [];
    const a = () => heard.push('a');
    const b = () => heard.push('b');
    const c = () => heard.push('c');
    d.signal.addEventListener('abort', a);
    d.signal.addEventListener('abort', b);
    d.signal.addEventListener('abort', c);
    d.signal.removeEventListener('abort', b);
    d.signal.abort(new Error('first'));
    d.signal.abort(new Error('second'));
    expect(heard).toEqual(['a', 'c']);
    expect((d.signal.reason as Error).message).toBe('first');
    d.clear();
  });

  test('an exchange deadline follows a Cancellation as it follows an AbortSignal, and lets go of it when cleared', () => {
    for (const make of [() => new Cancellation(), () => new AbortController()]) {
      const client = make();
      const d = exchangeDeadline(client instanceof Cancellation ? client : client.signal, 60, () => 'test target');
      expect(d.signal.aborted).toBe(false);
      client.abort();
      expect(d.signal.aborted).toBe(true);
      expect((d.signal.reason as Error).name).toBe('AbortError');
      d.clear();
    }
    const c = new Cancellation();
    const d = exchangeDeadline(c, 60, () => 'test target');
    expect(c.listenerCount('abort')).toBe(1);
    d.clear();
    expect(c.listenerCount('abort')).toBe(0);
  });
});

test("an attempt's call.signal, read by a provider, is an AbortSignal that aborts when the client leaves", async () => {
  const target = { id: 't1', provider: 'anthropic', model: 'm', baseURL: 'http://127.0.0.1:9', priority: 0, weight: 1 } as unknown as Target;
  const call = new CallContext(Date.now());
  call.route = { name: 'default/r', targets: [target], retry: { attempts: 1, on: [] } } as unknown as Route;
  const client = new Cancellation();
  let seen: AbortSignal | undefined;
  const attempt = runAttempts(
    {
      // A provider adapter that, like one fetching credentials, hands call.signal to an abortable wait.
      adapter: () => ({
        send: (c: UpstreamCall) =>
          new Promise((_, reject) => {
            seen = c.signal;
            c.signal.addEventListener('abort', () => reject(c.signal.reason));
          }),
      }),
      breakers: new CircuitBreakers(),
      observers: new Observers(),
      maxRetryWaitMs: 0,
      baseBackoffMs: 1,
    },
    call,
    { endpoint: 'messages', body: {}, raw: Buffer.from('{}'), search: '', clientHeaders: {}, requestId: call.requestId },
    client,
  );
  await new Promise((r) => setImmediate(r));
  expect(seen).toBeInstanceOf(AbortSignal);
  expect(seen!.aborted).toBe(false);
  client.abort();
  await expect(attempt).rejects.toMatchObject({ kind: 'aborted' });
  expect(seen!.aborted).toBe(true);
});
