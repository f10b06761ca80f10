// The CONNECT proxy as its own process: `node connect-proxy-main.ts --port <port>`.
import { parseArgs } from "node:util";
import { createConnectProxy } from "./connect-proxy.ts";

const { values } = parseArgs({ options: { port: { type: "string" } } });
const port = Number(values.port);
if (!Number.isInteger(port) || port <= 0) {
  console.error("usage: connect-proxy-main.ts --port <port>");
  process.exit(2);
}
const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);
const server = createConnectProxy(log);
server.listen({ host: "127.0.0.1", port }, () => log(`listening on 127.0.0.1:${port}`));
server.on("error", (err) => {
  log(`fatal: ${err.message}`);
  process.exit(1);
});
for (const sig of ["SIGTERM", "SIGINT"] as const) {
  process.once(sig, () => {
    log(`${sig}: closing`);
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
