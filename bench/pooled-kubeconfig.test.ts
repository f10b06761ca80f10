import assert from "node:assert/strict";
import { startTlsServer, type TlsTestServer } from "../e2e/support/tls-test-server.ts";
import { CoreV1Api, HttpMethod, KubeConfig, RequestContext } from "@kubernetes/client-node";
import { PooledKubeConfig } from "./pooled-kubeconfig.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");

function load<T extends KubeConfig>(kc: T, server: string, caPem: string, user: Record<string, string>): T {
  kc.loadFromOptions({
    clusters: [{ name: "c", server, caData: b64(caPem) }],
    users: [{ name: "u", ...user }],
    contexts: [{ name: "ctx", cluster: "c", user: "u" }],
    currentContext: "ctx",
  });
  return kc;
}

describe("PooledKubeConfig (one connection pool per TLS identity)", function () {
  this.timeout(20_000);
  let srv: TlsTestServer;
  let url: string;
  let caPem: string;
  const authorizations: string[] = [];

  before(async function () {
    srv = await startTlsServer("127.0.0.1", (req, res) => {
      authorizations.push(req.headers.authorization ?? "");
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: "default" } }));
    });
    ({ url, caPem } = srv);
  });

  after(() => srv.close());

  beforeEach(function () {
    srv.connections = 0;
    authorizations.length = 0;
  });

  it("reuses its connections for sequential API calls", async function () {
    const api = load(new PooledKubeConfig(), url, caPem, { token: "t1" }).makeApiClient(CoreV1Api);
    for (let i = 0; i < 20; i++) assert.equal((await api.readNamespace({ name: "default" })).metadata?.name, "default");
    // undici may open a second connection while the first response is being released; then both are reused.
    assert.ok(srv.connections <= 2, `${srv.connections} connections for 20 calls`);
    assert.ok(authorizations.every((a) => a === "Bearer t1"));
  });

  it("is needed: client-node's own KubeConfig opens a connection per call", async function () {
    const api = load(new KubeConfig(), url, caPem, { token: "t1" }).makeApiClient(CoreV1Api);
    for (let i = 0; i < 20; i++) await api.readNamespace({ name: "default" });
    // If this fails, client-node pools connections itself and PooledKubeConfig can go.
    assert.equal(srv.connections, 20);
  });

  it("keeps the pool when only the bearer token changes (a header), and sends the new token", async function () {
    const kc = load(new PooledKubeConfig(), url, caPem, { token: "t1" });
    const api = kc.makeApiClient(CoreV1Api);
    await api.readNamespace({ name: "default" });
    kc.users[0] = { ...kc.users[0]!, token: "t2" };
    await api.readNamespace({ name: "default" });
    assert.deepEqual(authorizations, ["Bearer t1", "Bearer t2"]);
    assert.ok(srv.connections <= 2);
    assert.equal(kc.poolCount, 1);
  });

  it("starts a new pool when the TLS material changes (a rotated client certificate or CA)", async function () {
    const kc = load(new PooledKubeConfig(), url, caPem, { certData: b64("cert-1"), keyData: b64("key-1") });
    const dispatcherFor = async () => {
      const ctx = new RequestContext(`${url}/api`, HttpMethod.GET);
      await kc.applySecurityAuthentication(ctx);
      return ctx.getDispatcher();
    };
    const first = await dispatcherFor();
    assert.ok(first);
    assert.equal(await dispatcherFor(), first);
    kc.users[0] = { ...kc.users[0]!, certData: b64("cert-2") };
    const second = await dispatcherFor();
    assert.notEqual(second, first);
    kc.clusters[0] = { ...kc.clusters[0]!, caData: b64(`${caPem}\n`) };
    assert.notEqual(await dispatcherFor(), second);
    assert.equal(kc.poolCount, 3);
  });

  it("leaves requests without TLS material alone", async function () {
    const kc = new PooledKubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "c", server: "https://127.0.0.1:1" }],
      users: [{ name: "u", token: "t" }],
      contexts: [{ name: "ctx", cluster: "c", user: "u" }],
      currentContext: "ctx",
    });
    const ctx = new RequestContext("https://127.0.0.1:1/api", HttpMethod.GET);
    await kc.applySecurityAuthentication(ctx);
    assert.equal(ctx.getDispatcher(), undefined);
    assert.equal(kc.poolCount, 0);
  });
});
