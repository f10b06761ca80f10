// The CONNECT proxy as its own process: `node connect-proxy-main.ts --port <port> [--host <address>]…`
// (default 127.0.0.1). The local cluster listens on loopback for the host and on the bridge address for pods.
import { readFileSync } from "node:fs";
import type http from "node:http";
import { parseArgs } from "node:util";
import { AzureFaultResponder } from "./azure-faults.ts";
import { Throttles } from "./throttle.ts";
import { createConnectProxy, type FaultMode } from "./connect-proxy.ts";

// --fault-port with --fault-cert/--fault-key: tunnels to that port can be switched to answer 5xx (azure-faults.ts).
const { values } = parseArgs({
  options: {
    port: { type: "string" }, host: { type: "string", multiple: true },
    "fault-port": { type: "string" }, "fault-cert": { type: "string" }, "fault-key": { type: "string" },
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port <= 0) {
  console.error("usage: connect-proxy-main.ts --port <port> [--host <address>]...");
  process.exit(2);
}
const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);
const faults: FaultMode | undefined = values["fault-port"] && values["fault-cert"] && values["fault-key"]
  ? { port: Number(values["fault-port"]), responder: new AzureFaultResponder({ cert: readFileSync(values["fault-cert"]), key: readFileSync(values["fault-key"]) }), throttles: new Throttles() }
  : undefined;
const servers: http.Server[] = [];
for (const host of values.host ?? ["127.0.0.1"]) {
  const server = createConnectProxy(log, faults);
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
