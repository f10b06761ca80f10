import assert from "node:assert/strict";
import { logger } from "../observability/logger.ts";
import type { KubeClient } from "./api-client.ts";
import { LeaderElector } from "./leader.ts";
import { scriptedApi } from "./test-connection.ts";

// The holder's side of client-go's guarantee against a scripted Lease endpoint whose answers can
// stop: a leader whose calls hang stops acting at the renew deadline, counted from the last
// renewal it sent, without waiting for the hanging call. The two-process proof is
// e2e/leader-stall.test.ts.
describe("LeaderElector: a leader whose API calls hang", function () {
  this.timeout(10_000);
  let api: Awaited<ReturnType<typeof scriptedApi>>;
  let kube: KubeClient;
  let lease: Record<string, unknown> | undefined;
  let stalled = false;
  const calls: Array<{ method: string; at: number }> = [];

  before(async function () {
    api = await scriptedApi((req, res, body) => {
      calls.push({ method: req.method ?? "", at: performance.now() });
      if (stalled) return; // never answers
      const json = (status: number, obj: unknown) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(obj));
      if (req.method === "GET") return lease ? json(200, lease) : json(404, { kind: "Status", code: 404, reason: "NotFound", message: "not found" });
      lease = { ...(JSON.parse(body) as Record<string, unknown>), metadata: { name: "l", namespace: "ns", resourceVersion: String(calls.length) } };
      json(req.method === "POST" ? 201 : 200, lease);
    });
    kube = api.kube;
  });

  after(() => api.close());

  it("stops acting at the renew deadline after the last renewal it sent, while its calls still hang", async function () {
    const elector = new LeaderElector({ kube, namespace: "ns", name: "l", identity: "me", leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 200, log: logger });
    let lostAt: number | undefined;
    await elector.acquire(() => (lostAt = performance.now()));
    assert.equal(elector.isLeader, true);
    // A few renewals go through, then the API server stops answering.
    while (calls.filter((c) => c.method === "PUT").length < 3) await new Promise((r) => setTimeout(r, 20));
    const lastRenewalSent = calls.filter((c) => c.method === "GET").at(-1)!.at;
    stalled = true;
    while (lostAt === undefined) await new Promise((r) => setTimeout(r, 10));
    assert.equal(elector.isLeader, false);
    const afterLastRenewal = lostAt - lastRenewalSent;
    // Within the renew deadline of the last renewal sent (one retry period of slack for when it was sent)...
    assert.ok(afterLastRenewal <= 1000 + 50, `stopped ${afterLastRenewal.toFixed(0)} ms after the last renewal was sent`);
    // ...and so well before a standby could take the Lease (lease duration after it saw that renewal).
    assert.ok(afterLastRenewal < 1500 - 300, `margin to the lease duration: ${(1500 - afterLastRenewal).toFixed(0)} ms`);
    const hanging = calls.filter((c) => c.at > lastRenewalSent).length;
    assert.ok(hanging >= 1, "a renewal was hanging when it stopped");
    await elector.release();
    stalled = false;
  });
});
