import assert from "node:assert/strict";
import { makePathRewriter } from "./paths.ts";

describe("node-agent path rewriting", () => {
  const rw = makePathRewriter([
    { from: "/data", to: "/host/pvc/ns/claim" },
    { from: "/data/cache/", to: "/host/empty/cache" },
    { from: "/dev/termination-log", to: "/host/pod/c.termination-log" },
  ]);

  it("rewrites a mount path and paths below it", () => {
    assert.equal(rw("/data"), "/host/pvc/ns/claim");
    assert.equal(rw("/data/x/y"), "/host/pvc/ns/claim/x/y");
    assert.equal(rw("/data/"), "/host/pvc/ns/claim/");
  });

  it("rewrites inside flags, lists and shell scripts", () => {
    assert.equal(rw("--dir=/data/a"), "--dir=/host/pvc/ns/claim/a");
    assert.equal(rw("a:/data:b"), "a:/host/pvc/ns/claim:b");
    assert.equal(
      rw("echo done > /dev/termination-log; ls '/data'"),
      "echo done > /host/pod/c.termination-log; ls '/host/pvc/ns/claim'",
    );
  });

  it("prefers the longest mount path (nested mounts, trailing slash ignored)", () => {
    assert.equal(rw("/data/cache/f"), "/host/empty/cache/f");
    assert.equal(rw("/data/cachex"), "/host/pvc/ns/claim/cachex");
  });

  it("does not rewrite partial names or paths that merely end with a mount path", () => {
    assert.equal(rw("/database"), "/database");
    assert.equal(rw("/x/data"), "/x/data");
    assert.equal(rw("my/data"), "my/data");
    assert.equal(rw("/data.bak"), "/data.bak");
    assert.equal(rw("/dev/termination-log2"), "/dev/termination-log2");
  });

  it("never rewrites a host path it produced (single pass)", () => {
    const nested = makePathRewriter([
      { from: "/a", to: "/b/a" },
      { from: "/b", to: "/c" },
    ]);
    assert.equal(nested("/a /b"), "/b/a /c");
  });

  it("ignores root and relative mount paths", () => {
    const odd = makePathRewriter([
      { from: "/", to: "/host" },
      { from: "rel", to: "/host2" },
    ]);
    assert.equal(odd("/etc rel"), "/etc rel");
  });

  it("escapes regular-expression characters in mount paths", () => {
    const special = makePathRewriter([{ from: "/a+b(c)", to: "/h" }]);
    assert.equal(special("/a+b(c)/x /aab(c)"), "/h/x /aab(c)");
  });
});
