import assert from "node:assert/strict";
import { RepositoryQueue, type Waiter } from "./queue.ts";

const w = (name: string, created: number): Waiter => ({ key: `ns/${name}-backup`, created, name });

describe("RepositoryQueue", () => {
  it("lets the session created first go first, whoever polls first", () => {
    const q = new RepositoryQueue(10_000);
    const early = w("nightly-100", 100_000);
    const late = w("nightly-105", 105_000);
    q.wait("ns/repo", late, 0);
    q.wait("ns/repo", early, 1);
    assert.equal(q.ahead("ns/repo", late, 2), "ns/nightly-100-backup");
    assert.equal(q.ahead("ns/repo", early, 2), undefined);
    // A session that never waited still queues behind the ones that do.
    assert.equal(q.ahead("ns/repo", w("nightly-110", 110_000), 2), "ns/nightly-100-backup");
  });

  it("breaks creation-time ties by name, and keeps Repositories apart", () => {
    const q = new RepositoryQueue(10_000);
    q.wait("ns/repo", w("b", 5_000), 0);
    assert.equal(q.ahead("ns/repo", w("a", 5_000), 0), undefined);
    assert.equal(q.ahead("ns/repo", w("c", 5_000), 0), "ns/b-backup");
    assert.equal(q.ahead("ns/other", w("c", 5_000), 0), undefined);
  });

  it("forgets waiters that left or stopped polling", () => {
    const q = new RepositoryQueue(10_000);
    q.wait("ns/repo", w("a", 1_000), 0);
    q.wait("ns/repo", w("b", 2_000), 0);
    q.leave("ns/a-backup");
    assert.equal(q.ahead("ns/repo", w("c", 3_000), 0), "ns/b-backup");
    // b was deleted while it waited: after staleAfterMs without a poll it no longer holds the line.
    assert.equal(q.ahead("ns/repo", w("c", 3_000), 10_001), undefined);
  });
});
