import assert from "node:assert/strict";
import type { IncomingMessage, ServerResponse } from "node:http";
import { startTlsServer, type TlsTestServer } from "../../e2e/support/tls-test-server.ts";
import { KubeApiError, KubeClient, type WatchEvent } from "./api-client.ts";
import { testConnection } from "./test-connection.ts";
import { resourcePath, SECRETS, JOBS, REPOSITORIES, NAMESPACES } from "./resources.ts";

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

// The HTTP client's own behaviour (pooling, headers, error and stream decoding) against a local
// TLS server; what the real API server answers is covered by e2e/kube-client.test.ts.
describe("KubeClient (HTTP behaviour)", function () {
  this.timeout(20_000);
  let srv: TlsTestServer;
  let caPem: string;
  let url: string;
  let handler: Handler;
  const seen: Array<{ method?: string; url?: string; auth?: string; type?: string; agent?: string; body: string }> = [];

  before(async function () {
    srv = await startTlsServer("127.0.0.1", (req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        seen.push({ method: req.method, url: req.url, auth: req.headers.authorization, type: req.headers["content-type"], agent: req.headers["user-agent"], body });
        handler(req, res, body);
      });
    });
    ({ url, caPem } = srv);
  });

  after(() => srv.close());

  let token = "t1";
  const client = () => new KubeClient(testConnection(url, { ca: Buffer.from(caPem), token: () => token }));
  const json = (res: ServerResponse, status: number, obj: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(obj));
  };

  beforeEach(function () {
    srv.connections = 0;
    seen.length = 0;
    token = "t1";
    handler = (_req, res) => json(res, 200, { kind: "Namespace", metadata: { name: "default" } });
  });

  it("reuses one kept-alive connection for sequential calls and sends the current bearer token", async function () {
    const kube = client();
    for (let i = 0; i < 20; i++) {
      if (i === 10) token = "t2";
      assert.equal((await kube.get<{ metadata: { name: string } }>(NAMESPACES, undefined, "default")).metadata.name, "default");
    }
    assert.equal(srv.connections, 1);
    assert.deepEqual([...new Set(seen.map((s) => s.auth))], ["Bearer t1", "Bearer t2"]);
    assert.deepEqual([...new Set(seen.map((s) => s.agent))], [`blobstash-operator (${process.platform}/${process.arch})`], "the audit log tells the operator's requests by their agent");
    kube.close();
  });

  it("sends JSON bodies, merge patches with their content type, and delete options", async function () {
    const kube = client();
    await kube.create(SECRETS, "ns", { metadata: { name: "s" } });
    await kube.mergePatch(REPOSITORIES, "ns", "r", { status: { a: null } }, "status");
    await kube.delete(JOBS, "ns", "j", { propagationPolicy: "Background" });
    await kube.list(JOBS, { labelSelector: "a=b" });
    assert.deepEqual(
      seen.map((s) => [s.method, s.url, s.type, s.body]),
      [
        ["POST", "/api/v1/namespaces/ns/secrets", "application/json", '{"metadata":{"name":"s"}}'],
        ["PATCH", "/apis/stash.appscode.com/v1alpha1/namespaces/ns/repositories/r/status", "application/merge-patch+json", '{"status":{"a":null}}'],
        ["DELETE", "/apis/batch/v1/namespaces/ns/jobs/j", "application/json", '{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background"}'],
        ["GET", "/apis/batch/v1/jobs?labelSelector=a%3Db", undefined, ""],
      ],
    );
    kube.close();
  });

  it("turns an error answer into a KubeApiError with the Status code, reason and message; find gives undefined on 404", async function () {
    handler = (req, res) =>
      req.url?.endsWith("/gone")
        ? json(res, 404, { kind: "Status", status: "Failure", reason: "NotFound", message: 'secrets "gone" not found', code: 404 })
        : json(res, 409, { kind: "Status", status: "Failure", reason: "Conflict", message: "the object has been modified", code: 409 });
    const kube = client();
    assert.equal(await kube.find(SECRETS, "ns", "gone"), undefined);
    await assert.rejects(kube.replace(SECRETS, "ns", "s", {}), (err: unknown) => {
      assert.ok(err instanceof KubeApiError);
      assert.equal(err.code, 409);
      assert.equal(err.reason, "Conflict");
      assert.equal(err.message, "PUT /api/v1/namespaces/ns/secrets/s: 409 Conflict: the object has been modified");
      return true;
    });
    handler = (_req, res) => {
      res.writeHead(502);
      res.end("bad gateway");
    };
    await assert.rejects(kube.get(SECRETS, "ns", "s"), (err: unknown) => err instanceof KubeApiError && err.code === 502 && /HTTP 502 bad gateway/.test(err.message));
    kube.close();
  });

  it("says which call failed when the server cannot be reached", async function () {
    const kube = new KubeClient(testConnection("https://127.0.0.1:1"));
    await assert.rejects(kube.get(SECRETS, "ns", "s"), /GET \/api\/v1\/namespaces\/ns\/secrets\/s: connect ECONNREFUSED/);
    kube.close();
  });

  it("streams watch events split across chunks, and ends when the server ends the watch", async function () {
    handler = (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      const lines = [{ type: "ADDED", object: { metadata: { name: "a", resourceVersion: "5" } } }, { type: "BOOKMARK", object: { metadata: { resourceVersion: "7" } } }]
        .map((e) => JSON.stringify(e))
        .join("\n");
      res.write(lines.slice(0, 20));
      setTimeout(() => res.end(`${lines.slice(20)}\n`), 20);
    };
    const kube = client();
    const events: Array<WatchEvent<{ metadata: { resourceVersion: string } }>> = [];
    await kube.watch("/api/v1/secrets", { resourceVersion: "4" }, (e) => events.push(e as never), new AbortController().signal, 5_000);
    assert.deepEqual(events.map((e) => [e.type, e.object.metadata.resourceVersion]), [["ADDED", "5"], ["BOOKMARK", "7"]]);
    assert.equal(seen[0]?.url, "/api/v1/secrets?resourceVersion=4&watch=true");
    kube.close();
  });

  it("fails a watch with the ERROR event's Status (410: relist), on silence past the idle timeout, and stops quietly when aborted", async function () {
    const kube = client();
    handler = (_req, res) => {
      res.writeHead(200);
      res.write(`${JSON.stringify({ type: "ERROR", object: { kind: "Status", code: 410, reason: "Expired", message: "too old resource version: 1 (50)" } })}\n`);
    };
    await assert.rejects(kube.watch("/api/v1/secrets", {}, () => undefined, new AbortController().signal, 5_000), (err: unknown) => err instanceof KubeApiError && err.code === 410);

    handler = (_req, res) => res.writeHead(200).flushHeaders();
    await assert.rejects(kube.watch("/api/v1/secrets", {}, () => undefined, new AbortController().signal, 200), /nothing received for 0.2 s/);

    const abort = new AbortController();
    const watching = kube.watch("/api/v1/secrets", {}, () => undefined, abort.signal, 5_000);
    setTimeout(() => abort.abort(), 50);
    await watching;
    kube.close();
  });
});

describe("resourcePath", () => {
  it("builds core, grouped, cluster-wide and subresource paths, escaping names", () => {
    assert.equal(resourcePath(SECRETS, "ns", "a b"), "/api/v1/namespaces/ns/secrets/a%20b");
    assert.equal(resourcePath(JOBS), "/apis/batch/v1/jobs");
    assert.equal(resourcePath(NAMESPACES, undefined, "demo"), "/api/v1/namespaces/demo");
    assert.equal(resourcePath(REPOSITORIES, "ns", "r", "status"), "/apis/stash.appscode.com/v1alpha1/namespaces/ns/repositories/r/status");
  });
});
