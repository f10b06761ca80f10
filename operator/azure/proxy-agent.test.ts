import assert from "node:assert/strict";
import type http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import tls from "node:tls";
import { createDefaultHttpClient, createPipelineRequest, getDefaultProxySettings, proxyPolicy } from "@azure/core-rest-pipeline";
import { startTlsServer, type TlsTestServer } from "../../e2e/support/tls-test-server.ts";
import { createConnectProxy } from "../../e2e/cluster/connect-proxy.ts";
import { azureRequests } from "../observability/metrics.ts";
import { agentFor, bypassesProxy, noProxyList, ProxySettingsError, proxyFromEnv } from "./proxy-agent.ts";

/** Runs `fn` with exactly these proxy variables in process.env (the SDK reads nothing else). */
function withProxyEnv<T>(vars: Record<string, string>, fn: () => T): T {
  const names = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"];
  const saved = Object.fromEntries(names.map((n) => [n, process.env[n]]));
  for (const n of names) delete process.env[n];
  Object.assign(process.env, vars);
  try {
    return fn();
  } finally {
    for (const n of names) {
      if (saved[n] === undefined) delete process.env[n];
      else process.env[n] = saved[n];
    }
  }
}

/** Runs `fn` with `ca` trusted by every TLS connection (the SDK's client takes no per-request CA). */
async function withCa<T>(ca: string, fn: () => Promise<T>): Promise<T> {
  const original = tls.createSecureContext;
  tls.createSecureContext = (options) => original({ ...options, ca: [ca, ...tls.rootCertificates] });
  try {
    return await fn();
  } finally {
    tls.createSecureContext = original;
  }
}

/** Whether the Azure SDK's own proxy policy would send a request to `url` through its proxy, given NO_PROXY entries. */
async function sdkProxies(url: string, noProxy: string[]): Promise<boolean> {
  const policy = proxyPolicy({ host: "http://127.0.0.1", port: 3128 }, { customNoProxyList: noProxy });
  let proxied = false;
  await policy.sendRequest(createPipelineRequest({ url }), async (req) => {
    proxied = req.agent !== undefined;
    return { request: req, status: 200, headers: req.headers };
  });
  return proxied;
}

describe("proxy settings for Azure requests, as the Azure SDK reads them", () => {
  it("picks HTTPS_PROXY, then ALL_PROXY, then HTTP_PROXY, upper case before lower case, as the SDK does", () => {
    const cases: Array<Record<string, string>> = [
      { HTTPS_PROXY: "http://p:3128", ALL_PROXY: "http://a:1", HTTP_PROXY: "http://q:1" },
      { https_proxy: "http://lower:2", ALL_PROXY: "http://a:1" },
      { HTTPS_PROXY: "http://upper:1", https_proxy: "http://lower:2" },
      { ALL_PROXY: "http://a:1", HTTP_PROXY: "http://q:1" },
      { all_proxy: "http://a2:1", http_proxy: "http://q:1" },
      { HTTP_PROXY: "http://q:8080" },
      { http_proxy: "https://secure:443" },
    ];
    for (const env of cases) {
      const sdk = withProxyEnv(env, () => getDefaultProxySettings());
      const ours = proxyFromEnv(env);
      assert.ok(sdk && ours, JSON.stringify(env));
      assert.equal(`${ours.protocol}//${ours.hostname}`, sdk.host, JSON.stringify(env));
    }
    assert.equal(proxyFromEnv({}), undefined);
    assert.equal(withProxyEnv({}, () => getDefaultProxySettings()), undefined);
  });

  it("takes a bare host:port as an HTTP proxy, and refuses what names no HTTP proxy, naming the variable", () => {
    assert.equal(proxyFromEnv({ HTTPS_PROXY: "p2:8080" })?.href, "http://p2:8080/");
    assert.throws(() => proxyFromEnv({ ALL_PROXY: "socks5://s:1080" }), (e: unknown) => e instanceof ProxySettingsError && /ALL_PROXY is a socks5 proxy/.test(e.message));
    assert.throws(() => proxyFromEnv({ HTTP_PROXY: "http://[::1" }), /HTTP_PROXY is not a URL/);
  });

  it("splits NO_PROXY and matches hosts exactly as the SDK's proxy policy does", async () => {
    const raw = " localhost , .core.windows.net,,10.0.0.1, exact.blob.example.org ,*, example.net:443";
    const list = noProxyList({ NO_PROXY: raw });
    assert.deepEqual(list, ["localhost", ".core.windows.net", "10.0.0.1", "exact.blob.example.org", "*", "example.net:443"]);
    assert.deepEqual(noProxyList({ no_proxy: "a,b" }), ["a", "b"]);
    const hosts = [
      "acct.blob.core.windows.net",
      "core.windows.net",
      "xcore.windows.net",
      "localhost",
      "a.localhost",
      "10.0.0.1",
      "exact.blob.example.org",
      "other.blob.example.org",
      "example.net",
      "acct.blob.localhost",
    ];
    for (const host of hosts) {
      const sdk = !(await sdkProxies(`https://${host}/c`, list));
      assert.equal(bypassesProxy(host, list), sdk, `${host} with NO_PROXY=${raw}`);
    }
    // What the SDK's reading implies, spelled out.
    assert.equal(bypassesProxy("acct.blob.core.windows.net", list), true);
    assert.equal(bypassesProxy("core.windows.net", list), true, ".suffix also matches the bare domain");
    assert.equal(bypassesProxy("xcore.windows.net", list), false);
    assert.equal(bypassesProxy("a.localhost", list), false, "a plain entry matches only itself");
    assert.equal(bypassesProxy("example.net", list), false, "ports and * are not part of the SDK's reading");
  });

  it("gives every request an agent: one shared proxy agent, one shared direct agent for bypassed hosts", () => {
    const env = { HTTPS_PROXY: "http://127.0.0.1:3128", NO_PROXY: "127.0.0.1" };
    const proxied = agentFor("https://acct.blob.core.windows.net", env);
    assert.equal(agentFor("https://other.blob.core.windows.net", env), proxied);
    const direct = agentFor("https://127.0.0.1:10000/devstoreaccount1", env);
    assert.notEqual(direct, proxied);
    assert.equal(agentFor("https://acct.blob.core.windows.net", {}), direct);
  });
});

describe("Azure requests on kept-alive connections, through a CONNECT proxy and without one", function () {
  this.timeout(20_000);
  let target: TlsTestServer;
  let direct: TlsTestServer;
  let proxy: http.Server;
  let proxyUrl: string;
  const tunnels: string[] = [];

  before(async function () {
    // As Azure does: a 404 to a HEAD carries a Content-Length, so the connection stays usable.
    const handler: http.RequestListener = (req, res) =>
      req.url?.startsWith("/missing") ? res.writeHead(404, { "content-length": "0" }).end() : res.writeHead(200).end(req.url);
    target = await startTlsServer("acct.blob.localhost", handler);
    direct = await startTlsServer("127.0.0.1", handler);
    proxy = createConnectProxy((line) => tunnels.push(line));
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  });

  after(function () {
    target.close();
    direct.close();
    proxy.closeAllConnections();
    proxy.close();
  });

  const get = (url: string, agent: https.Agent, ca?: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      https
        .get(url, { agent, ...(ca ? { ca } : {}) }, (res) => {
          let body = "";
          res.on("data", (c: Buffer) => (body += c.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        })
        .on("error", reject);
    });

  it("verifies the server through the tunnel and reuses one tunnel for sequential requests, error answers included", async function () {
    tunnels.length = 0;
    const url = `https://acct.blob.localhost:${target.port}`;
    const agent = agentFor(url, { HTTPS_PROXY: proxyUrl });
    for (let i = 0; i < 10; i++) {
      const r = await get(`${url}${i % 2 ? "/missing" : `/ok/${i}`}`, agent, target.caPem);
      assert.equal(r.status, i % 2 ? 404 : 200);
    }
    assert.deepEqual(tunnels, [`tunnel acct.blob.localhost:${target.port} -> 127.0.0.1:${target.port}`]);
  });

  it("reuses the tunnel for HEAD requests sent through the Azure SDK's own HTTP client", async function () {
    tunnels.length = 0;
    const url = `https://acct.blob.localhost:${target.port}`;
    const agent = agentFor(url, { HTTPS_PROXY: proxyUrl });
    const client = createDefaultHttpClient();
    // The SDK's Node client sends no `protocol` with its options: agent-base would guess from the call stack.
    const ca = target.caPem;
    for (let i = 0; i < 5; i++) {
      const request = createPipelineRequest({ url: `${url}/missing/${i}`, method: "HEAD" });
      request.agent = agent;
      const res = await withCa(ca, () => client.sendRequest(request));
      assert.equal(res.status, 404);
    }
    // Node may open a second tunnel while the first is being returned to the pool; without reuse it is one per request.
    assert.ok(tunnels.length <= 2, tunnels.join("\n"));
  });

  it("keeps connections alive to a host that bypasses the proxy", async function () {
    tunnels.length = 0;
    direct.connections = 0;
    const agent = agentFor(direct.url, { HTTPS_PROXY: proxyUrl, NO_PROXY: "127.0.0.1" });
    const counted = async () => (await azureRequests.get()).values[0]?.value ?? 0;
    const before = await counted();
    for (let i = 0; i < 10; i++) assert.equal((await get(`${direct.url}/ok/${i}`, agent, direct.caPem)).status, 200);
    assert.equal(direct.connections, 1);
    assert.equal((await counted()) - before, 10, "each request counted for blobstash_azure_requests_total");
    assert.deepEqual(tunnels, [], "nothing went through the proxy");
  });

  it("refuses a server whose certificate is not trusted, and reports a proxy refusal as the proxy's, not the server's", async function () {
    const agent = agentFor(`https://acct.blob.localhost:${target.port}`, { HTTPS_PROXY: proxyUrl });
    agent.destroy(); // connections verified by earlier tests would be reused
    await assert.rejects(get(`https://acct.blob.localhost:${target.port}/`, agent), /self-signed certificate/);
    await assert.rejects(get(`https://example.com:${target.port}/`, agent, target.caPem), /the proxy 127\.0\.0\.1:\d+ refused CONNECT example\.com:\d+: HTTP 403/);
  });
});
