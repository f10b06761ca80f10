import assert from "node:assert/strict";
import { cronForEvery, decideSchedule, scheduledSessionName, sessionsBeyondHistoryLimit, ScheduleError, shortestInterval, validateSchedule } from "./schedule.ts";

const at = (iso: string): Date => new Date(iso);

describe("decideSchedule", () => {
  it("is not due before the first scheduled time", () => {
    const d = decideSchedule("*/5 * * * *", at("2026-01-01T00:00:00Z"), at("2026-01-01T00:04:59Z"), "UTC");
    assert.equal(d.due, undefined);
    assert.deepEqual(d.next, at("2026-01-01T00:05:00Z"));
  });

  it("is due at the scheduled time, and the next run is one period later", () => {
    const d = decideSchedule("*/5 * * * *", at("2026-01-01T00:00:00Z"), at("2026-01-01T00:05:00Z"), "UTC");
    assert.deepEqual(d.due, at("2026-01-01T00:05:00Z"));
    assert.deepEqual(d.next, at("2026-01-01T00:10:00Z"));
    assert.equal(d.missed, 0);
  });

  it("runs only the latest of several missed times", () => {
    const d = decideSchedule("0 * * * *", at("2026-01-01T00:00:00Z"), at("2026-01-01T05:30:00Z"), "UTC");
    assert.deepEqual(d.due, at("2026-01-01T05:00:00Z"));
    assert.equal(d.missed, 4);
    assert.deepEqual(d.next, at("2026-01-01T06:00:00Z"));
  });

  it("does not run a time already handled", () => {
    const d = decideSchedule("0 * * * *", at("2026-01-01T05:00:00Z"), at("2026-01-01T05:30:00Z"), "UTC");
    assert.equal(d.due, undefined);
  });

  it("evaluates in UTC whatever the operator's TZ", () => {
    const saved = process.env.TZ;
    process.env.TZ = "Asia/Tokyo";
    try {
      const d = decideSchedule("0 2 * * *", at("2026-01-01T00:00:00Z"), at("2026-01-01T03:00:00Z"));
      assert.deepEqual(d.due, at("2026-01-01T02:00:00Z"));
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });

  it("accepts a leading seconds field", () => {
    const d = decideSchedule("*/5 * * * * *", at("2026-01-01T00:00:00Z"), at("2026-01-01T00:00:07Z"));
    assert.deepEqual(d.due, at("2026-01-01T00:00:05Z"));
    assert.deepEqual(d.next, at("2026-01-01T00:00:10Z"));
    assert.equal(validateSchedule("*/5 * * * * *"), undefined);
  });

  it("rejects nonsense with the expression named, and says which forms it reads", () => {
    assert.throws(() => decideSchedule("every day", new Date(), new Date()), (e: unknown) => e instanceof ScheduleError && e.message.includes('"every day"'));
    assert.match(validateSchedule("61 * * * *") ?? "", /not a valid cron expression .*Accepted: five fields .*@weekends/);
    assert.equal(validateSchedule("@daily"), undefined);
  });

  it("explains @every (robfig/cron's form, as Stash users write it) and translates what it can", () => {
    assert.match(validateSchedule("@every 1h") ?? "", /@every form, which blobstash's cron \(cron-parser\) does not read: write it as "0 \* \* \* \*"/);
    assert.match(validateSchedule("@every 1s") ?? "", /write the interval as a cron expression\. Accepted: five fields/);
    assert.equal(cronForEvery("15m"), "*/15 * * * *");
    assert.equal(cronForEvery("6h"), "0 */6 * * *");
    assert.equal(cronForEvery("24h"), "0 0 * * *");
    assert.equal(cronForEvery("7m"), undefined);
    assert.equal(cronForEvery("1s"), undefined);
  });

  it("refuses schedules that fire more often than the floor, naming the interval", () => {
    assert.match(validateSchedule("* * * * * *", 60_000) ?? "", /runs every 1s, and scheduled backups run at most once every 1m/);
    assert.match(validateSchedule("*/30 * * * * *", 60_000) ?? "", /runs every 30s/);
    assert.match(validateSchedule("0,59 23,0 * * *", 300_000) ?? "", /runs every 1m/);
    assert.equal(validateSchedule("* * * * *", 60_000), undefined);
    assert.equal(validateSchedule("30 0 2 * * *", 60_000), undefined);
    assert.equal(validateSchedule("*/5 * * * * *", 1000), undefined);
    assert.equal(shortestInterval("0 2 * * *"), 86_400_000);
    assert.equal(shortestInterval("0 0 * * 1,2"), 86_400_000);
  });
});

describe("scheduledSessionName", () => {
  it("is deterministic and fits a Kubernetes name", () => {
    assert.equal(scheduledSessionName("nightly", at("2026-01-01T00:00:00Z")), "nightly-1767225600");
    const long = scheduledSessionName("x".repeat(80), at("2026-01-01T00:00:00Z"));
    assert.ok(long.length <= 63);
    assert.ok(long.endsWith("-1767225600"));
    const dotted = scheduledSessionName(`${"a".repeat(51)}.b`, at("2026-01-01T00:00:00Z"));
    assert.equal(dotted, `${"a".repeat(51)}-1767225600`, "a cut never leaves a dot before the time");
  });
});

describe("sessionsBeyondHistoryLimit", () => {
  it("keeps the newest finished sessions and every running one", () => {
    const s = (name: string, minute: number, finished = true) => ({ name, created: new Date(Date.UTC(2026, 0, 1, 0, minute)), finished });
    const sessions = [s("a", 1), s("b", 2), s("c", 3, false), s("d", 4), s("e", 5)];
    assert.deepEqual(sessionsBeyondHistoryLimit(sessions, 2), ["a", "b"]);
    assert.deepEqual(sessionsBeyondHistoryLimit(sessions, 0), ["a", "b", "d", "e"]);
    assert.deepEqual(sessionsBeyondHistoryLimit(sessions, 10), []);
  });

  it("takes the name that sorts last as the newer of sessions created in the same second", () => {
    const sameSecond = new Date(Date.UTC(2026, 0, 1));
    const sessions = ["backup-1", "backup-3", "backup-2"].map((name) => ({ name, created: sameSecond, finished: true }));
    assert.deepEqual(sessionsBeyondHistoryLimit(sessions, 1), ["backup-1", "backup-2"]);
  });
});
