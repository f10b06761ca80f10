import assert from "node:assert/strict";
import type { KubeObject } from "./api-client.ts";
import type { InformerSet } from "./informer.ts";
import { SecretReader, secretBytes } from "./secret-reader.ts";
import { scriptedApi } from "./test-connection.ts";

/** The Secrets' metadata as the informer would hold it; the test bumps resourceVersions by hand. */
function metadata(): { set: InformerSet<KubeObject>; versions: Map<string, string>; deleted: (key: string) => void } {
  const versions = new Map<string, string>();
  let onDelete: ((o: KubeObject) => void) | undefined;
  const set = {
    get: (name: string, namespace: string) => {
      const rv = versions.get(`${namespace}/${name}`);
      return rv ? { metadata: { name, namespace, resourceVersion: rv } } : undefined;
    },
    on: (event: string, handler: (o: KubeObject) => void) => {
      if (event === "delete") onDelete = handler;
    },
  } as unknown as InformerSet<KubeObject>;
  return {
    set,
    versions,
    deleted: (key) => {
      const [namespace, name] = key.split("/");
      versions.delete(key);
      onDelete?.({ metadata: { name: name!, namespace: namespace! } });
    },
  };
}

describe("the Secret data cache", () => {
  const value = (kib: number) => Buffer.alloc(kib * 1024, 7).toString("base64");
  let gets = 0;
  let api: Awaited<ReturnType<typeof scriptedApi>>;
  const meta = metadata();
  before(async () => {
    api = await scriptedApi((req, res) => {
      gets++;
      const [, namespace, name] = /\/namespaces\/([^/]+)\/secrets\/([^/?]+)/.exec(req.url ?? "") ?? [];
      const rv = meta.versions.get(`${namespace}/${name}`);
      if (!rv) return res.writeHead(404, { "content-type": "application/json" }).end('{"kind":"Status","code":404}');
      const kib = Number(name!.split("-")[1]);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ metadata: { name, namespace, resourceVersion: rv, managedFields: [{}] }, data: { RESTIC_PASSWORD: value(kib) } }));
    });
  });
  after(() => api.close());

  it("counts a Secret's data as the API server sends it", () => {
    assert.equal(secretBytes({ data: { AB: "Zm9v", C: "" } }), 2 + 4 + 1);
  });

  it("keeps Secrets until they change, and within a byte budget, least recently used out first", async () => {
    const reader = new SecretReader(api.kube, meta.set, { maxBytes: 1 << 20 });
    for (const n of ["a-300", "b-300", "c-300"]) meta.versions.set(`t/${n}`, "1");
    gets = 0;
    for (const n of ["a-300", "b-300", "c-300"]) await reader.get("t", n);
    assert.equal(gets, 3);
    assert.ok(reader.cachedBytes <= 1 << 20 && reader.size === 2, `${reader.size} Secrets, ${reader.cachedBytes} bytes: the oldest went`);
    await reader.get("t", "c-300");
    assert.equal(gets, 3, "a cached Secret is not read again");
    await reader.get("t", "a-300");
    assert.equal(gets, 4, "the evicted one is read again when needed");
    meta.versions.set("t/a-300", "2");
    assert.equal((await reader.get("t", "a-300"))?.metadata?.resourceVersion, "2");
    assert.equal(gets, 5, "a changed Secret is read again");
    assert.equal((await reader.get("t", "a-300"))?.metadata?.managedFields, undefined);
  });

  it("hands out but never keeps a Secret larger than the whole budget, and forgets deleted ones", async () => {
    const reader = new SecretReader(api.kube, meta.set, { maxBytes: 64 << 10 });
    meta.versions.set("t/huge-900", "1");
    meta.versions.set("t/small-1", "1");
    assert.ok(await reader.get("t", "huge-900"));
    assert.equal(reader.size, 0);
    await reader.get("t", "small-1");
    assert.equal(reader.size, 1);
    meta.deleted("t/small-1");
    assert.equal(reader.size, 0);
    assert.equal(reader.cachedBytes, 0);
    assert.equal(await reader.get("t", "small-1"), undefined);
  });
});
