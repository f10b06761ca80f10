import assert from "node:assert/strict";
import { containerMappings } from "./mounts.ts";

describe("node-agent mounts", () => {
  const dirs = new Map([
    ["data", "/pvc/ns/claim"],
    ["scratch", "/pods/x/volumes/scratch"],
  ]);

  it("maps mounts, subPaths and the termination message path", () => {
    const m = containerMappings(
      {
        name: "c",
        volumeMounts: [
          { name: "data", mountPath: "/data" },
          { name: "scratch", mountPath: "/tmp/s", subPath: "a/b" },
          { name: "scratch", mountPath: "/tmp/e", subPathExpr: "$(POD)" },
          { name: "unknown", mountPath: "/nowhere" },
        ],
      },
      dirs,
      "/pods/x/c.termination-log",
      new Map([["POD", "p1"]]),
    );
    assert.deepEqual(m, [
      { from: "/data", to: "/pvc/ns/claim" },
      { from: "/tmp/s", to: "/pods/x/volumes/scratch/a/b" },
      { from: "/tmp/e", to: "/pods/x/volumes/scratch/p1" },
      { from: "/dev/termination-log", to: "/pods/x/c.termination-log" },
    ]);
  });

  it("honours terminationMessagePath and keeps subPaths inside the volume", () => {
    const m = containerMappings(
      { name: "c", terminationMessagePath: "/tmp/msg", volumeMounts: [{ name: "data", mountPath: "/d", subPath: "../../etc" }] },
      dirs,
      "/t",
      new Map(),
    );
    assert.deepEqual(m, [
      { from: "/d", to: "/pvc/ns/claim/etc" },
      { from: "/tmp/msg", to: "/t" },
    ]);
  });
});
