import { createServer, type Server } from "node:http";
import { registry } from "./metrics.ts";

export interface HealthChecks {
  /** Liveness: the process can serve; false only when it is wedged. */
  live: () => boolean;
  /** Readiness: caches are synced (leader or standby alike). */
  ready: () => boolean;
}

/** /metrics, /healthz and /readyz on one port, as the chart's probes and ServiceMonitor expect. */
export function startHttpServer(address: string, checks: HealthChecks): Promise<Server> {
  const [host, portText] = splitAddress(address);
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/metrics") {
      registry.metrics().then(
        (body) => {
          res.writeHead(200, { "Content-Type": registry.contentType });
          res.end(body);
        },
        (err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        },
      );
      return;
    }
    const check = path === "/healthz" ? checks.live : path === "/readyz" ? checks.ready : undefined;
    if (!check) {
      res.writeHead(404);
      res.end("not found\n");
      return;
    }
    const ok = check();
    res.writeHead(ok ? 200 : 503, { "Content-Type": "text/plain" });
    res.end(ok ? "ok\n" : "not ready\n");
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(Number(portText), host || undefined, () => resolve(server));
  });
}

function splitAddress(address: string): [string, string] {
  const i = address.lastIndexOf(":");
  return i < 0 ? ["", address] : [address.slice(0, i), address.slice(i + 1)];
}
