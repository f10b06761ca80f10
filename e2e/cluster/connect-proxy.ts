import http from "node:http";
import net from "node:net";
import { parseFault, type AzureFaultResponder } from "./azure-faults.ts";
import { parseThrottle, plainAddress, type Throttles } from "./throttle.ts";

/**
 * Where a CONNECT request for `authority` (host:port) is tunnelled: any `<name>.localhost:<port>` (and
 * `localhost:<port>`) goes to 127.0.0.1:<port>; everything else is refused, so the proxy can never
 * reach beyond this machine. This is how restic and the Azure SDK reach `<account>.blob.localhost:<port>`
 * without a hosts entry: neither Go nor Node resolves `*.localhost` names by itself.
 */
export function tunnelTarget(authority: string): { host: string; port: number } | undefined {
  const m = /^([a-z0-9.-]+):(\d{1,5})$/i.exec(authority);
  if (!m) return undefined;
  const host = m[1]!.toLowerCase();
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  if (host !== "localhost" && !host.endsWith(".localhost")) return undefined;
  if (host.split(".").some((label) => label === "")) return undefined;
  return { host: "127.0.0.1", port };
}

/** Faults injected into tunnels to one port (the emulator's), switched by `PUT /fault` and `PUT /throttle` on a loopback listener. */
export interface FaultMode {
  port: number;
  responder: AzureFaultResponder;
  throttles: Throttles;
}

/** An HTTP proxy that only speaks CONNECT (plus GET /healthz for readiness checks, and PUT /fault and /throttle from loopback when `faults` is given). */
export function createConnectProxy(log: (line: string) => void, faults?: FaultMode): http.Server {
  // Open tunnels to the fault port: a fault that starts ends them, so clients reconnect into it.
  const tunnels = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    if (req.method === "GET" && req.url === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      return;
    }
    // Only the host's loopback may switch faults (pods reach this proxy on the bridge address).
    const switches: Record<string, (body: string) => unknown> = faults
      ? {
          "/throttle": (body) => {
            const t = parseThrottle(body);
            const { sent, changed } = faults.throttles.set(t);
            // Callers poll with the same rate to see the upload go: only changes are worth a line.
            if (changed) log(`throttle uploads from ${t.from} to port ${faults.port}: ${t.bytesPerSecond === 0 ? "lifted" : `${t.bytesPerSecond} B/s`} (${sent} B sent so far)`);
            return { ...t, sent };
          },
          "/fault": (body) => {
            faults.responder.fault = parseFault(body);
            if (faults.responder.fault) for (const t of tunnels) t.destroy();
            log(`fault on port ${faults.port}: ${JSON.stringify(faults.responder.fault ?? "none")} (${faults.responder.answered} answered so far)`);
            return { fault: faults.responder.fault ?? null, answered: faults.responder.answered };
          },
        }
      : {};
    const apply = req.method === "PUT" && req.socket.localAddress === "127.0.0.1" ? switches[req.url ?? ""] : undefined;
    if (apply) {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        try {
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(apply(body)));
        } catch (err) {
          res.writeHead(400, { "content-type": "text/plain" }).end(`${(err as Error).message}\n`);
        }
      });
      return;
    }
    log(`refused ${req.method} ${req.url}: only CONNECT is supported`);
    res.writeHead(405, { "content-type": "text/plain" }).end("this proxy only tunnels CONNECT to *.localhost\n");
  });
  server.on("connect", (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const authority = req.url ?? "";
    const target = tunnelTarget(authority);
    if (!target) {
      log(`refused CONNECT ${authority}: only <name>.localhost:<port> is tunnelled`);
      client.end("HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\n\r\nonly *.localhost is tunnelled\n");
      return;
    }
    if (faults?.responder.fault && target.port === faults.port) {
      log(`tunnel ${authority} -> fault ${faults.responder.fault.status}`);
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length > 0) client.unshift(head);
      faults.responder.serve(client);
      return;
    }
    const upstream = net.connect(target.port, target.host);
    if (faults && target.port === faults.port) {
      tunnels.add(client);
      client.once("close", () => tunnels.delete(client));
    }
    upstream.once("connect", () => {
      log(`tunnel ${authority} -> ${target.host}:${target.port}`);
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      // Uploads to the emulator go through their source's pacing (no-op unless throttled).
      if (faults && target.port === faults.port) client.pipe(faults.throttles.stream(plainAddress(client.remoteAddress))).pipe(upstream);
      else client.pipe(upstream);
    });
    upstream.on("error", (err) => {
      log(`CONNECT ${authority}: ${err.message}`);
      if (client.writable && !upstream.readable) client.end("HTTP/1.1 502 Bad Gateway\r\n\r\n");
      else client.destroy();
    });
    client.on("error", () => upstream.destroy());
    client.on("close", () => upstream.destroy());
  });
  server.on("clientError", (_err, socket) => socket.destroy());
  return server;
}
