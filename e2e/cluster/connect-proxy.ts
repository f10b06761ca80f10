import http from "node:http";
import net from "node:net";

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

/** An HTTP proxy that only speaks CONNECT (plus GET /healthz for readiness checks). */
export function createConnectProxy(log: (line: string) => void): http.Server {
  const server = http.createServer((req, res) => {
    if (req.method === "GET" && req.url === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
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
    const upstream = net.connect(target.port, target.host);
    upstream.once("connect", () => {
      log(`tunnel ${authority} -> ${target.host}:${target.port}`);
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
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
