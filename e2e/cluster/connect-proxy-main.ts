// The CONNECT proxy as its own process: `node connect-proxy-main.ts --port <port> [--host <address>]…`
// (default 127.0.0.1). The local cluster listens on loopback for the host and on the bridge address for pods.
import type http from "node:http";
import { parseArgs } from "node:util";
import { createConnectProxy } from "./connect-proxy.ts";

const { values } = parseArgs({ options: { port: { type: "string" }, host: { type: "string", multiple: true } } });
const port = Number(values.port);
if (!Number.isInteger(port) || port <= 0) {
  console.error("usage: connect-proxy-main.ts --port <port> [--host <address>]...");
  process.exit(2);
}
const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);
const servers: http.Server[] = [];
for (const host of values.host ?? ["127.0.0.1"]) {
  const server = createConnectProxy(log);
  server.listen({ host, port }, () => log(`listening on ${host}:${port}`));
  server.on("error", (err) => {
    log(`fatal: ${host}:${port}: ${err.message}`);
    process.exit(1);
  });
  servers.push(server);
}
for (const sig of ["SIGTERM", "SIGINT"] as const) {
  process.once(sig, () => {
    log(`${sig}: closing`);
    for (const server of servers) {
      server.close();
      server.closeAllConnections();
    }
    process.exit(0);
  });
}
