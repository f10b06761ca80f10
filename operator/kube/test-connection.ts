// For tests of the client and informer against scripted servers: a Connection with a fixed CA and
// a bearer token the test may change between calls.

import type { Authorization, Connection } from "./connection.ts";

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
