import { Due, startDue, stopDue } from '../gateway/src/core/due-list';

/** An entry that reports when (and that) it expired. */
class Entry extends Due {
  expiredAt: number | undefined = undefined;
  readonly done: Promise<void>;
  private resolve!: () => void;

  constructor(
    readonly name: string,
    private readonly order: string[],
  ) {
    super();
    this.done = new Promise((r) => (this.resolve = r));
  }

  expired(): void {
    this.expiredAt = performance.now();
    this.order.push(this.name);
    this.resolve();
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('due list (shared deadlines of one length)', () => {
  test('entries expire in order, not before their time; a stopped entry never does', async () => {
    const order: string[] = [];
    const [a, b, c] = [new Entry('a', order), new Entry('b', order), new Entry('c', order)];
    const started = performance.now();
    startDue(a, 300);
    await pause(50);
    const bAt = performance.now();
    startDue(b, 300);
    await pause(50);
    const cAt = performance.now();
    startDue(c, 300);
    stopDue(b);
    await c.done;
    expect(order).toEqual(['a', 'c']);
    // Never early (the loop's clock may round down by up to a millisecond).
    expect(a.expiredAt! - started).toBeGreaterThanOrEqual(299);
    expect(c.expiredAt! - cAt).toBeGreaterThanOrEqual(299);
    await pause(Math.max(0, bAt + 600 - performance.now()));
    expect(b.expiredAt).toBeUndefined();
    expect(order).toEqual(['a', 'c']);
  });

  test('an entry listed again, or listed from an expiry, gets a deadline of its own', async () => {
    const order: string[] = [];
    const a = new Entry('a', order);
    const b = new Entry('b', order);
    startDue(a, 200);
    startDue(a, 200); // moved, not listed twice
    await a.done;
    startDue(b, 200);
    const bAt = performance.now();
    await b.done;
    expect(order).toEqual(['a', 'b']);
    expect(b.expiredAt! - bAt).toBeGreaterThanOrEqual(199);
    stopDue(a); // not listed: nothing happens
  });

  test('lengths are independent: a short deadline is not held up behind a long one', async () => {
    const order: string[] = [];
    const long = new Entry('long', order);
    const short = new Entry('short', order);
    startDue(long, 60_000);
    startDue(short, 100);
    await short.done;
    expect(order).toEqual(['short']);
    stopDue(long);
  });
});
