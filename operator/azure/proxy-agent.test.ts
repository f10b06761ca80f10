import assert from "node:assert/strict";
import type http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { startTlsServer, type TlsTestServer } from "../../e2e/support/tls-test-server.ts";
import { createConnectProxy } from "../../e2e/cluster/connect-proxy.ts";
import { bypassesProxy, proxyAgentFor, proxyFromEnv, TunnelingAgent } from "./proxy-agent.ts";

describe("proxy settings for Azure requests", () => {
  it("takes HTTPS_PROXY first, then the lower-case and HTTP_ forms, and accepts a bare host:port", () => {
    assert.equal(proxyFromEnv({ HTTPS_PROXY: "http://p:3128", HTTP_PROXY: "http://q:1" })?.host, "p:3128");
    assert.equal(proxyFromEnv({ https_proxy: "p2:8080" })?.href, "http://p2:8080/");
    assert.equal(proxyFromEnv({ HTTP_PROXY: "http://q:1" })?.host, "q:1");
    assert.equal(proxyFromEnv({}), undefined);
  });

  it("honours NO_PROXY: *, exact hosts, domain suffixes with or without the dot, ports", () => {
    const host = "acct.blob.core.windows.net";
    assert.equal(bypassesProxy(host, "443", "*"), true);
    assert.equal(bypassesProxy(host, "443", "localhost, .core.windows.net"), true);
    assert.equal(bypassesProxy(host, "443", "windows.net"), true);
    assert.equal(bypassesProxy(host, "443", "*.blob.core.windows.net"), true);
    assert.equal(bypassesProxy(host, "443", "core.windows.net:8443"), false, "another port");
    assert.equal(bypassesProxy(host, "443", "acct.blob.core.windows.net:443"), true);
    assert.equal(bypassesProxy(host, "443", "ows.net,10.0.0.0"), false, "a suffix must end at a dot");
    assert.equal(bypassesProxy(host, "443", undefined), false);
  });

  it("gives an agent only when a proxy applies, one shared agent per proxy", () => {
    const env = { HTTPS_PROXY: "http://127.0.0.1:3128", NO_PROXY: "127.0.0.1" };
    const a = proxyAgentFor("https://acct.blob.core.windows.net", env);
    assert.ok(a instanceof TunnelingAgent);
    assert.equal(proxyAgentFor("https://other.blob.core.windows.net", env), a);
    assert.equal(proxyAgentFor("https://127.0.0.1:10000/devstoreaccount1", env), undefined);
    assert.equal(proxyAgentFor("https://acct.blob.core.windows.net", {}), undefined);
  });
});

describe("TunnelingAgent (kept-alive connections through a CONNECT proxy)", function () {
  this.timeout(20_000);
  let target: TlsTestServer;
  let proxy: http.Server;
  let proxyUrl: URL;
  let port: number;
  let ca: string;
  const tunnels: string[] = [];

  before(async function () {
    target = await startTlsServer("acct.blob.localhost", (req, res) => {
      res.writeHead(req.url === "/missing" ? 404 : 200).end(req.url);
    });
    ({ port, caPem: ca } = target);
    proxy = createConnectProxy((line) => tunnels.push(line));
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    proxyUrl = new URL(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`);
  });

  after(function () {
    target.close();
    proxy.closeAllConnections();
    proxy.close();
  });

  const get = (agent: https.Agent, urlPath: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      https
        .get(`https://acct.blob.localhost:${port}${urlPath}`, { agent, ca }, (res) => {
          let body = "";
          res.on("data", (c: Buffer) => (body += c.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        })
        .on("error", reject);
    });

  it("verifies the server through the tunnel and reuses one tunnel for sequential requests, error answers included", async function () {
    tunnels.length = 0;
    const agent = new TunnelingAgent(proxyUrl);
    for (let i = 0; i < 10; i++) {
      const r = await get(agent, i % 2 ? "/missing" : `/ok/${i}`);
      assert.equal(r.status, i % 2 ? 404 : 200);
    }
    assert.deepEqual(tunnels, [`tunnel acct.blob.localhost:${port} -> 127.0.0.1:${port}`]);
    agent.destroy();
  });

  it("refuses a server whose certificate is not trusted, and reports a proxy refusal", async function () {
    const agent = new TunnelingAgent(proxyUrl);
    await assert.rejects(
      new Promise((resolve, reject) => https.get(`https://acct.blob.localhost:${port}/`, { agent }, resolve).on("error", reject)),
      /self-signed certificate/,
    );
    await assert.rejects(
      new Promise((resolve, reject) => https.get(`https://example.com:${port}/`, { agent, ca }, resolve).on("error", reject)),
      /refused CONNECT example.com:\d+: HTTP 403/,
    );
    agent.destroy();
  });
});
