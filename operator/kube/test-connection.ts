// For tests of the client, informer and leader election against scripted servers.

import http from "node:http";
import type { AddressInfo } from "node:net";
import { KubeClient } from "./api-client.ts";
import type { Authorization, Connection } from "./connection.ts";

/** A Connection with a fixed CA and a bearer token the test may change between calls. */
export function testConnection(server: string, o: { ca?: Buffer; token?: () => string } = {}): Connection {
  const tls = { rejectUnauthorized: true, ...(o.ca ? { ca: o.ca } : {}) };
  return {
    server,
    source: "test",
    notes: [],
    tls: () => tls,
    authorize: async (): Promise<Authorization> => ({ headers: o.token ? { authorization: `Bearer ${o.token()}` } : {} }),
    refused: () => undefined,
  };
}

/** A plain-HTTP stand-in for the API server whose answers the test scripts, and a client for it. */
export async function scriptedApi(answer: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void): Promise<{ kube: KubeClient; close(): void }> {
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => answer(req, res, body));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const kube = new KubeClient(testConnection(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  return {
    kube,
    close() {
      kube.close();
      server.closeAllConnections();
      server.close();
    },
  };
}
