// What one tenant may make the Snapshot sync do (issue 13, "bounded work per tenant"). Pure.
//
// A namespace gets at most `budget` Snapshot objects, shared among its Repositories: each gets
// what it needs if all fit, else a fair share (max-min fairness: small repositories keep all their
// snapshots, the large ones split the rest equally). The same bound caps what the operator reads
// and keeps in memory for that namespace, so a tenant with a huge repository costs the operator no
// more than any other tenant at its budget, and cannot push another namespace's objects out.

/** Default of --snapshot-max-per-namespace. */
export const DEFAULT_SNAPSHOTS_PER_NAMESPACE = 10_000;

/**
 * Each Repository's limit, from how many snapshot files each holds (`need`, by Repository key).
 * Max-min fair: repositories needing less than an equal share get all they need; the rest of the
 * budget is split equally among the others (remainders to the first keys in sorted order, so the
 * answer does not depend on the order the keys were learned in).
 */
export function shareBudget(budget: number, need: ReadonlyMap<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  let left = Math.max(0, Math.floor(budget));
  let open = [...need.entries()].map(([key, n]) => ({ key, n: Math.max(0, Math.floor(n)) })).sort((a, b) => a.n - b.n || a.key.localeCompare(b.key));
  while (open.length > 0) {
    const share = Math.floor(left / open.length);
    const fits = open.filter((r) => r.n <= share);
    if (fits.length === 0) {
      const extra = left - share * open.length;
      open.sort((a, b) => a.key.localeCompare(b.key)).forEach((r, i) => out.set(r.key, share + (i < extra ? 1 : 0)));
      return out;
    }
    for (const r of fits) {
      out.set(r.key, r.n);
      left -= r.n;
    }
    open = open.filter((r) => r.n > share);
  }
  return out;
}

export interface ReadPlan<E> {
  /** Entries within the limit (the newest), in listing order. */
  keep: E[];
  /** Of `keep`, those not read yet, at most `maxReads` of them. */
  read: E[];
  /** Entries within the limit left unread for a later look (the per-look read budget). */
  deferred: number;
}

/**
 * Which snapshot files to keep and read this look: the newest `limit` by upload time (restic writes
 * a snapshot file when the backup ends, so upload order is snapshot order but for copies), of those
 * the unread ones up to `maxReads`. A look reads at most `maxReads` files, so one Repository's
 * first sync of 10,000 snapshots is many short reconciles between other namespaces', not one long one.
 */
export function planReads<E extends { id: string; lastModified: number }>(entries: readonly E[], known: (id: string) => boolean, limit: number, maxReads: number): ReadPlan<E> {
  let keep = [...entries];
  if (keep.length > limit) {
    const newest = new Set(
      [...entries]
        .sort((a, b) => b.lastModified - a.lastModified || a.id.localeCompare(b.id))
        .slice(0, Math.max(0, limit))
        .map((e) => e.id),
    );
    keep = entries.filter((e) => newest.has(e.id));
  }
  const unread = keep.filter((e) => !known(e.id));
  const read = unread.slice(0, Math.max(0, maxReads));
  return { keep, read, deferred: unread.length - read.length };
}
