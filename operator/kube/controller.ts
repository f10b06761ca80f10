import type { Logger } from "../observability/logger.ts";
import { WorkQueue } from "./queue.ts";
import { parseKey, type ObjectKey } from "./client.ts";

export interface ReconcileResult {
  /** Reconcile this key again after this long (revalidation, schedules, polling a Job). */
  requeueAfterMs?: number;
}

export interface ReconcileObserver {
  (kind: string, outcome: "success" | "error", seconds: number): void;
}

export interface ControllerOptions {
  kind: string;
  workers: number;
  reconcile: (key: ObjectKey) => Promise<ReconcileResult>;
  log: Logger;
  observe?: ReconcileObserver;
  /** Waiting keys taken in turn across these groups (e.g. namespaces), see WorkQueue. */
  fairBy?: (key: string) => string;
}

/**
 * Runs a reconcile function over a work queue: one in-flight reconcile per key, `workers` keys in
 * parallel, exponential backoff per key on errors, requeue when the reconcile asks for it.
 */
export class Controller {
  readonly queue: WorkQueue;
  private readonly running: Promise<void>[] = [];

  private readonly opts: ControllerOptions;

  constructor(opts: ControllerOptions) {
    this.opts = opts;
    this.queue = new WorkQueue(opts.fairBy ? { groupOf: opts.fairBy } : {});
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  start(): void {
    for (let i = 0; i < this.opts.workers; i++) this.running.push(this.worker());
  }

  async stop(): Promise<void> {
    this.queue.shutdown();
    await Promise.all(this.running);
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const started = performance.now();
      try {
        const result = await this.opts.reconcile(parseKey(key));
        this.queue.forget(key);
        if (result.requeueAfterMs !== undefined) this.queue.addAfter(key, result.requeueAfterMs);
        this.opts.observe?.(this.opts.kind, "success", (performance.now() - started) / 1000);
      } catch (err) {
        const delayMs = this.queue.addRateLimited(key);
        this.opts.observe?.(this.opts.kind, "error", (performance.now() - started) / 1000);
        this.opts.log.error("reconcile failed; retrying", { kind: this.opts.kind, key, delayMs, error: err instanceof Error ? err.message : String(err) });
      } finally {
        this.queue.done(key);
      }
    }
  }
}
