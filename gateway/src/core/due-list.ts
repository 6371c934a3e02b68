/**
 * Deadlines of one length share one timer. Entries of the same length fall due in the order they
 * were added, so each length is a FIFO list whose head is the next to fall due: adding and removing
 * an entry is a few pointer stores on the entry itself (no Timeout object, no closure), and the one
 * timer per length is re-armed for the new head only when it fires. Under load the list never
 * empties, so a request neither sets nor clears a timer of its own.
 */
export abstract class Due {
  /** performance.now() at which `expired()` runs; 0 while not listed. */
  dueAt = 0;
  prevDue: Due | null = null;
  nextDue: Due | null = null;
  dueList: DueList | null = null;

  /** Runs once, when the entry is still listed at its deadline (it is unlisted first). */
  abstract expired(): void;
}

class DueList {
  head: Due | null = null;
  tail: Due | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Expiring: an entry added by an `expired()` must not arm the timer for its own, later, deadline. */
  private firing = false;
  private readonly fire = () => this.expire();

  constructor(readonly ms: number) {}

  add(entry: Due): void {
    entry.dueAt = performance.now() + this.ms;
    entry.dueList = this;
    entry.prevDue = this.tail;
    entry.nextDue = null;
    if (this.tail) this.tail.nextDue = entry;
    else this.head = entry;
    this.tail = entry;
    if (this.timer === null && !this.firing) this.arm(this.ms);
  }

  remove(entry: Due): void {
    if (entry.prevDue) entry.prevDue.nextDue = entry.nextDue;
    else this.head = entry.nextDue;
    if (entry.nextDue) entry.nextDue.prevDue = entry.prevDue;
    else this.tail = entry.prevDue;
    entry.prevDue = entry.nextDue = entry.dueList = null;
    entry.dueAt = 0;
    // The timer is left to fire: it finds the next head (or nothing) and re-arms (or stops).
  }

  private arm(ms: number): void {
    // Unref'd like the per-request timers it replaces: a pending deadline keeps no process alive.
    this.timer = setTimeout(this.fire, ms);
    this.timer.unref();
  }

  private expire(): void {
    this.timer = null;
    const now = performance.now();
    this.firing = true;
    let head = this.head;
    try {
      while (head !== null && head.dueAt <= now) {
        this.remove(head);
        head.expired();
        head = this.head;
      }
    } finally {
      this.firing = false;
      // Timers run on the loop's millisecond clock, which can be a fraction behind performance.now().
      head = this.head;
      if (head !== null) this.arm(Math.max(1, Math.ceil(head.dueAt - performance.now())));
    }
  }
}

const lists = new Map<number, DueList>();

/** Lists `entry` to expire in `ms` milliseconds (an entry already listed is moved). */
export function startDue(entry: Due, ms: number): void {
  if (entry.dueList) entry.dueList.remove(entry);
  let list = lists.get(ms);
  if (!list) {
    list = new DueList(ms);
    lists.set(ms, list);
  }
  list.add(entry);
}

/** Unlists `entry`; nothing happens when it is not listed. */
export function stopDue(entry: Due): void {
  entry.dueList?.remove(entry);
}
