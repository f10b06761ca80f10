// How Azure requests leave the process. The proxy settings are read as the Azure SDK reads them
// (@typespec/ts-http-runtime proxyPolicy): HTTPS_PROXY, else ALL_PROXY, else HTTP_PROXY, each
// upper case before lower case; NO_PROXY a comma-separated list of hosts, `.example.com` also
// matching example.com and its subdomains, anything else only that exact host.
//
// Every request gets an agent from here, so the SDK's proxy policy (which skips requests that carry
// one) never adds its own: it would open a new CONNECT tunnel and TLS session per request (its
// agent is made without keepAlive), which at a thousand Repositories is most of the operator's CPU.
// Proxied hosts share a kept-alive https-proxy-agent, whose tunnels return to Node's pool; hosts
// that bypass the proxy share a kept-alive https.Agent.

import https from "node:https";
import { HttpsProxyAgent } from "https-proxy-agent";
import { azureRequests } from "../observability/metrics.ts";

/** Idle connections each agent keeps per host for the next request. */
const MAX_FREE_SOCKETS = 32;

export class ProxySettingsError extends Error {}

function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  return env[name] || env[name.toLowerCase()] || undefined;
}

/**
 * The proxy for Azure's HTTPS requests, from the environment as the SDK picks it. A bare
 * `host:port` is taken as `http://host:port`, as curl and Go take it. Throws ProxySettingsError
 * for a value that names no HTTP(S) proxy (a SOCKS URL, garbage), naming the variable.
 */
export function proxyFromEnv(env: NodeJS.ProcessEnv = process.env): URL | undefined {
  for (const name of ["HTTPS_PROXY", "ALL_PROXY", "HTTP_PROXY"]) {
    const raw = envValue(env, name);
    if (!raw) continue;
    let url: URL;
    try {
      url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
    } catch {
      throw new ProxySettingsError(`${name} is not a URL: set it to http://host:port (or unset it)`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new ProxySettingsError(`${name} is a ${url.protocol.slice(0, -1)} proxy; Azure requests go through HTTP(S) proxies only (CONNECT)`);
    }
    if (!url.hostname) throw new ProxySettingsError(`${name} names no proxy host`);
    return url;
  }
  return undefined;
}

/** NO_PROXY (or no_proxy) as the SDK splits it: on commas, trimmed, empty entries dropped. */
export function noProxyList(env: NodeJS.ProcessEnv = process.env): string[] {
  return (envValue(env, "NO_PROXY") ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The SDK's NO_PROXY match: `.suffix` matches the suffix and the bare domain, other entries the exact host. */
export function bypassesProxy(host: string, noProxy: readonly string[]): boolean {
  return noProxy.some((pattern) => (pattern.startsWith(".") ? host.endsWith(pattern) || host === pattern.slice(1) : host === pattern));
}

/**
 * https-proxy-agent with one change: a proxy that refuses the CONNECT fails the request with that
 * said. The library hands the proxy's answer to the request as if the storage service had sent
 * it, and a 403 from a proxy would then read as "Azure refused the credentials".
 */
class KeptAliveProxyAgent extends HttpsProxyAgent<string> {
  // The SDK's requests carry no `protocol`, and agent-base then guesses from the call stack, which
  // differs between taking a socket and giving it back: the pool key changes and no connection is
  // ever reused. Every Azure request is HTTPS.
  override isSecureEndpoint(): boolean {
    return true;
  }

  override async connect(...args: Parameters<HttpsProxyAgent<string>["connect"]>): ReturnType<HttpsProxyAgent<string>["connect"]> {
    const [req, opts] = args;
    let status: number | undefined;
    req.once("proxyConnect", (res: { statusCode?: number }) => (status = res.statusCode));
    const socket = await super.connect(...args);
    if (status !== undefined && status !== 200) {
      socket.destroy();
      throw new Error(`the proxy ${this.proxy.host} refused CONNECT ${opts.host}:${opts.port}: HTTP ${status}`);
    }
    return socket;
  }
}

/** Counts every request the agent carries (blobstash_azure_requests_total). */
function counted<T extends https.Agent>(agent: T): T {
  const a = agent as unknown as { addRequest: (...args: unknown[]) => void };
  const add = a.addRequest.bind(agent);
  a.addRequest = (...args) => {
    azureRequests.inc();
    add(...args);
  };
  return agent;
}

let shared: { key: string; agent: https.Agent } | undefined;
let direct: https.Agent | undefined;

/** The agent for requests to `serviceUrl`: a shared kept-alive proxy agent, or the shared kept-alive direct one. */
export function agentFor(serviceUrl: string, env: NodeJS.ProcessEnv = process.env): https.Agent {
  const proxy = proxyFromEnv(env);
  if (!proxy || bypassesProxy(new URL(serviceUrl).hostname, noProxyList(env))) {
    direct ??= counted(new https.Agent({ keepAlive: true, maxFreeSockets: MAX_FREE_SOCKETS }));
    return direct;
  }
  if (shared?.key !== proxy.href) shared = { key: proxy.href, agent: counted(new KeptAliveProxyAgent(proxy.href, { keepAlive: true, maxFreeSockets: MAX_FREE_SOCKETS })) };
  return shared.agent;
}

/** For the start-up log: where Azure requests go, without the proxy's credentials. */
export function describeProxySettings(env: NodeJS.ProcessEnv = process.env): { proxy: string; noProxy: string[] } {
  const proxy = proxyFromEnv(env);
  return { proxy: proxy ? `${proxy.protocol}//${proxy.host}` : "none", noProxy: noProxyList(env) };
}
