// Azure requests through an HTTPS proxy (HTTPS_PROXY / NO_PROXY, as the Azure SDK reads them) on
// kept-alive tunnels. The SDK's own proxy agent opens a new CONNECT tunnel and TLS session for
// every request (its sockets never return to the pool), which at a thousand Repositories is most of
// the operator's CPU and a large share of its memory. This agent is an https.Agent whose
// connections are made through the tunnel, so Node's ordinary keep-alive pool reuses them.

import http from "node:http";
import https from "node:https";
import type { Duplex } from "node:stream";
import tls from "node:tls";

/** The proxy URL for HTTPS requests from the environment, as the Azure SDK picks it. */
export function proxyFromEnv(env: NodeJS.ProcessEnv = process.env): URL | undefined {
  const raw = env.HTTPS_PROXY || env.https_proxy || env.HTTP_PROXY || env.http_proxy;
  if (!raw) return undefined;
  try {
    return new URL(raw.includes("://") ? raw : `http://${raw}`);
  } catch {
    return undefined;
  }
}

/**
 * Whether NO_PROXY exempts this host: `*`, an exact host, a domain suffix (`.example.com` or
 * `example.com` matching its subdomains too), optionally with `:port`.
 */
export function bypassesProxy(host: string, port: string, noProxy: string | undefined): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  for (const raw of (noProxy ?? "").split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === "*") return true;
    const m = /^(.*?)(?::(\d+))?$/.exec(entry);
    const name = (m?.[1] ?? entry).replace(/^\*?\./, "");
    const entryPort = m?.[2];
    if (entryPort && entryPort !== port) continue;
    if (h === name || h.endsWith(`.${name}`)) return true;
  }
  return false;
}

export class TunnelingAgent extends https.Agent {
  private readonly proxy: URL;

  constructor(proxy: URL, options: https.AgentOptions = {}) {
    super({ keepAlive: true, ...options });
    this.proxy = proxy;
  }

  // Node calls this with a callback when the socket is not returned synchronously.
  override createConnection(options: tls.ConnectionOptions & { host?: string; port?: number }, callback: (err: Error | null, socket?: Duplex) => void): undefined {
    const target = `${options.host}:${options.port ?? 443}`;
    const headers: http.OutgoingHttpHeaders = { host: target };
    if (this.proxy.username) {
      const credentials = `${decodeURIComponent(this.proxy.username)}:${decodeURIComponent(this.proxy.password)}`;
      headers["proxy-authorization"] = `Basic ${Buffer.from(credentials).toString("base64")}`;
    }
    const request = (this.proxy.protocol === "https:" ? https : http).request({
      host: this.proxy.hostname,
      port: this.proxy.port || (this.proxy.protocol === "https:" ? 443 : 80),
      method: "CONNECT",
      path: target,
      headers,
      agent: false,
    });
    request.once("connect", (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        callback(new Error(`the proxy ${this.proxy.host} refused CONNECT ${target}: HTTP ${res.statusCode}`));
        return;
      }
      const { host, port: _port, ...rest } = options;
      callback(null, tls.connect({ ...rest, socket, servername: options.servername ?? host }));
    });
    request.once("error", (err) => callback(new Error(`cannot reach the proxy ${this.proxy.host}: ${err.message}`)));
    request.end();
    return undefined;
  }
}

let shared: { key: string; agent: TunnelingAgent } | undefined;

/**
 * The agent for requests to `serviceUrl`: a shared kept-alive tunnel agent when a proxy applies,
 * undefined when the request goes direct (the SDK's default agent keeps connections alive).
 */
export function proxyAgentFor(serviceUrl: string, env: NodeJS.ProcessEnv = process.env): https.Agent | undefined {
  const proxy = proxyFromEnv(env);
  if (!proxy) return undefined;
  const url = new URL(serviceUrl);
  if (bypassesProxy(url.hostname, url.port || "443", env.NO_PROXY ?? env.no_proxy)) return undefined;
  if (shared?.key !== proxy.href) shared = { key: proxy.href, agent: new TunnelingAgent(proxy, { maxFreeSockets: 32 }) };
  return shared.agent;
}
