import assert from "node:assert/strict";
import { pace, parseThrottle, plainAddress, Throttles } from "./throttle.ts";

describe("throttle: the proxy's slow-link mode", function () {
  it("takes an address and a whole rate; 0 lifts it", function () {
    assert.deepEqual(parseThrottle('{"from":"10.1.2.3","bytesPerSecond":1000}'), { from: "10.1.2.3", bytesPerSecond: 1000 });
    assert.deepEqual(parseThrottle('{"from":"10.1.2.3","bytesPerSecond":0}'), { from: "10.1.2.3", bytesPerSecond: 0 });
    for (const body of ["{}", '{"from":"x y","bytesPerSecond":1}', '{"from":"10.1.2.3","bytesPerSecond":-1}', '{"from":"10.1.2.3","bytesPerSecond":1.5}']) {
      assert.throws(() => parseThrottle(body), /must be/, body);
    }
  });

  it("reads IPv4-mapped addresses as IPv4", function () {
    assert.equal(plainAddress("::ffff:10.1.2.3"), "10.1.2.3");
    assert.equal(plainAddress("10.1.2.3"), "10.1.2.3");
  });

  it("paces chunks one after another at the rate, and lets them through when unthrottled", function () {
    // 1000 B/s: a 500 B chunk takes half a second of the link; the next one waits for it.
    assert.deepEqual(pace(10_000, 0, 500, 1000), { waitMs: 0, nextFree: 10_500 });
    assert.deepEqual(pace(10_100, 10_500, 500, 1000), { waitMs: 400, nextFree: 11_000 });
    // An idle link does not bank credit.
    assert.deepEqual(pace(20_000, 11_000, 1000, 1000), { waitMs: 0, nextFree: 21_000 });
    assert.deepEqual(pace(20_000, 25_000, 1000, 0), { waitMs: 0, nextFree: 20_000 });
  });

  it("counts what a source sent, slowed or not, and says when a rate changes", async function () {
    const t = new Throttles();
    const through = async (from: string, data: Buffer) => {
      const s = t.stream(from);
      const out: Buffer[] = [];
      s.on("data", (c: Buffer) => out.push(c));
      s.end(data);
      await new Promise((resolve) => s.on("end", resolve));
      return Buffer.concat(out);
    };
    assert.equal((await through("10.0.0.1", Buffer.alloc(100))).length, 100);
    assert.deepEqual(t.set({ from: "10.0.0.1", bytesPerSecond: 1_000_000 }), { sent: 100, changed: true });
    assert.deepEqual(t.set({ from: "10.0.0.1", bytesPerSecond: 1_000_000 }), { sent: 100, changed: false });
    const started = Date.now();
    const s = t.stream("10.0.0.1");
    s.resume();
    s.write(Buffer.alloc(50_000));
    s.end(Buffer.alloc(50_000));
    await new Promise((resolve) => s.on("end", resolve));
    // The second 50 kB waits for the first to take its 50 ms of the link.
    assert.ok(Date.now() - started >= 45, `took ${Date.now() - started} ms`);
    assert.deepEqual(t.set({ from: "10.0.0.1", bytesPerSecond: 0 }), { sent: 100_100, changed: true });
    assert.deepEqual(t.set({ from: "10.0.0.2", bytesPerSecond: 0 }), { sent: 0, changed: false });
  });
});
