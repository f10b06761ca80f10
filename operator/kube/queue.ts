// A work queue in the shape of client-go's: keys are de-duplicated, a key is never processed by two
// workers at once (a key added while in flight is processed again afterwards), failures back off
// exponentially per key, and `addAfter` schedules a revalidation without holding a worker.
// With `groupOf` (e.g. the key's namespace), waiting keys are taken round-robin across groups: a
// tenant with a thousand Repositories queued delays another tenant's one by at most one key per
// group, not by a thousand.
// Keys come back from `addAfter` (revalidations, periodic syncs, retries) behind keys added by a
// change (`add`, from watch events): when an operator starts with ten thousand Repositories, every
// one gets its first check before any gets its second (controller-runtime's priority queue does
// the same for the same reason). A key waiting as routine that a change adds moves up.

export interface QueueOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Fair share between groups of keys; without it, one group and first in, first out. */
  groupOf?: (key: string) => string;
}

/** Waiting keys, first in first out within a group, groups taken in turn. */
class FairQueue {
  private readonly groups = new Map<string, string[]>();
  /** Groups with waiting keys, in the order they get their next turn. */
  private readonly turns: string[] = [];
  private count = 0;
  private readonly groupOf: (key: string) => string;

  constructor(groupOf: (key: string) => string) {
    this.groupOf = groupOf;
  }

  push(key: string): void {
    const g = this.groupOf(key);
    let keys = this.groups.get(g);
    if (!keys) {
      this.groups.set(g, (keys = []));
      this.turns.push(g);
    }
    keys.push(key);
    this.count++;
  }

  shift(): string | undefined {
    const g = this.turns.shift();
    if (g === undefined) return undefined;
    const keys = this.groups.get(g)!;
    const key = keys.shift()!;
    if (keys.length > 0) this.turns.push(g);
    else this.groups.delete(g);
    this.count--;
    return key;
  }

  get length(): number {
    return this.count;
  }
}

type Priority = "change" | "routine";

export class WorkQueue {
  private readonly queues: Record<Priority, FairQueue>;
  /** Waiting keys and where; a key moved up leaves a stale entry behind in "routine", skipped when reached. */
  private readonly queued = new Map<string, Priority>();
  private readonly inFlight = new Set<string>();
  /** Keys added while in flight, to go again once done, at the higher priority they were added with. */
  private readonly dirty = new Map<string, Priority>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  private shuttingDown = false;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(opts: QueueOptions = {}) {
    this.baseDelayMs = opts.baseDelayMs ?? 200;
    this.maxDelayMs = opts.maxDelayMs ?? 5 * 60_000;
    const groupOf = opts.groupOf ?? (() => "");
    this.queues = { change: new FairQueue(groupOf), routine: new FairQueue(groupOf) };
  }

  add(key: string): void {
    this.enqueue(key, "change");
  }

  private enqueue(key: string, priority: Priority): void {
    if (this.shuttingDown) return;
    if (this.inFlight.has(key)) {
      if (this.dirty.get(key) !== "change") this.dirty.set(key, priority);
      return;
    }
    const waiting = this.queued.get(key);
    if (waiting === "change" || waiting === priority) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.queued.delete(key);
      this.inFlight.add(key);
      waiter(key);
      return;
    }
    this.queued.set(key, priority);
    this.queues[priority].push(key);
  }

  /** Adds the key after a delay; an earlier pending schedule for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) return this.add(key);
    const at = Date.now() + delayMs;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.enqueue(key, "routine");
    }, delayMs);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** Schedules a retry with per-key exponential backoff; returns the delay chosen. */
  addRateLimited(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const delay = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** n);
    this.addAfter(key, delay);
    return delay;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  failureCount(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Resolves with the next key, or undefined once the queue shuts down. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.next();
    if (key !== undefined) {
      this.queued.delete(key);
      this.inFlight.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private next(): string | undefined {
    for (const priority of ["change", "routine"] as const) {
      for (let key = this.queues[priority].shift(); key !== undefined; key = this.queues[priority].shift()) {
        if (this.queued.get(key) === priority) return key;
      }
    }
    return undefined;
  }

  done(key: string): void {
    this.inFlight.delete(key);
    const again = this.dirty.get(key);
    this.dirty.delete(key);
    if (again) this.enqueue(key, again);
  }

  get length(): number {
    return this.queued.size;
  }

  shutdown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}
