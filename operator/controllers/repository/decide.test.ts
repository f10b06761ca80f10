import assert from "node:assert/strict";
import { parseStorageSecret } from "../../azure/credentials.ts";
import type { AzureFailure } from "../../azure/errors.ts";
import { parseSas, sasValidity } from "../../azure/sas.ts";
import { decideConditions, figuresFor, isValidSecretName, suggestSecretName, type RepositoryObservation } from "./decide.ts";

const KEY = Buffer.alloc(64, 3).toString("base64");
const PASSWORD = "hunter2-very-secret";
const SAS_TOKEN = "sv=2025-11-05&sr=c&sp=rl&se=2030-01-31T00:00:00Z&sig=c2VjcmV0c2lnbmF0dXJlMTIz";
const keySecret = parseStorageSecret({ RESTIC_PASSWORD: PASSWORD, AZURE_ACCOUNT_NAME: "acct", AZURE_ACCOUNT_KEY: KEY }, { secretName: "azure-secret" });
const sasSecret = parseStorageSecret({ RESTIC_PASSWORD: PASSWORD, AZURE_ACCOUNT_NAME: "acct", AZURE_ACCOUNT_SAS: SAS_TOKEN }, { secretName: "azure-secret" });
const failure = (reason: AzureFailure["reason"], detail = "x"): AzureFailure => ({ reason, detail, transient: reason === "EndpointUnreachable" });

const base: RepositoryObservation = {
  namespace: "demo",
  generation: 2,
  container: "stash-backup",
  prefix: "/demo/deployment/my-deploy",
  secret: { state: "read", name: "azure-secret", parsed: keySecret },
  backend: { ok: true, initialized: true },
  password: { result: "match", keyName: "0123456789abcdef".repeat(4) },
};

function decide(patch: Partial<RepositoryObservation>) {
  const conds = decideConditions({ ...base, ...patch });
  const by = Object.fromEntries(conds.map((c) => [c.type, c]));
  for (const c of conds) {
    for (const secret of [PASSWORD, KEY, SAS_TOKEN, "c2VjcmV0c2lnbmF0dXJlMTIz"]) {
      assert.ok(!c.message.includes(secret), `${c.type} message leaks a secret: ${c.message}`);
    }
    assert.equal(c.observedGeneration, 2);
  }
  return { conds, by: by as Record<string, (typeof conds)[number]> };
}

describe("decideConditions", () => {
  it("all good: every condition True, Ready True", () => {
    const { conds, by } = decide({});
    assert.deepEqual(conds.map((c) => [c.type, c.status, c.reason]), [
      ["SecretValid", "True", "Valid"],
      ["BackendReachable", "True", "Reachable"],
      ["RepositoryInitialized", "True", "Initialized"],
      ["PasswordValid", "True", "PasswordAccepted"],
      ["Ready", "True", "Ready"],
    ]);
    assert.match(by.Ready!.message, /azure:stash-backup:\/demo\/deployment\/my-deploy/);
    assert.match(by.SecretValid!.message, /https:\/\/acct\.blob\.core\.windows\.net/);
  });

  it("a fresh repository is Ready with reason NotInitialized", () => {
    const { by } = decide({ backend: { ok: true, initialized: false }, password: undefined });
    assert.equal(by.RepositoryInitialized!.status, "False");
    assert.equal(by.PasswordValid!.reason, "NotInitialized");
    assert.equal(by.Ready!.status, "True");
    assert.equal(by.Ready!.reason, "NotInitialized");
    assert.match(by.Ready!.message, /first backup initializes it/);
  });

  it("no storageSecretName", () => {
    const { by } = decide({ secret: { state: "unspecified" }, backend: undefined, password: undefined });
    assert.equal(by.Ready!.reason, "SecretNotSpecified");
  });

  it("Secret missing: names the namespace and how to create it; later checks Unknown", () => {
    const { by } = decide({ secret: { state: "notFound", name: "azure-secret" }, backend: undefined, password: undefined });
    assert.equal(by.SecretValid!.reason, "SecretNotFound");
    assert.match(by.SecretValid!.message, /namespace demo.*kubectl create secret generic -n demo azure-secret/);
    assert.equal(by.BackendReachable!.status, "Unknown");
    assert.equal(by.BackendReachable!.reason, "NotChecked");
    assert.equal(by.Ready!.status, "False");
    assert.equal(by.Ready!.reason, "SecretNotFound");
  });

  it("RESTIC_PASSWORD missing", () => {
    const parsed = parseStorageSecret({ AZURE_ACCOUNT_NAME: "acct", AZURE_ACCOUNT_KEY: KEY }, { secretName: "azure-secret" });
    const { by } = decide({ secret: { state: "read", name: "azure-secret", parsed }, backend: undefined, password: undefined });
    assert.equal(by.Ready!.reason, "SecretKeyMissing");
    assert.match(by.Ready!.message, /RESTIC_PASSWORD/);
  });

  it("SAS expired, expiring soon, not yet valid", () => {
    const sas = sasSecret.ok && sasSecret.credentials.mode === "sas" ? sasSecret.credentials.sas : assert.fail();
    const week = 7 * 24 * 3600_000;
    const at = (d: string) => sasValidity(sas, new Date(d), week);

    const expired = decide({ secret: { state: "read", name: "azure-secret", parsed: sasSecret, sas: at("2030-02-01T00:00:00Z") }, backend: undefined, password: undefined });
    assert.equal(expired.by.SecretValid!.reason, "SasExpired");
    assert.match(expired.by.SecretValid!.message, /AZURE_ACCOUNT_SAS of Secret azure-secret expired at 2030-01-31T00:00:00Z/);
    assert.equal(expired.by.Ready!.status, "False");

    const soon = decide({ secret: { state: "read", name: "azure-secret", parsed: sasSecret, sas: at("2030-01-28T00:00:00Z") } });
    assert.equal(soon.by.SecretValid!.status, "True");
    assert.equal(soon.by.Ready!.status, "True");
    assert.equal(soon.by.Ready!.reason, "SasExpiringSoon");
    assert.match(soon.by.Ready!.message, /expires at 2030-01-31T00:00:00Z/);

    const early = parseSas("sv=2025-11-05&sr=c&sp=rl&st=2030-01-01T00:00:00Z&se=2030-01-31T00:00:00Z&sig=abc");
    assert.ok(early.ok);
    const notYet = decide({ secret: { state: "read", name: "azure-secret", parsed: sasSecret, sas: sasValidity(early.sas, new Date("2029-12-01T00:00:00Z"), week) }, backend: undefined, password: undefined });
    assert.equal(notYet.by.Ready!.reason, "SasNotYetValid");
  });

  const backendCases: Array<[AzureFailure["reason"], "list" | "write" | "delete" | "read", RegExp]> = [
    ["AuthenticationFailed", "list", /rejected the account key in AZURE_ACCOUNT_KEY of Secret azure-secret/],
    ["AccountNotFound", "list", /storage account acct not found .*AZURE_ACCOUNT_NAME and AZURE_ENDPOINT_SUFFIX/],
    ["ContainerNotFound", "list", /container stash-backup does not exist .*az storage container create --account-name acct --name stash-backup/],
    ["EndpointUnreachable", "list", /cannot reach https:\/\/acct\.blob\.core\.windows\.net/],
    ["PermissionDenied", "write", /may not write \(w\) on container stash-backup/],
  ];
  for (const [reason, step, message] of backendCases) {
    it(`backend ${reason} is Ready False with that reason and a message that says what to do`, () => {
      const { by } = decide({ backend: { ok: false, step, failure: failure(reason) }, password: undefined });
      assert.equal(by.BackendReachable!.status, "False");
      assert.equal(by.BackendReachable!.reason, reason);
      assert.match(by.BackendReachable!.message, message);
      assert.equal(by.RepositoryInitialized!.reason, "NotChecked");
      assert.equal(by.Ready!.reason, reason);
    });
  }

  it("a read-only SAS: PermissionDenied naming the missing permissions", () => {
    const { by } = decide({ secret: { state: "read", name: "azure-secret", parsed: sasSecret }, backend: { ok: false, step: "write", failure: failure("PermissionDenied") }, password: undefined });
    assert.equal(by.Ready!.reason, "PermissionDenied");
    assert.match(by.Ready!.message, /sp=racwdl and this SAS lacks "acwd"/);
  });

  it("wrong password on an initialized repository", () => {
    const { by } = decide({ password: { result: "mismatch", keysTried: 1 } });
    assert.equal(by.PasswordValid!.reason, "WrongPassword");
    assert.equal(by.Ready!.status, "False");
    assert.equal(by.Ready!.reason, "WrongPassword");
    assert.match(by.Ready!.message, /RESTIC_PASSWORD of Secret azure-secret opens none of the 1 key/);
  });

  it("a repository without key files", () => {
    const { by } = decide({ password: { result: "noKeys" } });
    assert.equal(by.Ready!.reason, "KeyFilesMissing");
  });

  it("key files unreadable for a transient reason: Unknown, not False", () => {
    const { by } = decide({ password: { result: "error", failure: failure("EndpointUnreachable") } });
    assert.equal(by.PasswordValid!.status, "Unknown");
    assert.equal(by.Ready!.status, "Unknown");
  });

  it("mentions a trimmed newline in SecretValid", () => {
    const parsed = parseStorageSecret({ RESTIC_PASSWORD: `${PASSWORD}\n`, AZURE_ACCOUNT_NAME: "acct", AZURE_ACCOUNT_KEY: KEY }, { secretName: "azure-secret" });
    const { by } = decide({ secret: { state: "read", name: "azure-secret", parsed } });
    assert.match(by.SecretValid!.message, /trailing newline was removed from RESTIC_PASSWORD/);
  });

  it("gives the same messages for the same observation (no status churn)", () => {
    assert.deepEqual(decideConditions(base), decideConditions(base));
  });

  it("a Repository whose data vanished after a backup says DataLost, not NotInitialized", () => {
    const { by } = decide({ backend: { ok: true, initialized: false }, password: undefined, lastBackupTime: "2026-01-01T02:00:00Z" });
    assert.equal(by.RepositoryInitialized!.reason, "DataLost");
    assert.match(by.RepositoryInitialized!.message, /although a backup into it finished at 2026-01-01T02:00:00Z.*another Repository's wipeOut/);
    assert.equal(by.Ready!.status, "True", "the next backup can still run (and starts a new repository)");
    assert.equal(by.Ready!.reason, "DataLost");
  });

  it("where no restic repository is, the figures say no snapshots in the same write", () => {
    const conditions = (o: Partial<RepositoryObservation>) => decide(o).conds.map((c) => ({ ...c, lastTransitionTime: "2026-01-01T00:00:00Z" }));
    const fresh = conditions({ backend: { ok: true, initialized: false }, password: undefined });
    assert.deepEqual(figuresFor({}, fresh), { snapshotCount: 0, totalSize: undefined }, "a new Repository gets its count with its first conditions");
    assert.deepEqual(figuresFor({ snapshotCount: 0 }, fresh), {}, "nothing to write when the figures agree");
    const lost = conditions({ backend: { ok: true, initialized: false }, password: undefined, lastBackupTime: "2026-01-01T02:00:00Z" });
    assert.deepEqual(figuresFor({ snapshotCount: 7, totalSize: "1 GiB" }, lost), { snapshotCount: 0, totalSize: undefined }, "DataLost: the counted snapshots went with the data");
    assert.deepEqual(figuresFor({ snapshotCount: 7, totalSize: "1 GiB" }, conditions({})), {}, "an initialized repository's figures are the snapshot controller's");
    assert.deepEqual(figuresFor({}, conditions({ backend: { ok: false, step: "list", failure: failure("EndpointUnreachable") } })), {}, "not checked is not empty");
  });

  it("key files restic would stop at, a key from another repository, and too many keys are not Ready", () => {
    const name = "ab".repeat(32);
    const cases = [
      [{ result: "keyUnusable", keyName: name, problem: "its content does not hash to its name" }, "KeyFileInvalid", /keys\/abab.*does not hash.*restic tries key files in name order/],
      [{ result: "configDamaged", keyName: name, detail: "its master key does not open the repository's config" }, "ConfigOrKeyDamaged", /copied in from another repository/],
      [{ result: "tooManyKeys", keysTried: 20 }, "TooManyKeyFiles", /more than 20 key files/],
    ] as const;
    for (const [password, reason, message] of cases) {
      const { by } = decide({ password });
      assert.equal(by.PasswordValid!.reason, reason);
      assert.match(by.PasswordValid!.message, message);
      assert.equal(by.Ready!.status, "False");
      assert.equal(by.Ready!.reason, reason);
    }
  });

  it("a check that threw is a condition (CheckFailed, Unknown), and a prefix Azure cannot hold is PrefixTooLong", () => {
    const failed = decide({ backend: undefined, password: undefined, checkError: "Invalid URL" });
    assert.deepEqual([failed.by.BackendReachable!.status, failed.by.BackendReachable!.reason], ["Unknown", "CheckFailed"]);
    assert.match(failed.by.Ready!.message, /failed: Invalid URL; retrying/);
    const long = decide({ backend: undefined, password: undefined, specProblem: { reason: "PrefixTooLong", message: "spec.backend.azure.prefix is 1000 characters long" } });
    assert.deepEqual([long.by.Ready!.status, long.by.Ready!.reason], ["False", "PrefixTooLong"]);
  });

  it("an invalid storageSecretName is said to be invalid, with a suggestion that is itself valid", () => {
    const { by } = decide({ secret: { state: "invalidName", name: "Azure_Secret" }, backend: undefined, password: undefined });
    assert.equal(by.SecretValid!.reason, "SecretNameInvalid");
    assert.match(by.SecretValid!.message, /"Azure_Secret" is not a valid Secret name .*e\.g\. "azure-secret"/);
    for (const bad of ["Azure_Secret", "my secret", "-x-", "a..b", ".hidden", "UPPER.case_", "ü"]) {
      const fix = suggestSecretName(bad);
      if (fix !== undefined) assert.ok(isValidSecretName(fix), `${bad} -> ${fix}`);
    }
    assert.equal(suggestSecretName("___"), undefined);
  });

  it("a container SAS rejected for this container says it was signed for another container", () => {
    const sas = parseStorageSecret({ RESTIC_PASSWORD: PASSWORD, AZURE_ACCOUNT_NAME: "acct", AZURE_ACCOUNT_SAS: SAS_TOKEN.replace("sp=rl", "sp=racwdl") }, { secretName: "azure-secret" });
    const { by } = decide({ secret: { state: "read", name: "azure-secret", parsed: sas }, backend: { ok: false, step: "list", failure: failure("AuthenticationFailed") }, password: undefined });
    assert.match(by.BackendReachable!.message, /container SAS \(sr=c\).*signed for another container.*--name stash-backup/);
  });

  it("a request refused as too large (HTTP 431) names the SAS's length", () => {
    const { by } = decide({
      secret: { state: "read", name: "azure-secret", parsed: sasSecret },
      backend: { ok: false, step: "list", failure: { reason: "BackendError", detail: "no error code, HTTP 431", transient: false, status: 431 } },
      password: undefined,
    });
    assert.match(by.BackendReachable!.message, /refused the request as too large .*AZURE_ACCOUNT_SAS of Secret azure-secret is \d+ characters long/);
  });
});
