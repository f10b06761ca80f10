import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import os from "node:os";
import path from "node:path";
import { stringify } from "yaml";
import { createConnectProxy } from "../../e2e/cluster/connect-proxy.ts";
import { selfSignedCert } from "../../e2e/support/tls-test-server.ts";
import { FencedError, KubeClient } from "./api-client.ts";
import { connect } from "./connection.ts";
import { fromKubeconfigText } from "./kubeconfig.ts";
import { NAMESPACES, SECRETS } from "./resources.ts";

interface Seen {
  auth?: string | undefined;
  headers: http.IncomingHttpHeaders;
  clientCn?: string | undefined;
  url?: string | undefined;
}

/** An API-server stand-in over TLS whose identity can be rotated, that records who called. */
async function apiServer(name: string, clientCas: string[] = []) {
  let identity = selfSignedCert(name);
  const seen: Seen[] = [];
  let answer: (req: http.IncomingMessage, res: http.ServerResponse) => void = (_req, res) => res.writeHead(200, { "content-type": "application/json" }).end('{"kind":"Namespace"}');
  const server = https.createServer(
    { cert: identity.certPem, key: identity.keyPem, keepAliveTimeout: 10_000, requestCert: clientCas.length > 0, rejectUnauthorized: false, ...(clientCas.length ? { ca: clientCas } : {}) },
    (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate?.();
      seen.push({ auth: req.headers.authorization, headers: req.headers, clientCn: peer && "subject" in peer ? String(peer.subject?.CN) : undefined, url: req.url });
      answer(req, res);
    },
  );
  let connections = 0;
  server.on("secureConnection", () => connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    seen,
    get caPem() {
      return identity.certPem;
    },
    get connections() {
      return connections;
    },
    answer(fn: typeof answer) {
      answer = fn;
    },
    /** A new certificate (from a new self-signed CA) for new connections; open ones are closed. */
    rotate() {
      identity = selfSignedCert(name);
      server.setSecureContext({ cert: identity.certPem, key: identity.keyPem, ...(clientCas.length ? { ca: clientCas } : {}) });
      server.closeAllConnections();
    },
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

function kubeconfigYaml(server: string, user: Record<string, unknown>, cluster: Record<string, unknown> = {}): string {
  return stringify({
    clusters: [{ name: "c", cluster: { server, ...cluster } }],
    users: [{ name: "u", user }],
    contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
    "current-context": "x",
  });
}

describe("the operator's credentials for the API server (every kubeconfig kubectl accepts)", function () {
  this.timeout(30_000);
  let dir: string;
  let api: Awaited<ReturnType<typeof apiServer>>;
  let server: string;
  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "kube-credentials-"));
    api = await apiServer("127.0.0.1");
    server = `https://127.0.0.1:${api.port}`;
    writeFileSync(path.join(dir, "ca.crt"), api.caPem);
  });
  afterEach(() => {
    api.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const client = (yaml: string, rereadMs = 60_000) => new KubeClient(connect(fromKubeconfigText(yaml, path.join(dir, "config")), { rereadMs }));

  it("sends impersonation headers (as, as-uid, as-groups, as-user-extra) and basic credentials as kubectl does", async () => {
    const kube = client(kubeconfigYaml(server, { username: "admin", password: "pw", as: "jane", "as-uid": "7", "as-groups": ["dev", "ops"], "as-user-extra": { reason: ["audit"] } }, { "certificate-authority": "ca.crt" }));
    await kube.get(NAMESPACES, undefined, "default");
    const h = api.seen[0]!.headers;
    assert.equal(h.authorization, `Basic ${Buffer.from("admin:pw").toString("base64")}`);
    assert.equal(h["impersonate-user"], "jane");
    assert.equal(h["impersonate-uid"], "7");
    assert.equal(h["impersonate-group"], "dev, ops", "one header per group, joined by Node on reading");
    assert.equal(h["impersonate-extra-reason"], "audit");
    kube.close();
  });

  it("reads a rotated token file, CA and client certificate again, as kubectl does, and keeps working across the rotation", async () => {
    const clientA = selfSignedCert("client-a");
    const clientB = selfSignedCert("client-b");
    api.close();
    api = await apiServer("127.0.0.1", [clientA.certPem, clientB.certPem]);
    server = `https://127.0.0.1:${api.port}`;
    writeFileSync(path.join(dir, "ca.crt"), api.caPem);
    writeFileSync(path.join(dir, "token"), "first\n");
    writeFileSync(path.join(dir, "c.crt"), clientA.certPem);
    writeFileSync(path.join(dir, "c.key"), clientA.keyPem);
    const user = { tokenFile: "token", "client-certificate": "c.crt", "client-key": "c.key" };
    const rotating = client(kubeconfigYaml(server, user, { "certificate-authority": "ca.crt" }), 0);
    const stale = client(kubeconfigYaml(server, user, { "certificate-authority": "ca.crt" }));
    await rotating.get(NAMESPACES, undefined, "default");
    await stale.get(NAMESPACES, undefined, "default");
    assert.deepEqual(api.seen.map((s) => [s.auth, s.clientCn]), [["Bearer first", "client-a"], ["Bearer first", "client-a"]]);

    // Everything rotates at once: the server's certificate (and so the CA file), the client's certificate and the token.
    api.rotate();
    writeFileSync(path.join(dir, "ca.crt"), api.caPem);
    writeFileSync(path.join(dir, "token"), "second");
    writeFileSync(path.join(dir, "c.crt"), clientB.certPem);
    writeFileSync(path.join(dir, "c.key"), clientB.keyPem);
    api.seen.length = 0;
    await rotating.get(NAMESPACES, undefined, "default");
    assert.deepEqual(api.seen.map((s) => [s.auth, s.clientCn]), [["Bearer second", "client-b"]]);
    await assert.rejects(stale.get(NAMESPACES, undefined, "default"), /self-signed certificate/, "a client that kept the old CA cannot verify the new server");

    // A file half-written or removed during a rotation keeps the last good content.
    rmSync(path.join(dir, "token"));
    await rotating.get(NAMESPACES, undefined, "default");
    assert.equal(api.seen.at(-1)?.auth, "Bearer second");
    rotating.close();
    stale.close();
  });

  it("runs an exec plugin through @kubernetes/client-node, caches its token, and runs it again after a 401", async () => {
    const plugin = path.join(dir, "get-token");
    const counter = path.join(dir, "runs");
    writeFileSync(counter, "0");
    writeFileSync(
      plugin,
      `#!/bin/sh\nn=$(($(cat ${counter}) + 1)); echo $n > ${counter}\n` +
        `printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"exec-%s-%s"}}' "$n" "$GREETING"\n`,
    );
    chmodSync(plugin, 0o755);
    const kube = client(kubeconfigYaml(server, { exec: { apiVersion: "client.authentication.k8s.io/v1", command: "./get-token", env: [{ name: "GREETING", value: "hi" }] } }, { "certificate-authority": "ca.crt" }));
    // The server refuses the first token it sees, as an API server refuses an expired one.
    api.answer((req, res) => (req.headers.authorization === "Bearer exec-1-hi" ? res.writeHead(401).end('{"kind":"Status","code":401,"reason":"Unauthorized","message":"Unauthorized"}') : res.writeHead(200).end("{}")));
    await kube.get(NAMESPACES, undefined, "default");
    await kube.get(NAMESPACES, undefined, "default");
    assert.deepEqual(api.seen.map((s) => s.auth), ["Bearer exec-1-hi", "Bearer exec-2-hi", "Bearer exec-2-hi"]);
    assert.equal(readFileSync(counter, "utf8").trim(), "2", "the plugin ran once per credential, not per request");
    kube.close();
  });

  it("uses a client certificate an exec plugin answers with", async () => {
    const cert = selfSignedCert("from-plugin");
    api.close();
    api = await apiServer("127.0.0.1", [cert.certPem]);
    server = `https://127.0.0.1:${api.port}`;
    writeFileSync(path.join(dir, "ca.crt"), api.caPem);
    const credential = { apiVersion: "client.authentication.k8s.io/v1", kind: "ExecCredential", status: { clientCertificateData: cert.certPem, clientKeyData: cert.keyPem } };
    writeFileSync(path.join(dir, "cred.json"), JSON.stringify(credential));
    const kube = client(kubeconfigYaml(server, { exec: { command: "cat", args: [path.join(dir, "cred.json")] } }, { "certificate-authority": "ca.crt" }));
    await kube.get(NAMESPACES, undefined, "default");
    assert.equal(api.seen[0]?.clientCn, "from-plugin");
    assert.equal(api.seen[0]?.auth, undefined);
    kube.close();
  });

  it("goes through proxy-url (an HTTP CONNECT proxy) with the server still verified", async () => {
    api.close();
    api = await apiServer("api.localhost");
    const tunnels: string[] = [];
    const proxy = createConnectProxy((l) => tunnels.push(l));
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    try {
      writeFileSync(path.join(dir, "ca.crt"), api.caPem);
      const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      // api.localhost resolves nowhere: only the proxy can reach it.
      const kube = client(kubeconfigYaml(`https://api.localhost:${api.port}`, { token: "t" }, { "certificate-authority": "ca.crt", "proxy-url": proxyUrl }));
      for (let i = 0; i < 5; i++) await kube.get(NAMESPACES, undefined, "default");
      assert.equal(api.seen.length, 5);
      assert.deepEqual(tunnels, [`tunnel api.localhost:${api.port} -> 127.0.0.1:${api.port}`], "one kept-alive tunnel");
      kube.close();
      const untrusted = client(kubeconfigYaml(`https://api.localhost:${api.port}`, { token: "t" }, { "proxy-url": proxyUrl }));
      await assert.rejects(untrusted.get(NAMESPACES, undefined, "default"), /self-signed certificate/);
      untrusted.close();
    } finally {
      proxy.closeAllConnections();
      proxy.close();
    }
  });

  it("keeps writes behind the fence: refused before sending while fenced, abandoned in flight when revoked", async () => {
    const kube = client(kubeconfigYaml(server, { token: "t" }, { "certificate-authority": "ca.crt" }));
    let allowed = false;
    const fence = kube.fenceWrites(() => allowed);
    await assert.rejects(kube.create(SECRETS, "ns", { metadata: { name: "s" } }), FencedError);
    assert.equal(api.seen.length, 0, "nothing left the process");
    await kube.get(NAMESPACES, undefined, "default");
    await kube.create(SECRETS, "ns", { metadata: { name: "lease-like" } }, { unfenced: true });
    allowed = true;
    api.answer(() => undefined); // never answers: a write in flight
    const pending = kube.create(SECRETS, "ns", { metadata: { name: "s" } });
    while (api.seen.length < 3) await new Promise((r) => setTimeout(r, 10));
    allowed = false;
    fence.revoke();
    await assert.rejects(pending, (err: unknown) => err instanceof FencedError && /POST \/api\/v1\/namespaces\/ns\/secrets: .*lost its lease.*abandoned/.test(err.message));
    kube.close();
  });

  it("drains the writes in flight: a leader that gives its Lease up waits for them, then nothing of it can land", async () => {
    const kube = client(kubeconfigYaml(server, { token: "t" }, { "certificate-authority": "ca.crt" }));
    let allowed = true;
    const fence = kube.fenceWrites(() => allowed);
    let reply: (() => void) | undefined;
    api.answer((_req, res) => (reply = () => res.writeHead(201, { "content-type": "application/json" }).end("{}")));
    const pending = kube.create(SECRETS, "ns", { metadata: { name: "s" } });
    while (!reply) await new Promise((r) => setTimeout(r, 10));
    allowed = false;
    let drained = false;
    const draining = fence.drain().then(() => (drained = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(drained, false, "drain waits for the write on the wire");
    await assert.rejects(kube.create(SECRETS, "ns", { metadata: { name: "late" } }), FencedError);
    reply();
    await draining;
    await pending;
    await fence.drain();
    kube.close();
  });
});

describe("@kubernetes/client-node is loaded only for a kubeconfig that needs it", function () {
  this.timeout(60_000);
  // A fresh Node process per case, which records every module it resolves.
  const loaded = (yaml: string, dir: string): boolean => {
    const file = path.join(dir, "config");
    writeFileSync(file, yaml);
    const script = `
      import { registerHooks } from "node:module";
      let seen = false;
      registerHooks({ resolve(spec, ctx, next) { if (spec.startsWith("@kubernetes/client-node")) seen = true; return next(spec, ctx); } });
      const { connectKube } = await import(${JSON.stringify(path.resolve("operator/kube/client.ts"))});
      const kube = connectKube(${JSON.stringify(file)});
      await kube.get({ group: "", version: "v1", plural: "namespaces" }, undefined, "x").catch(() => undefined);
      kube.close();
      console.log(seen ? "loaded" : "not loaded");`;
    return execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" }).trim() === "loaded";
  };

  it("is not loaded for tokens and certificates, and is for an exec plugin", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "kube-lazy-"));
    try {
      const exec = path.join(dir, "plugin");
      writeFileSync(exec, `#!/bin/sh\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"x"}}'\n`);
      chmodSync(exec, 0o755);
      assert.equal(loaded(kubeconfigYaml("https://127.0.0.1:1", { token: "t" }), dir), false);
      assert.equal(loaded(kubeconfigYaml("https://127.0.0.1:1", { "client-certificate-data": "Qw==", "client-key-data": "Sw==" }), dir), false);
      assert.equal(loaded(kubeconfigYaml("https://127.0.0.1:1", { exec: { command: exec } }), dir), true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
