import assert from "node:assert/strict";
import { adminPolicy, endpointRefusal, identityRefusal, parseIdentityGrants } from "./admin-policy.ts";

describe("the admin's Azure policy", () => {
  it("approves the Azure clouds, the operator's default and what the admin adds, exactly and case-blind", () => {
    const p = adminPolicy({ defaultEndpointSuffix: "localhost:10000", extraEndpointSuffixes: ["privatelink.example.com"] });
    for (const ok of ["core.windows.net", "CORE.WINDOWS.NET", "core.chinacloudapi.cn", "core.usgovcloudapi.net", "localhost:10000", "privatelink.example.com"]) assert.equal(endpointRefusal(p, ok), undefined, ok);
    for (const bad of ["x.core.windows.net", "core.windows.net.attacker.example", "localhost:10001", "169.254.169.254", "kubernetes.default.svc"]) {
      assert.match(endpointRefusal(p, bad) ?? "", /not an endpoint suffix the cluster admin approved/, bad);
    }
  });

  it("lends the operator's identity only where a grant names the namespace, account and container", () => {
    const off = adminPolicy({ defaultEndpointSuffix: "core.windows.net" });
    assert.match(identityRefusal(off, { namespace: "a", accountName: "acct", container: "c" }) ?? "", /has not enabled it \(chart value workloadIdentity\.enabled\)/);
    const on = adminPolicy({
      defaultEndpointSuffix: "core.windows.net",
      operatorIdentity: { type: "workloadIdentity", grants: [{ namespaces: ["team-a"], account: "acct", containers: ["team-a-backups"] }, { namespaces: ["*"], account: "shared", containers: ["*"] }] },
    });
    assert.equal(identityRefusal(on, { namespace: "team-a", accountName: "acct", container: "team-a-backups" }), undefined);
    assert.equal(identityRefusal(on, { namespace: "anyone", accountName: "shared", container: "whatever" }), undefined);
    const other = identityRefusal(on, { namespace: "team-b", accountName: "acct", container: "team-a-backups" });
    assert.match(other ?? "", /no grant .* lets namespace team-b use account acct, container team-a-backups/);
    assert.match(identityRefusal(on, { namespace: "team-a", accountName: "acct", container: "team-b-backups" }) ?? "", /container team-b-backups/);
  });

  it("reads the grants the chart renders, refusing what is not a grant", () => {
    assert.deepEqual(parseIdentityGrants('[{"namespaces":["a"],"account":"acct","containers":["*"]}]'), { ok: true, grants: [{ namespaces: ["a"], account: "acct", containers: ["*"] }] });
    assert.deepEqual(parseIdentityGrants("[]"), { ok: true, grants: [] });
    for (const [text, error] of [
      ["{", /not JSON/],
      ['{"a":1}', /JSON array/],
      ["[1]", /grant 0 is not an object/],
      ['[{"namespaces":[],"account":"acct","containers":["c"]}]', /namespaces must be a non-empty list/],
      ['[{"namespaces":["a"],"account":"Not An Account","containers":["c"]}]', /account must be a storage account name/],
      ['[{"namespaces":["a"],"account":"acct","containers":[""]}]', /containers must be/],
    ] as const) {
      const r = parseIdentityGrants(text);
      assert.ok(!r.ok && error.test(r.error), `${text}: ${JSON.stringify(r)}`);
    }
  });
});
