// The chart's RBAC, derived from a run: every request the operators of this e2e run sent (their
// ServiceAccounts and user agent, from the API server's audit log) against every permission the
// chart binds to the operator's ServiceAccount, cluster-wide and namespace-scoped. A grant no
// request used fails the test. It runs last (.mocharc.e2e.json lists it after every other file),
// so the whole suite's requests are in the log.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { auditLogPath } from "../cluster/apiserver.ts";
import { OPERATOR_NAMESPACE, RELEASE, renderChart } from "../cluster/operator.ts";
import { cluster } from "../fixture.ts";
import { GRANTED_TO_EVERYONE, grantsOf, usageOf, type Permission } from "../support/rbac-audit.ts";

describe("RBAC derived from the run's audit log", function () {
  it("grants the operator's ServiceAccount no permission that none of its requests in this run used", async function () {
    const lines = readFileSync(auditLogPath(cluster().dir), "utf8").split("\n");
    const usage = usageOf(lines, (user, agent) => /^system:serviceaccount:[^:]+:[^:]+$/.test(user) && agent.startsWith("blobstash-operator"));
    const grants = new Map<Permission, string[]>();
    for (const args of [[], ["--set", "watchNamespaces={team-a,team-b}"]]) {
      const manifests = parseAllDocuments(await renderChart(args)).map((d) => d.toJS() as Record<string, unknown>).filter(Boolean);
      for (const [p, by] of grantsOf(manifests, { name: RELEASE, namespace: OPERATOR_NAMESPACE })) grants.set(p, [...new Set([...(grants.get(p) ?? []), ...by])]);
    }

    const rows = [...grants.keys()].sort().map((p) => ({ p, by: grants.get(p)!.join(", "), n: usage.used.get(p) ?? 0 }));
    const w = Math.max(...rows.map((r) => r.p.length));
    console.log(`\n      ${"permission".padEnd(w)} | requests | granted by`);
    for (const r of rows) console.log(`      ${r.p.padEnd(w)} | ${String(r.n).padStart(8)} | ${r.by}`);
    const ungranted = [...usage.used.keys()].filter((p) => !grants.has(p) && !GRANTED_TO_EVERYONE.includes(p));
    const everyone = GRANTED_TO_EVERYONE.filter((p) => usage.used.has(p)).map((p) => `${p} ×${usage.used.get(p)}`);
    console.log(`      ${rows.length} granted, ${rows.filter((r) => r.n > 0).length} used; granted to every user (system:basic-user) and used: ${everyone.join(", ") || "none"}; refused requests: ${[...usage.denied].map(([p, n]) => `${p} ×${n}`).join(", ") || "none"}\n`);

    assert.ok(usage.used.size > 0, `no request of an operator in ${auditLogPath(cluster().dir)}`);
    assert.deepEqual(ungranted, [], "every permission used was granted (else it was refused)");
    const unused = rows.filter((r) => r.n === 0).map((r) => `${r.p} (${r.by})`);
    assert.deepEqual(unused, [], "grants no request used: remove them, or add the test that needs them (this file runs after the whole e2e suite)");
  });
});
