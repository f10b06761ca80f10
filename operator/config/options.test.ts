import assert from "node:assert/strict";
import { OptionsError, parseOperatorOptions } from "./options.ts";

describe("parseOperatorOptions", () => {
  it("uses defaults", () => {
    const o = parseOperatorOptions([], {});
    assert.equal(o.revalidatePeriodMs, 60_000);
    assert.equal(o.defaultEndpointSuffix, "core.windows.net");
    assert.equal(o.leaderElect, true);
    assert.deepEqual(o.watchNamespaces, []);
    assert.equal(o.repositoryWaitLimitMs, 300_000);
    assert.equal(o.minScheduleIntervalMs, 60_000);
    assert.equal(parseOperatorOptions(["--min-schedule-interval=1s", "--repository-wait-limit=5s"], {}).minScheduleIntervalMs, 1000);
  });

  it("prefers flags over env over defaults", () => {
    const o = parseOperatorOptions(["--revalidate-period", "5m"], { BLOBSTASH_REVALIDATE_PERIOD: "10s", BLOBSTASH_WATCH_NAMESPACES: "a, b" });
    assert.equal(o.revalidatePeriodMs, 300_000);
    assert.deepEqual(o.watchNamespaces, ["a", "b"]);
    assert.equal(parseOperatorOptions([], { BLOBSTASH_REVALIDATE_PERIOD: "10s" }).revalidatePeriodMs, 10_000);
  });

  it("names the flag that is wrong", () => {
    assert.throws(() => parseOperatorOptions(["--revalidate-period", "soon"], {}), (e: unknown) => e instanceof OptionsError && /--revalidate-period/.test(e.message));
    assert.throws(() => parseOperatorOptions(["--concurrency", "0"], {}), /--concurrency/);
    assert.throws(() => parseOperatorOptions(["--leader-elect", "maybe"], {}), /--leader-elect/);
    assert.throws(() => parseOperatorOptions(["--no-such-flag"], {}));
    assert.throws(() => parseOperatorOptions(["--leader-elect-renew-deadline", "20s"], {}), /must be longer than --leader-elect-renew-deadline/);
  });

  it("takes client-go's leader election timing by default", () => {
    const o = parseOperatorOptions([], {});
    assert.deepEqual([o.leaseDurationMs, o.renewDeadlineMs, o.retryPeriodMs], [15_000, 10_000, 2_000]);
  });
});
