// Azure answering with errors for a while, as its front ends do under load or in an incident: 503
// Server Busy with Retry-After, or 500 Internal Error. A mode of the CONNECT proxy (connect-proxy.ts):
// while a fault is on, tunnels to the emulator's port are ended and new ones are answered by this
// responder, which terminates TLS with the emulator's own certificate (the clients trust it and see
// the host name they asked for) and answers every request with the fault, in Azure's XML error shape.
// Nothing is forwarded meanwhile; when the fault is cleared, new tunnels go to the emulator again.

import https from "node:https";
import type net from "node:net";

export interface AzureFault {
  /** 500 or 503. */
  status: number;
  /** Seconds, sent as Retry-After (Azure sends it with 503 Server Busy). */
  retryAfter?: number;
}

/** Parses the control request's body: `{}` clears the fault. Throws on anything else than a 5xx with an optional whole Retry-After. */
export function parseFault(body: string): AzureFault | undefined {
  const v = JSON.parse(body || "{}") as Partial<AzureFault>;
  if (v.status === undefined) return undefined;
  if (!Number.isInteger(v.status) || v.status < 500 || v.status > 599) throw new Error(`status must be a 5xx, not ${String(v.status)}`);
  if (v.retryAfter !== undefined && (!Number.isInteger(v.retryAfter) || v.retryAfter < 0)) throw new Error(`retryAfter must be whole seconds, not ${String(v.retryAfter)}`);
  return { status: v.status, ...(v.retryAfter !== undefined ? { retryAfter: v.retryAfter } : {}) };
}

const ERROR_CODES: Record<number, [string, string]> = {
  500: ["InternalError", "The server encountered an internal error. Please retry the request."],
  503: ["ServerBusy", "The server is currently unable to receive requests. Please retry your request."],
};

export class AzureFaultResponder {
  fault: AzureFault | undefined;
  /** Requests answered with a fault since the proxy started. */
  answered = 0;
  private readonly server: https.Server;

  constructor(tls: { cert: Buffer | string; key: Buffer | string }) {
    this.server = https.createServer({ ...tls }, (req, res) => {
      const f = this.fault ?? { status: 503, retryAfter: 1 };
      this.answered++;
      const [code, message] = ERROR_CODES[f.status] ?? ["InternalError", "fault"];
      const body = `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}\nTime:${new Date().toISOString()}</Message></Error>`;
      req.resume();
      res.writeHead(f.status, {
        "content-type": "application/xml",
        "x-ms-error-code": code,
        ...(f.retryAfter !== undefined ? { "retry-after": String(f.retryAfter) } : {}),
      });
      res.end(body);
    });
    this.server.on("tlsClientError", () => undefined);
  }

  /** Takes over a tunnel's client side (after the proxy's "200 Connection Established"). */
  serve(client: net.Socket): void {
    this.server.emit("connection", client);
  }
}
