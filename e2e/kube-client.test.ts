// The operator's own Kubernetes client and informer against the real kube-apiserver: CRUD and the
// errors the reconcilers branch on, and the informer's cache, events and relists.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { V1ConfigMap } from "@kubernetes/client-node";
import { KubeApiError, type KubeClient, type KubeObject } from "../operator/kube/api-client.ts";
import { connectKube, isConflict } from "../operator/kube/client.ts";
import { InformerSet, ResilientInformer } from "../operator/kube/informer.ts";
import { NAMESPACES, resourcePath, SECRETS, type ResourceType } from "../operator/kube/resources.ts";
import { SecretReader } from "../operator/kube/secret-reader.ts";
import { logger } from "../operator/observability/logger.ts";
import { cluster } from "./fixture.ts";
import { waitFor } from "./cluster/wait.ts";

const CONFIGMAPS: ResourceType = { group: "", version: "v1", plural: "configmaps" };

describe("the operator's Kubernetes client (real API server)", function () {
  this.timeout(60_000);
  let kube: KubeClient;
  const ns = `kube-client-${randomBytes(3).toString("hex")}`;

  before(async function () {
    kube = connectKube(cluster().kubeconfig);
    await kube.create(NAMESPACES, undefined, { metadata: { name: ns } });
  });

  after(async function () {
    await kube.delete(NAMESPACES, undefined, ns);
    kube.close();
  });

  it("creates, reads, replaces, merge-patches and deletes; conflicts and absences come back as 409 and 404", async function () {
    const created = await kube.create<V1ConfigMap>(CONFIGMAPS, ns, { metadata: { name: "a" }, data: { k: "1" } });
    assert.equal(typeof created.metadata?.creationTimestamp, "string", "timestamps stay RFC 3339 strings");
    const replaced = await kube.replace<V1ConfigMap>(CONFIGMAPS, ns, "a", { ...created, data: { k: "2" } });
    await assert.rejects(kube.replace(CONFIGMAPS, ns, "a", { ...created, data: { k: "stale" } }), (err: unknown) => isConflict(err) && err instanceof KubeApiError && err.reason === "Conflict");
    const patched = await kube.mergePatch<V1ConfigMap>(CONFIGMAPS, ns, "a", { data: { k: null, j: "3" } });
    assert.deepEqual(patched.data, { j: "3" });
    assert.notEqual(patched.metadata?.resourceVersion, replaced.metadata?.resourceVersion);
    assert.equal((await kube.list<V1ConfigMap>(CONFIGMAPS, { namespace: ns })).items.filter((c) => c.metadata?.name === "a").length, 1);
    await assert.rejects(kube.create(CONFIGMAPS, ns, { metadata: { name: "a" } }), (err: unknown) => err instanceof KubeApiError && err.code === 409 && err.reason === "AlreadyExists");
    await kube.delete(CONFIGMAPS, ns, "a");
    assert.equal(await kube.find(CONFIGMAPS, ns, "a"), undefined);
    await assert.rejects(kube.delete(CONFIGMAPS, ns, "a"), (err: unknown) => err instanceof KubeApiError && err.code === 404);
  });

  it("informer: syncs, then delivers add, update and delete, keeps its cache without managedFields, and a relist reports only differences", async function () {
    const informer = new ResilientInformer<V1ConfigMap>({ client: kube, path: resourcePath(CONFIGMAPS, ns), labelSelector: "informer=test", log: logger });
    const events: string[] = [];
    for (const ev of ["add", "update", "delete"] as const) informer.on(ev, (o) => events.push(`${ev} ${o.metadata?.name} ${o.data?.v ?? ""}`));
    await kube.create(CONFIGMAPS, ns, { metadata: { name: "before", labels: { informer: "test" } }, data: { v: "0" } });
    await kube.create(CONFIGMAPS, ns, { metadata: { name: "unlabelled" }, data: { v: "x" } });
    await informer.start();
    await informer.synced;
    assert.deepEqual(events, ["add before 0"]);
    assert.equal(informer.get("before", ns)?.metadata?.managedFields, undefined);

    await kube.create(CONFIGMAPS, ns, { metadata: { name: "later", labels: { informer: "test" } }, data: { v: "1" } });
    await kube.mergePatch(CONFIGMAPS, ns, "later", { data: { v: "2" } });
    await kube.delete(CONFIGMAPS, ns, "before");
    await waitFor("the watch to deliver three events", () => events.length >= 4, { timeoutMs: 10_000, intervalMs: 50 });
    assert.deepEqual(events.slice(1), ["add later 1", "update later 2", "delete before 0"]);
    assert.deepEqual(informer.list(ns).map((c) => c.metadata?.name), ["later"]);

    // A relist with nothing changed tells no handler anything.
    await (informer as unknown as { relist(): Promise<void> }).relist();
    await kube.mergePatch(CONFIGMAPS, ns, "later", { data: { v: "3" } });
    await waitFor("the new watch to deliver the update", () => events.length >= 5, { timeoutMs: 10_000, intervalMs: 50 });
    assert.deepEqual(events.slice(4), ["update later 3"]);
    await informer.stop();
    await kube.mergePatch(CONFIGMAPS, ns, "later", { data: { v: "4" } });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(events.length, 5, "nothing after stop");
  });

  it("Secrets: the informer holds metadata only; the reader fetches data on demand and again once the Secret changed", async function () {
    const secrets = new InformerSet<KubeObject>({ client: kube, log: logger, metadataOnly: true }, [ns], (n) => resourcePath(SECRETS, n));
    const reader = new SecretReader(kube, secrets);
    await kube.create(SECRETS, ns, { metadata: { name: "s" }, stringData: { RESTIC_PASSWORD: "one" } });
    await secrets.start();
    await secrets.synced;
    const cached = secrets.get("s", ns) as KubeObject & { data?: unknown };
    assert.equal(cached.kind, "PartialObjectMetadata");
    assert.equal(cached.data, undefined, "no Secret data in the informer's cache");
    const value = async () => {
      const d = (await reader.get(ns, "s"))?.data?.RESTIC_PASSWORD;
      return d === undefined ? undefined : Buffer.from(d, "base64").toString();
    };
    assert.equal(await value(), "one");
    const rv = secrets.get("s", ns)?.metadata?.resourceVersion;
    await kube.mergePatch(SECRETS, ns, "s", { stringData: { RESTIC_PASSWORD: "two" } });
    await waitFor("the metadata watch to see the edit", () => secrets.get("s", ns)?.metadata?.resourceVersion !== rv, { timeoutMs: 10_000, intervalMs: 50 });
    assert.equal(await value(), "two");
    await kube.delete(SECRETS, ns, "s");
    await waitFor("the metadata watch to see the delete", () => !secrets.get("s", ns), { timeoutMs: 10_000, intervalMs: 50 });
    assert.equal(await value(), undefined);
    assert.equal(reader.size, 0);
    await secrets.stop();
  });
});
