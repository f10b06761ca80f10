// First come, first served for sessions waiting on a busy Repository. Waiting sessions poll (they are
// requeued every few seconds); when the Repository's Job finishes, whichever poll came first would
// otherwise win, so a backup scheduled at 03:00 could run before the one scheduled at 02:00 and
// retention would keep the wrong snapshots. Pure bookkeeping: the caller passes the clock.
//
// Entries are refreshed by every poll and forgotten when not refreshed for `staleAfterMs`: a session
// deleted while it waited must not hold the line forever (nothing tells this process it is gone).

export interface Waiter {
  /** `<namespace>/<job name>` of the session's Job-to-be. */
  key: string;
  /** The session's creation time (ms): the order of the line. */
  created: number;
  /** The session's name breaks ties (creation times have one-second resolution). */
  name: string;
}

interface Entry extends Waiter {
  seen: number;
}

export class RepositoryQueue {
  private readonly lines = new Map<string, Map<string, Entry>>();
  private readonly staleAfterMs: number;

  constructor(staleAfterMs: number) {
    this.staleAfterMs = staleAfterMs;
  }

  /** Puts the waiter in (or keeps it in, refreshed) the Repository's line. */
  wait(repoKey: string, waiter: Waiter, now: number): void {
    let line = this.lines.get(repoKey);
    if (!line) this.lines.set(repoKey, (line = new Map()));
    line.set(waiter.key, { ...waiter, seen: now });
  }

  /** The key of a fresh waiter that came before `waiter` on this Repository, if any. */
  ahead(repoKey: string, waiter: Waiter, now: number): string | undefined {
    const line = this.lines.get(repoKey);
    if (!line) return undefined;
    let first: Entry | undefined;
    for (const e of [...line.values()]) {
      if (now - e.seen > this.staleAfterMs) {
        line.delete(e.key);
        continue;
      }
      if (e.key === waiter.key || !before(e, waiter)) continue;
      if (!first || before(e, first)) first = e;
    }
    if (line.size === 0) this.lines.delete(repoKey);
    return first?.key;
  }

  /** Takes the key out of every line (it started, finished or failed). */
  leave(key: string): void {
    for (const [repoKey, line] of this.lines) {
      line.delete(key);
      if (line.size === 0) this.lines.delete(repoKey);
    }
  }
}

function before(a: Waiter, b: Waiter): boolean {
  return a.created < b.created || (a.created === b.created && a.name < b.name);
}
