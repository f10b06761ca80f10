// The Repository controller end to end: the real API server, Azurite over TLS behind the CONNECT
// proxy, restic, and the operator installed by Helm as a pod of the project's image, exactly as
// `make up` installs it. Every failure mode gets its specific reason and recovers once fixed, without the test
// touching the Repository; and no secret value ever shows up in a log line, an event or a status.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { BlobServiceClient, ContainerSASPermissions, StorageSharedKeyCredential, generateBlobSASQueryParameters } from "@azure/storage-blob";
import { ApiException, CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions, type V1Secret } from "@kubernetes/client-node";
import { execa } from "execa";
import type { Repository, RepositoryCondition } from "../operator/api/repository.ts";
import { cluster } from "./fixture.ts";
import { applyCrds, installOperator, type OperatorHandle } from "./cluster/operator.ts";
import { repoRoot } from "./cluster/tools.ts";
import { waitFor } from "./cluster/wait.ts";

const GROUP = { group: "stash.appscode.com", version: "v1alpha1", plural: "repositories" };
const REVALIDATE = "2s";
const id = randomBytes(3).toString("hex");
const ns = `e2e-repo-${id}`;
const otherNs = `e2e-repo-other-${id}`;
const demoNs = "demo";
const container = "stash-backup";
const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

/** Every secret value this test puts anywhere; none may appear in logs, events or status. */
const secretValues = new Set<string>();
const secret = (value: string): string => {
  secretValues.add(value);
  return value;
};

/** Reconciles of Repositories that succeeded so far, from the operator's /metrics. */
async function reconcileCount(op: OperatorHandle): Promise<number> {
  const m = /^blobstash_reconcile_total\{kind="Repository",outcome="success"\} (\d+)/m.exec(await op.metrics());
  return m ? Number(m[1]) : 0;
}

describe("Repository controller (real API server, Azurite, restic)", function () {
  this.timeout(180_000);
  let op: OperatorHandle;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let blob: BlobServiceClient;
  let work: string;
  const az = () => cluster().azurite;
  const goodKey = () => secret(az().key);

  const kubectl = (args: string[], options: { cwd?: string } = {}) => execa("kubectl", args, { reject: false, ...options });

  const restic = (prefix: string, password: string, args: string[]) =>
    execa("restic", ["--no-cache", "-r", `azure:${container}:${prefix}`, ...args], {
      env: { AZURE_ACCOUNT_NAME: az().account, AZURE_ACCOUNT_KEY: az().key, AZURE_ENDPOINT_SUFFIX: az().endpointSuffix, RESTIC_PASSWORD: password },
    });

  async function putSecret(namespace: string, name: string, data: Record<string, string>): Promise<void> {
    const body: V1Secret = { metadata: { name, namespace }, stringData: data };
    try {
      await core.replaceNamespacedSecret({ namespace, name, body });
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 404)) throw err;
      await core.createNamespacedSecret({ namespace, body });
    }
  }

  const keySecret = (overrides: Record<string, string> = {}) => ({
    RESTIC_PASSWORD: secret(`pw-${randomBytes(8).toString("hex")}`),
    AZURE_ACCOUNT_NAME: az().account,
    AZURE_ACCOUNT_KEY: goodKey(),
    ...overrides,
  });

  function sas(permissions: string, startsOn: Date, expiresOn: Date, containerName = container): string {
    const token = generateBlobSASQueryParameters(
      { containerName, permissions: ContainerSASPermissions.parse(permissions), startsOn, expiresOn },
      new StorageSharedKeyCredential(az().account, az().key),
    ).toString();
    secret(token);
    secret(new URLSearchParams(token).get("sig")!);
    return token;
  }

  /** A SAS Secret (no account key) whose SAS is valid from `fromHours` to `toHours` relative to now. */
  const sasSecret = (permissions: string, fromHours: number, toHours: number) => ({
    RESTIC_PASSWORD: secret(`pw-${randomBytes(8).toString("hex")}`),
    AZURE_ACCOUNT_NAME: az().account,
    AZURE_ACCOUNT_SAS: sas(permissions, new Date(Date.now() + fromHours * 3600_000), new Date(Date.now() + toHours * 3600_000)),
  });

  async function createRepository(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
    await custom.createNamespacedCustomObject({ ...GROUP, namespace, body: { apiVersion: "stash.appscode.com/v1alpha1", kind: "Repository", metadata: { name }, spec } });
  }

  async function getRepository(namespace: string, name: string): Promise<Repository | undefined> {
    try {
      return (await custom.getNamespacedCustomObject({ ...GROUP, namespace, name })) as Repository;
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw err;
    }
  }

  const condition = (r: Repository | undefined, type: string): RepositoryCondition | undefined => r?.status?.conditions?.find((c) => c.type === type);

  /** Waits until Ready has this status and reason; returns the Repository. */
  async function waitForReady(namespace: string, name: string, status: "True" | "False" | "Unknown", reason: string, timeoutMs = 30_000): Promise<Repository> {
    let last: RepositoryCondition | undefined;
    try {
      return await waitFor(
        `${namespace}/${name} Ready=${status} reason ${reason}`,
        async () => {
          const r = await getRepository(namespace, name);
          last = condition(r, "Ready");
          return last?.status === status && last.reason === reason ? r : undefined;
        },
        { timeoutMs, intervalMs: 100 },
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; last Ready: ${JSON.stringify(last)}`);
    }
  }

  before(async function () {
    kc = new KubeConfig();
    kc.loadFromFile(cluster().kubeconfig);
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    work = await mkdtemp(path.join(os.tmpdir(), "blobstash-repo-e2e-"));
    await applyCrds(cluster());
    for (const n of [ns, otherNs, demoNs]) {
      await core.createNamespace({ body: { metadata: { name: n } } }).catch((err: unknown) => {
        if (!(err instanceof ApiException && err.code === 409)) throw err;
      });
    }
    blob = new BlobServiceClient(`https://${az().account}.blob.${az().endpointSuffix}`, new StorageSharedKeyCredential(az().account, az().key));
    await blob.getContainerClient(container).createIfNotExists();
    // Installed by Helm: its ServiceAccount and RBAC, so a permission the chart lacks fails here.
    op = await installOperator(cluster(), {
      release: `operator-repository-${id}`,
      namespace: `${ns}-operator`,
      values: { replicaCount: 1, watchNamespaces: [ns, otherNs, demoNs], operator: { revalidatePeriod: REVALIDATE, logLevel: "debug" } },
    });
  });

  after(async function () {
    await op?.stop();
    await rm(work, { recursive: true, force: true });
    // Repositories with finalizers would hold their namespace; the operator is gone, so drop them first.
    for (const n of [ns, otherNs, demoNs]) {
      const list = (await custom.listNamespacedCustomObject({ ...GROUP, namespace: n })) as { items: Repository[] };
      for (const r of list.items) {
        if (r.metadata?.finalizers?.length) {
          await custom.patchNamespacedCustomObject({ ...GROUP, namespace: n, name: r.metadata.name!, body: { metadata: { finalizers: null } } }, mergePatch);
        }
      }
      await core.deleteNamespace({ name: n }).catch(() => undefined);
    }
    await core.deleteNamespace({ name: `${ns}-operator` }).catch(() => undefined);
  });

  it("accepts a Repository with another backend and leaves it alone", async function () {
    await createRepository(ns, "s3-repo", { backend: { storageSecretName: "s3-secret", s3: { endpoint: "s3.amazonaws.com", bucket: "b", prefix: "p", region: "eu-west-1" } } });
    // Checked again at the end, after the operator has seen it through many revalidations.
    assert.ok(await getRepository(ns, "s3-repo"));
  });

  it("makes Stash's documented manifest Ready, unchanged, with a Secret created the documented way", async function () {
    const password = secret(`demo-${randomBytes(8).toString("hex")}`);
    // Files written by `echo`, as most people do: each ends in a newline.
    await writeFile(path.join(work, "RESTIC_PASSWORD"), `${password}\n`);
    await writeFile(path.join(work, "AZURE_ACCOUNT_NAME"), `${az().account}\n`);
    await writeFile(path.join(work, "AZURE_ACCOUNT_KEY"), `${goodKey()}\n`);
    const created = await kubectl(
      ["create", "secret", "generic", "-n", demoNs, "azure-secret", "--from-file=./RESTIC_PASSWORD", "--from-file=./AZURE_ACCOUNT_NAME", "--from-file=./AZURE_ACCOUNT_KEY"],
      { cwd: work },
    );
    assert.equal(created.exitCode, 0, created.stderr);
    const applied = await kubectl(["apply", "-f", path.join(repoRoot, "examples/repository.yaml")]);
    assert.equal(applied.exitCode, 0, applied.stderr);

    const fresh = await waitForReady(demoNs, "azure-repo", "True", "NotInitialized");
    assert.equal(fresh.spec?.backend?.azure?.maxConnections, 5, "maxConnections defaults to restic's 5");
    assert.match(condition(fresh, "SecretValid")!.message, /trailing newline was removed from RESTIC_PASSWORD, AZURE_ACCOUNT_NAME and AZURE_ACCOUNT_KEY/);
    assert.equal(condition(fresh, "BackendReachable")?.status, "True");
    assert.equal(fresh.status?.observedGeneration, fresh.metadata?.generation);
    assert.ok(fresh.status?.lastValidationTime);

    const table = await kubectl(["get", "repository", "-n", demoNs, "azure-repo"]);
    assert.match(table.stdout, /NAME\s+READY\s+REASON\s+CONTAINER\s+SNAPSHOTS\s+SIZE\s+LAST BACKUP\s+AGE/);
    assert.match(table.stdout, /azure-repo\s+True\s+NotInitialized\s+stash-backup/);

    // The first backup would initialize it; restic init stands in, with the trimmed password.
    await restic("/demo/deployment/my-deploy", password, ["init"]);
    const ready = await waitForReady(demoNs, "azure-repo", "True", "Ready");
    assert.equal(condition(ready, "RepositoryInitialized")?.status, "True");
    assert.equal(condition(ready, "PasswordValid")?.status, "True");
  });

  interface Case {
    name: string;
    reason: string;
    status?: "True" | "False";
    /** Creates the broken state; returns the Repository spec. */
    breakIt: (repo: string, prefix: string) => Promise<Record<string, unknown>>;
    fixIt: (repo: string, prefix: string) => Promise<void>;
    recoveredReason?: string;
    message?: RegExp;
  }

  const azureSpec = (secretName: string, prefix: string, c = container) => ({ backend: { storageSecretName: secretName, azure: { container: c, prefix } } });

  const cases: Case[] = [
    {
      name: "Secret missing",
      reason: "SecretNotFound",
      message: /Secret missing-secret-1 not found in namespace e2e-repo-/,
      breakIt: async (_r, prefix) => azureSpec("missing-secret-1", prefix),
      fixIt: async () => putSecret(ns, "missing-secret-1", keySecret()),
    },
    {
      name: "RESTIC_PASSWORD missing",
      reason: "SecretKeyMissing",
      message: /no RESTIC_PASSWORD/,
      breakIt: async (r, prefix) => {
        const { RESTIC_PASSWORD: _omit, ...rest } = keySecret();
        await putSecret(ns, r, rest);
        return azureSpec(r, prefix);
      },
      fixIt: async (r) => putSecret(ns, r, keySecret()),
    },
    {
      name: "account key wrong",
      reason: "AuthenticationFailed",
      message: /rejected the account key in AZURE_ACCOUNT_KEY/,
      breakIt: async (r, prefix) => {
        await putSecret(ns, r, keySecret({ AZURE_ACCOUNT_KEY: secret(randomBytes(64).toString("base64")) }));
        return azureSpec(r, prefix);
      },
      fixIt: async (r) => putSecret(ns, r, keySecret()),
    },
    {
      name: "account name wrong",
      reason: "AccountNotFound",
      message: /storage account nosuchaccount not found/,
      breakIt: async (r, prefix) => {
        await putSecret(ns, r, keySecret({ AZURE_ACCOUNT_NAME: "nosuchaccount" }));
        return azureSpec(r, prefix);
      },
      fixIt: async (r) => putSecret(ns, r, keySecret()),
    },
    {
      name: "container missing",
      reason: "ContainerNotFound",
      message: /container e2e-missing-[0-9a-f]+ does not exist/,
      breakIt: async (r, prefix) => {
        await putSecret(ns, r, keySecret());
        return azureSpec(r, prefix, `e2e-missing-${id}`);
      },
      // Only Azure changes: the periodic revalidation notices.
      fixIt: async () => {
        await blob.createContainer(`e2e-missing-${id}`);
      },
    },
    {
      name: "read-only SAS",
      reason: "PermissionDenied",
      message: /may not write \(w\) on container stash-backup.*lacks "acwd"/,
      breakIt: async (r, prefix) => {
        await putSecret(ns, r, sasSecret("rl", -1, 30 * 24));
        return azureSpec(r, prefix);
      },
      fixIt: async (r) => putSecret(ns, r, sasSecret("racwdl", -1, 30 * 24)),
    },
    {
      name: "expired SAS",
      reason: "SasExpired",
      message: /AZURE_ACCOUNT_SAS of Secret .* expired at/,
      breakIt: async (r, prefix) => {
        await putSecret(ns, r, sasSecret("racwdl", -3, -1));
        return azureSpec(r, prefix);
      },
      fixIt: async (r) => putSecret(ns, r, sasSecret("racwdl", -1, 30 * 24)),
    },
    {
      name: "SAS expiring soon (a warning: Ready stays True)",
      reason: "SasExpiringSoon",
      status: "True",
      message: /expires at .*before then/,
      breakIt: async (r, prefix) => {
        await putSecret(ns, r, sasSecret("racwdl", -1, 2));
        return azureSpec(r, prefix);
      },
      fixIt: async (r) => putSecret(ns, r, sasSecret("racwdl", -1, 30 * 24)),
    },
    {
      name: "Secret of the same name only in another namespace (never used)",
      reason: "SecretNotFound",
      message: /not found in namespace e2e-repo-[0-9a-f]+ \(a Repository only reads Secrets in its own namespace\)/,
      breakIt: async (r, prefix) => {
        await putSecret(otherNs, r, keySecret());
        return azureSpec(r, prefix);
      },
      fixIt: async (r) => putSecret(ns, r, keySecret()),
    },
  ];

  for (const [i, c] of cases.entries()) {
    it(`${c.name}: Ready ${c.status ?? "False"} with reason ${c.reason}, then recovers once fixed`, async function () {
      const repo = `case-${i}`;
      const prefix = `/e2e/${id}/case-${i}`;
      await createRepository(ns, repo, await c.breakIt(repo, prefix));
      const broken = await waitForReady(ns, repo, c.status ?? "False", c.reason);
      if (c.message) assert.match(condition(broken, "Ready")!.message, c.message);
      await c.fixIt(repo, prefix);
      const fixed = await waitForReady(ns, repo, "True", c.recoveredReason ?? "NotInitialized");
      assert.equal(fixed.metadata?.generation, broken.metadata?.generation, "the Repository itself was not touched");
      const events = await core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.name=${repo}` });
      assert.ok(events.items.some((e) => e.reason === c.reason), `an event with reason ${c.reason}`);
    });
  }

  it("wrong password on an initialized repository: WrongPassword, then Ready with the right one", async function () {
    const prefix = `/e2e/${id}/password`;
    const right = secret(`right-${randomBytes(8).toString("hex")}`);
    await restic(prefix, right, ["init"]);
    await putSecret(ns, "password", keySecret({ RESTIC_PASSWORD: secret(`wrong-${randomBytes(8).toString("hex")}`) }));
    await createRepository(ns, "password", azureSpec("password", prefix));
    const broken = await waitForReady(ns, "password", "False", "WrongPassword");
    assert.equal(condition(broken, "RepositoryInitialized")?.status, "True");
    await putSecret(ns, "password", keySecret({ RESTIC_PASSWORD: right }));
    const fixed = await waitForReady(ns, "password", "True", "Ready");
    assert.equal(condition(fixed, "PasswordValid")?.reason, "PasswordAccepted");
  });

  it("endpoint unreachable (emulator stopped): EndpointUnreachable, then Ready once it is back", async function () {
    await putSecret(ns, "outage", keySecret());
    await createRepository(ns, "outage", azureSpec("outage", `/e2e/${id}/outage`));
    await waitForReady(ns, "outage", "True", "NotInitialized");
    await az().stop();
    try {
      const down = await waitForReady(ns, "outage", "False", "EndpointUnreachable");
      assert.match(condition(down, "Ready")!.message, /cannot reach https:\/\/devstoreaccount1\.blob\.localhost:\d+/);
    } finally {
      await az().start();
    }
    await waitForReady(ns, "outage", "True", "NotInitialized");
  });

  it("refuses, at kubectl apply, container names Azure cannot have, maxConnections < 1 and unknown azure fields", async function () {
    const manifest = (azure: string) => `apiVersion: stash.appscode.com/v1alpha1
kind: Repository
metadata: {name: refused, namespace: ${ns}}
spec: {backend: {storageSecretName: s, azure: ${azure}}}
`;
    const attempts: Array<[string, RegExp]> = [
      ["{container: Stash-Backup}", /spec\.backend\.azure\.container.*should match/],
      ["{container: two--hyphens}", /spec\.backend\.azure\.container.*should match/],
      ["{container: -leading}", /spec\.backend\.azure\.container.*should match/],
      ["{container: ab}", /spec\.backend\.azure\.container.*at least 3 chars/],
      [`{container: ${"a".repeat(64)}}`, /spec\.backend\.azure\.container: Too long: may not be more than 63/],
      ["{container: ok-name, maxConnections: 0}", /spec\.backend\.azure\.maxConnections.*greater than or equal to 1/],
      ["{container: ok-name, accountKey: oops}", /unknown field "spec\.backend\.azure\.accountKey"/],
    ];
    for (const [azure, message] of attempts) {
      const file = path.join(work, `refused-${randomBytes(3).toString("hex")}.yaml`);
      await writeFile(file, manifest(azure));
      const r = await kubectl(["apply", "-f", file]);
      assert.notEqual(r.exitCode, 0, `accepted: ${azure}`);
      assert.match(r.stderr, message);
    }
    assert.equal(await getRepository(ns, "refused"), undefined);
  });

  it("wipeOut: true deletes the restic data under the prefix (and only it) before the Repository goes", async function () {
    const prefix = `e2e/${id}/wipe`;
    await putSecret(ns, "wipe", keySecret());
    await createRepository(ns, "wipe", { ...azureSpec("wipe", `/${prefix}`), wipeOut: true });
    const withFinalizer = await waitFor("the wipe-out finalizer", async () => {
      const r = await getRepository(ns, "wipe");
      return r?.metadata?.finalizers?.includes("blobstash.io/wipe-out") ? r : undefined;
    }, { timeoutMs: 30_000 });
    assert.ok(withFinalizer);
    await restic(`/${prefix}`, secret(`wipe-${randomBytes(8).toString("hex")}`), ["init"]);
    const cc = blob.getContainerClient(container);
    await cc.getBlockBlobClient(`${prefix}/notes.txt`).upload("not restic's", 12);
    await cc.getBlockBlobClient(`${prefix}/nested/config`).upload("another repository", 18);

    await custom.deleteNamespacedCustomObject({ ...GROUP, namespace: ns, name: "wipe" });
    await waitFor("the Repository to be gone", async () => (await getRepository(ns, "wipe")) === undefined, { timeoutMs: 30_000 });
    const left: string[] = [];
    for await (const b of cc.listBlobsFlat({ prefix: `${prefix}/` })) left.push(b.name.slice(prefix.length + 1));
    assert.deepEqual(left.sort(), ["nested/config", "notes.txt"]);
    const events = await core.listNamespacedEvent({ namespace: ns, fieldSelector: "involvedObject.name=wipe" });
    assert.ok(events.items.some((e) => e.reason === "WipedOut"), "a WipedOut event");
  });

  it("without wipeOut, deleting the Repository keeps the data", async function () {
    const prefix = `e2e/${id}/keep`;
    await putSecret(ns, "keep", keySecret());
    await restic(`/${prefix}`, secret(`keep-${randomBytes(8).toString("hex")}`), ["init"]);
    await createRepository(ns, "keep", azureSpec("keep", `/${prefix}`));
    await waitFor("a status", async () => (await getRepository(ns, "keep"))?.status?.conditions, { timeoutMs: 30_000 });
    assert.deepEqual((await getRepository(ns, "keep"))?.metadata?.finalizers ?? [], []);
    await custom.deleteNamespacedCustomObject({ ...GROUP, namespace: ns, name: "keep" });
    await waitFor("the Repository to be gone", async () => (await getRepository(ns, "keep")) === undefined, { timeoutMs: 30_000 });
    assert.equal(await blob.getContainerClient(container).getBlobClient(`${prefix}/config`).exists(), true);
  });

  it("writes no status once settled, through several revalidations", async function () {
    const list = async () => ((await custom.listNamespacedCustomObject({ ...GROUP, namespace: ns })) as { items: Repository[] }).items;
    const azureRepos = (await list()).filter((r) => r.spec?.backend?.azure);
    const before = new Map(azureRepos.map((r) => [r.metadata!.name!, r.metadata!.resourceVersion!]));
    const start = await reconcileCount(op);
    // Every Repository revalidated at least three times (one reconcile each per 2 s period).
    await waitFor("three revalidation rounds", async () => (await reconcileCount(op)) >= start + 3 * (azureRepos.length + 2), { timeoutMs: 60_000, intervalMs: 500 });
    const after = new Map((await list()).map((r) => [r.metadata!.name!, r.metadata!.resourceVersion!]));
    for (const [name, rv] of before) assert.equal(after.get(name), rv, `${name} was written although nothing changed`);
  });

  it("has left the non-azure Repository without status", async function () {
    const r = await getRepository(ns, "s3-repo");
    assert.equal(r?.status, undefined);
    assert.deepEqual(r?.metadata?.finalizers ?? [], []);
  });

  it("never let a secret value into a log line, an event or a status", async function () {
    const events = (await Promise.all([ns, otherNs, demoNs].map((n) => core.listNamespacedEvent({ namespace: n })))).flatMap((l) => l.items);
    const repos = (await Promise.all([ns, demoNs].map((n) => custom.listNamespacedCustomObject({ ...GROUP, namespace: n })))).flatMap((l) => (l as { items: Repository[] }).items);
    const log = await op.logs();
    const haystacks: Array<[string, string]> = [
      ["operator log", log],
      ["events", JSON.stringify(events)],
      ["Repository objects", JSON.stringify(repos)],
    ];
    assert.ok(log.split("\n").length > 20, "the operator logged enough for this check to mean something");
    assert.ok(events.length > 10, "events were recorded");
    assert.ok(secretValues.size > 10);
    for (const [where, text] of haystacks) {
      for (const value of secretValues) {
        for (const form of [value, encodeURIComponent(value)]) assert.ok(!text.includes(form), `${where} contains a secret value`);
      }
    }
  });
});
