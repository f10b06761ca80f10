import assert from "node:assert/strict";
import { OptionsError, parseOperatorOptions } from "./options.ts";

describe("parseOperatorOptions", () => {
  it("uses defaults", () => {
    const o = parseOperatorOptions([], {});
    assert.equal(o.revalidatePeriodMs, 60_000);
    assert.equal(o.azurePolicy.defaultEndpointSuffix, "core.windows.net");
    assert.deepEqual([...o.azurePolicy.endpointSuffixes], ["core.windows.net", "core.chinacloudapi.cn", "core.usgovcloudapi.net"]);
    assert.equal(o.azurePolicy.operatorIdentity, undefined, "the operator lends no identity unless the admin says so");
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

  it("reads the admin's Azure rules: extra suffixes, the identity type and its grants", () => {
    const o = parseOperatorOptions(["--default-endpoint-suffix=localhost:10000", "--allowed-endpoint-suffixes=storage.example.internal, other.example"], {
      BLOBSTASH_OPERATOR_IDENTITY: "managedIdentity",
      BLOBSTASH_OPERATOR_IDENTITY_CLIENT_ID: "00000000-0000-0000-0000-000000000001",
      BLOBSTASH_OPERATOR_IDENTITY_GRANTS: '[{"namespaces":["team-a"],"account":"acct","containers":["*"]}]',
    });
    assert.ok(o.azurePolicy.endpointSuffixes.has("localhost:10000") && o.azurePolicy.endpointSuffixes.has("other.example"));
    assert.deepEqual(o.azurePolicy.operatorIdentity, { type: "managedIdentity", clientId: "00000000-0000-0000-0000-000000000001", grants: [{ namespaces: ["team-a"], account: "acct", containers: ["*"] }] });
    assert.throws(() => parseOperatorOptions(["--operator-identity=default"], {}), /--operator-identity: "default" is not none, workloadIdentity or managedIdentity/);
    assert.throws(() => parseOperatorOptions(["--operator-identity=workloadIdentity", "--operator-identity-grants={}"], {}), /--operator-identity-grants: must be a JSON array/);
    assert.throws(() => parseOperatorOptions(["--allowed-endpoint-suffixes=https://x.example"], {}), /endpoint suffix "https:\/\/x\.example" must be a host name/);
    assert.throws(() => parseOperatorOptions(["--operator-identity-client-id=x"], {}), /for --operator-identity=managedIdentity/);
  });

  it("takes client-go's leader election timing by default", () => {
    const o = parseOperatorOptions([], {});
    assert.deepEqual([o.leaseDurationMs, o.renewDeadlineMs, o.retryPeriodMs], [15_000, 10_000, 2_000]);
  });
});
