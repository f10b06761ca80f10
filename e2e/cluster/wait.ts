export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Checked on every round; a string return aborts the wait with that reason (e.g. "etcd exited"). */
  abortIf?: () => string | undefined | Promise<string | undefined>;
}

/** Polls `probe` until it returns a value other than undefined/false, or fails naming what it waited for. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, o: WaitOptions): Promise<T> {
  const deadline = Date.now() + o.timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    const aborted = await o.abortIf?.();
    if (aborted) throw new Error(`gave up waiting for ${what}: ${aborted}`);
    if (Date.now() >= deadline) {
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
      throw new Error(`timed out after ${o.timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 100));
  }
}
