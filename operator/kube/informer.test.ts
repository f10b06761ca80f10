import assert from "node:assert/strict";
import type http from "node:http";
import { logger } from "../observability/logger.ts";
import type { KubeClient } from "./api-client.ts";
import { scriptedApi } from "./test-connection.ts";
import { ResilientInformer } from "./informer.ts";

// The informer's recovery paths, which a healthy API server rarely takes, against a scripted one:
// what the real server does in the common case is in e2e/kube-client.test.ts.
describe("ResilientInformer recovery", function () {
  this.timeout(10_000);
  let api: Awaited<ReturnType<typeof scriptedApi>>;
  let kube: KubeClient;
  const requests: string[] = [];
  const accepts: string[] = [];
  let script: (url: URL, res: http.ServerResponse) => void;

  before(async function () {
    api = await scriptedApi((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      requests.push(`${url.searchParams.get("watch") ? "watch" : "list"} ${url.searchParams.get("resourceVersion") ?? ""}`.trim());
      accepts.push(`${url.searchParams.get("watch") ? "watch" : "list"} ${req.headers.accept ?? ""}`);
      script(url, res);
    });
    kube = api.kube;
  });

  after(() => api.close());

  const cm = (name: string, rv: string) => ({ metadata: { name, namespace: "ns", resourceVersion: rv } });
  const list = (res: http.ServerResponse, rv: string, items: unknown[]) => res.writeHead(200).end(JSON.stringify({ metadata: { resourceVersion: rv }, items }));
  const watchEvents = (res: http.ServerResponse, events: unknown[], end: boolean) => {
    res.writeHead(200);
    res.write(events.map((e) => `${JSON.stringify(e)}\n`).join(""));
    if (end) res.end();
  };

  it("resumes from the last resourceVersion seen when the server ends a watch, and relists on 410 Gone", async function () {
    requests.length = 0;
    let lists = 0;
    let watches = 0;
    script = (url, res) => {
      if (!url.searchParams.get("watch")) return list(res, lists++ === 0 ? "10" : "20", lists === 1 ? [cm("a", "10")] : [cm("a", "10"), cm("b", "19")]);
      watches++;
      if (watches === 1) return watchEvents(res, [{ type: "MODIFIED", object: cm("a", "12") }, { type: "BOOKMARK", object: { metadata: { resourceVersion: "15" } } }], true);
      if (watches === 2) return watchEvents(res, [{ type: "ERROR", object: { kind: "Status", code: 410, reason: "Expired", message: "too old resource version: 15 (18)" } }], false);
      watchEvents(res, [], false);
    };
    const informer = new ResilientInformer<ReturnType<typeof cm>>({ client: kube, path: "/api/v1/namespaces/ns/configmaps", log: logger, maxBackoffMs: 50 });
    const seen: string[] = [];
    for (const ev of ["add", "update", "delete"] as const) informer.on(ev, (o) => seen.push(`${ev} ${o.metadata.name}@${o.metadata.resourceVersion}`));
    await informer.start();
    const deadline = Date.now() + 5_000;
    while (requests.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await informer.stop();
    assert.deepEqual(requests.slice(0, 5), ["list", "watch 10", "watch 15", "list", "watch 20"]);
    // The relist after 410 finds "a" back at resourceVersion 10 (an update: it differs from 12) and "b" new.
    assert.deepEqual(seen, ["add a@10", "update a@12", "update a@10", "add b@19"]);
    assert.deepEqual(informer.list().map((o) => o.metadata.name).sort(), ["a", "b"]);
  });

  it("retries a failed list with backoff and is synced only once a list succeeded", async function () {
    requests.length = 0;
    let lists = 0;
    script = (url, res) => {
      if (!url.searchParams.get("watch")) {
        if (lists++ < 2) return res.writeHead(500).end(JSON.stringify({ kind: "Status", code: 500, message: "etcd unavailable" }));
        return list(res, "5", [cm("a", "5")]);
      }
      watchEvents(res, [], false);
    };
    const informer = new ResilientInformer<ReturnType<typeof cm>>({ client: kube, path: "/api/v1/namespaces/ns/configmaps", log: logger, maxBackoffMs: 50 });
    let synced = false;
    void informer.synced.then(() => (synced = true));
    await informer.start();
    assert.equal(synced, false);
    await informer.synced;
    const deadline = Date.now() + 5_000;
    while (requests.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await informer.stop();
    assert.deepEqual(requests.slice(0, 4), ["list", "list", "list", "watch 5"]);
    assert.equal(informer.get("a", "ns")?.metadata.resourceVersion, "5");
  });

  it("lists in pages (limit/continue) from one snapshot, and starts over when a continue token expires", async function () {
    const pages: string[] = [];
    const all = [cm("a", "3"), cm("b", "4"), cm("c", "5"), cm("d", "6"), cm("e", "7")];
    let expiredOnce = false;
    script = (url, res) => {
      if (url.searchParams.get("watch")) return watchEvents(res, [], false);
      const limit = Number(url.searchParams.get("limit"));
      const from = Number(url.searchParams.get("continue") || "0");
      pages.push(`limit=${limit} continue=${url.searchParams.get("continue") ?? ""}`);
      if (from === 4 && !expiredOnce) {
        expiredOnce = true;
        return res.writeHead(410).end(JSON.stringify({ kind: "Status", code: 410, reason: "Expired", message: "The provided continue parameter is too old" }));
      }
      const next = from + limit < all.length ? String(from + limit) : "";
      res.writeHead(200).end(JSON.stringify({ metadata: { resourceVersion: "9", continue: next }, items: all.slice(from, from + limit) }));
    };
    const informer = new ResilientInformer<ReturnType<typeof cm>>({ client: kube, path: "/api/v1/namespaces/ns/configmaps", log: logger, maxBackoffMs: 50, pageSize: 2 });
    const added: string[] = [];
    informer.on("add", (o) => added.push(o.metadata.name));
    await informer.start();
    await informer.synced;
    await informer.stop();
    assert.deepEqual(pages, ["limit=2 continue=", "limit=2 continue=2", "limit=2 continue=4", "limit=2 continue=", "limit=2 continue=2", "limit=2 continue=4"]);
    assert.deepEqual(added, ["a", "b", "c", "d", "e"], "nothing is told before a whole list arrived");
    assert.equal(informer.list().length, 5);
  });

  it("metadata only: asks for PartialObjectMetadataList / PartialObjectMetadata, and lists one namespace without the others", async function () {
    accepts.length = 0;
    const obj = (namespace: string, name: string, rv: string) => ({ apiVersion: "meta.k8s.io/v1", kind: "PartialObjectMetadata", metadata: { name, namespace, resourceVersion: rv, annotations: { "blobstash.io/content-hash": rv } } });
    let watched = false;
    script = (url, res) => {
      if (!url.searchParams.get("watch")) return list(res, "10", [obj("a", "s1", "3"), obj("a", "s2", "4"), obj("b", "s1", "5")]);
      if (watched) return watchEvents(res, [], false);
      watched = true;
      watchEvents(res, [{ type: "DELETED", object: obj("a", "s1", "11") }, { type: "ADDED", object: obj("b", "s3", "12") }, { type: "MODIFIED", object: obj("b", "s1", "13") }], false);
    };
    const informer = new ResilientInformer<ReturnType<typeof obj>>({ client: kube, path: "/apis/repositories.stash.appscode.com/v1alpha1/snapshots", log: logger, maxBackoffMs: 50, metadataOnly: true, transform: (o) => ({ ...o, kind: "kept" }) });
    const deleted: string[] = [];
    informer.on("delete", (o) => deleted.push(`${o.metadata.namespace}/${o.metadata.name}`));
    await informer.start();
    const deadline = Date.now() + 5_000;
    while (deleted.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    while (informer.list("b").length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await informer.stop();
    assert.deepEqual(accepts.slice(0, 2), [
      "list application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json",
      "watch application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json",
    ]);
    assert.deepEqual(deleted, ["a/s1"]);
    assert.deepEqual(informer.list("a").map((o) => `${o.metadata.name} ${o.kind}`), ["s2 kept"], "the cache keeps what transform returns");
    assert.deepEqual(informer.list("b").map((o) => `${o.metadata.name}@${o.metadata.annotations["blobstash.io/content-hash"]}`).sort(), ["s1@13", "s3@12"]);
    assert.deepEqual(informer.list("c"), []);
    assert.equal(informer.list().length, 3);
  });
});
