import assert from "node:assert/strict";
import type { Logger } from "../observability/logger.ts";
import { eventsDropped } from "../observability/metrics.ts";
import { makeEventRecorder } from "./events.ts";

const repo = { apiVersion: "stash.appscode.com/v1alpha1", kind: "Repository", metadata: { name: "r", namespace: "demo", uid: "u" } };

describe("event recorder", () => {
  it("holds at most maxPending events for a slow API server, drops and counts the rest, and takes new ones once it catches up", async () => {
    const waiting: Array<() => void> = [];
    const sent: string[] = [];
    const create = (_type: unknown, _ns: string | undefined, body: object) => {
      sent.push((body as { reason: string }).reason);
      return new Promise<object>((resolve) => waiting.push(() => resolve(body)));
    };
    const warned: string[] = [];
    const log = { warn: (m: string) => warned.push(m) } as unknown as Logger;
    const recorder = makeEventRecorder({ create } as never, "test", log, 3);
    const droppedBefore = (await eventsDropped.get()).values[0]?.value ?? 0;

    for (let i = 0; i < 5; i++) recorder.record(repo, "Normal", `R${i}`, "m");
    assert.deepEqual(sent, ["R0", "R1", "R2"]);
    assert.equal(((await eventsDropped.get()).values[0]?.value ?? 0) - droppedBefore, 2);
    assert.equal(warned.length, 1, "one warning per stretch of drops, not one per event");

    for (const done of waiting.splice(0)) done();
    await new Promise((r) => setImmediate(r));
    recorder.record(repo, "Warning", "R5", "m");
    assert.deepEqual(sent, ["R0", "R1", "R2", "R5"]);
  });
});
