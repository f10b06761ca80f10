import assert from "node:assert/strict";
import { fixture } from "./fixtures.ts";
import { hasKeepRule } from "../api/backup.ts";
import { forgetArgs, parseForget, type RetentionRules } from "./forget.ts";

const rules = (r: Partial<RetentionRules>): RetentionRules => ({ keepTags: [], prune: false, dryRun: false, ...r });

describe("forget", () => {
  it("scopes retention to the backup's host and tags and passes every keep rule", () => {
    assert.deepEqual(
      forgetArgs(rules({ keepLast: 5, keepHourly: 1, keepDaily: 7, keepWeekly: 4, keepMonthly: 12, keepYearly: 2, keepTags: ["keep", "gold"], prune: true, dryRun: true }), {
        host: "host-0",
        tags: ["demo/nightly"],
      }),
      [
        "forget",
        "--host",
        "host-0",
        "--tag",
        "demo/nightly",
        "--group-by",
        "host,tags",
        "--keep-last",
        "5",
        "--keep-hourly",
        "1",
        "--keep-daily",
        "7",
        "--keep-weekly",
        "4",
        "--keep-monthly",
        "12",
        "--keep-yearly",
        "2",
        "--keep-tag",
        "keep",
        "--keep-tag",
        "gold",
        "--prune",
        "--dry-run",
      ],
    );
    // Several tags must all match: one comma-joined --tag.
    assert.deepEqual(forgetArgs(rules({ keepLast: 1 }), { host: "h", tags: ["a", "b"] }).slice(0, 5), ["forget", "--host", "h", "--tag", "a,b"]);
    assert.deepEqual(forgetArgs(rules({ keepLast: 0, keepDaily: 3 }), { host: "h", tags: [] }), ["forget", "--host", "h", "--group-by", "host,tags", "--keep-daily", "3"]);
  });

  it("knows when a policy has no rule", () => {
    assert.equal(hasKeepRule(rules({})), false);
    assert.equal(hasKeepRule(rules({ keepLast: 0, prune: true })), false);
    assert.equal(hasKeepRule(rules({ keepTags: ["x"] })), true);
    assert.equal(hasKeepRule(rules({ keepYearly: 1 })), true);
  });

  it("parses the captured output of a dry run and a prune", () => {
    for (const name of ["forget-dry-run.json", "forget-prune.json"]) {
      const parsed = parseForget(fixture(name));
      assert.ok(parsed.ok, name);
      assert.equal(parsed.value.length, 1);
      const g = parsed.value[0]!;
      assert.equal(g.host, "host-0");
      assert.deepEqual(g.tags, ["demo/nightly"]);
      assert.equal(g.keep.length, 1);
      assert.equal(g.remove.length, 2);
      assert.match(g.remove[0]!, /^[0-9a-f]{8}$/);
    }
  });

  it("treats no output as nothing matched and refuses garbage", () => {
    assert.deepEqual(parseForget(fixture("forget-nothing.json")), { ok: true, value: [] });
    assert.equal(parseForget("{").ok, false);
    assert.equal(parseForget('{"keep":[]}').ok, false);
    const noRemove = parseForget('[{"host":"h","tags":null,"keep":[{"id":"0123456789abcdef"}],"remove":null}]');
    assert.deepEqual(noRemove, { ok: true, value: [{ host: "h", tags: [], keep: ["01234567"], remove: [] }] });
  });
});
