// The check and forget flows against a local repository made by the pinned restic: a healthy check
// passes, a missing pack is RepositoryDamaged with restic's words, a subset check rotates, forget
// removes exactly one snapshot and an unknown id counts as done.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resticBinary } from "./fixtures.ts";
import { parseWrapperArgs, type CheckPlan, type ForgetPlan } from "./flags.ts";
import { checkFlow, forgetFlow } from "./maintenance-flow.ts";

describe("maintenance flows (check, forget)", function () {
  this.timeout(120_000);
  let dir: string;
  let repo: string;
  const password = "unit-test-password";
  const restic = (...args: string[]) => execFileSync(resticBinary(), ["-r", repo, ...args], { env: { ...process.env, RESTIC_PASSWORD: password }, encoding: "utf8" });
  const deps = () => ({ signal: new AbortController().signal, now: () => new Date() });
  const plan = <P extends CheckPlan | ForgetPlan>(argv: string[]): P => {
    const p = parseWrapperArgs([...argv, "--repo", repo, "--no-cache", "--restic", resticBinary()], {});
    assert.ok(p.ok, !p.ok ? p.error : "");
    return p.plan as P;
  };
  let saved: string | undefined;

  before(() => {
    saved = process.env.RESTIC_PASSWORD;
    process.env.RESTIC_PASSWORD = password;
    dir = mkdtempSync(join(tmpdir(), "maint-"));
    repo = join(dir, "repo");
    mkdirSync(join(dir, "data"));
    for (let i = 0; i < 8; i++) writeFileSync(join(dir, "data", `f${i}`), Buffer.alloc(300_000, i + 1));
    restic("init", "-q");
    restic("backup", "-q", join(dir, "data"));
    writeFileSync(join(dir, "data", "extra"), "more");
    restic("backup", "-q", join(dir, "data"));
  });
  after(() => {
    if (saved === undefined) delete process.env.RESTIC_PASSWORD;
    else process.env.RESTIC_PASSWORD = saved;
    rmSync(dir, { recursive: true, force: true });
  });

  it("forget removes exactly the snapshot named; an id restic does not have counts as done", async () => {
    const ids = (JSON.parse(restic("snapshots", "--json")) as Array<{ id: string }>).map((s) => s.id);
    const r = await forgetFlow(plan<ForgetPlan>(["forget", "--snapshot", ids[1]!, "--prune"]), deps());
    assert.equal(r.outcome, "Succeeded", r.message);
    const left = (JSON.parse(restic("snapshots", "--json")) as Array<{ id: string }>).map((s) => s.id);
    assert.deepEqual(left, [ids[0]], "only the forgotten snapshot is gone");
    const again = await forgetFlow(plan<ForgetPlan>(["forget", "--snapshot", "f".repeat(64)]), deps());
    assert.equal(again.outcome, "Succeeded", again.message);
  });

  it("a healthy repository passes a full check and every part of a subset cycle", async () => {
    const full = await checkFlow(plan<CheckPlan>(["check"]), deps());
    assert.deepEqual([full.outcome, full.reason], ["Succeeded", "Succeeded"], full.message);
    const part = await checkFlow(plan<CheckPlan>(["check", "--read-data-subset", "2/3"]), deps());
    assert.deepEqual([part.outcome, part.check], ["Succeeded", { readDataSubset: "2/3" }], part.message);
  });

  it("a missing pack is RepositoryDamaged, in restic's words", async () => {
    const dataDir = join(repo, "data");
    const pack = readdirSync(dataDir).flatMap((d) => readdirSync(join(dataDir, d)).map((f) => join(dataDir, d, f)))[0]!;
    unlinkSync(pack);
    const r = await checkFlow(plan<CheckPlan>(["check"]), deps());
    assert.deepEqual([r.outcome, r.reason, r.step], ["Failed", "RepositoryDamaged", "check"], r.message);
    assert.match(r.message ?? "", /does not exist|no such file/, `restic's message names the missing pack: ${r.message}`);
  });

  it("refuses a subset restic would not take", () => {
    for (const bad of ["0%", "101%", "4/3", "0/2", "half"]) {
      const p = parseWrapperArgs(["check", "--repo", "r", "--read-data-subset", bad], {});
      assert.equal(p.ok, false, `--read-data-subset ${bad} must be refused`);
    }
  });
});
