// Key derivations (scrypt) share a few slots: each holds up to what RESTIC_SCRYPT_LIMITS allow of
// memory and a core for seconds, and they run in libuv's small thread pool beside DNS and file
// I/O. Whoever waits for one waits with a deadline, so a tenant whose key files are slow to derive
// cannot hold the operator's Repository workers longer than that.

export class TimeLimitReached extends Error {
  override name = "TimeLimitReached";
}

export class DerivationSlots {
  private readonly size: number;
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  /** Derivations started, for tests and metrics. */
  started = 0;

  constructor(size = 2) {
    this.size = size;
  }

  /**
   * Runs `derive` in a free slot, or rejects with TimeLimitReached when `deadline` (a
   * performance.now() time) comes first, while waiting or while deriving. A derivation cannot be
   * stopped once started: it keeps its slot until it ends, so CPU and memory stay bounded while the
   * caller moves on.
   */
  async run<T>(derive: () => Promise<T>, deadline: number): Promise<T> {
    while (this.running >= this.size) {
      const left = deadline - performance.now();
      if (left <= 0) throw new TimeLimitReached();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          const i = this.waiting.indexOf(wake);
          if (i >= 0) this.waiting.splice(i, 1);
          resolve();
        }, left);
        const wake = () => {
          clearTimeout(timer);
          resolve();
        };
        this.waiting.push(wake);
      });
    }
    this.running++;
    this.started++;
    const work = derive().finally(() => {
      this.running--;
      this.waiting.shift()?.();
    });
    work.catch(() => undefined); // a failure after the deadline is no one's to handle
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeLimitReached()), Math.max(0, deadline - performance.now()));
    });
    try {
      return await Promise.race([work, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}
