import assert from "node:assert/strict";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { createConnectProxy, tunnelTarget } from "./connect-proxy.ts";

describe("connect-proxy: tunnelTarget", function () {
  it("sends <name>.localhost:<port> and localhost:<port> to 127.0.0.1:<port>", function () {
    assert.deepEqual(tunnelTarget("devstoreaccount1.blob.localhost:10000"), { host: "127.0.0.1", port: 10000 });
    assert.deepEqual(tunnelTarget("DevStoreAccount1.Blob.LOCALHOST:443"), { host: "127.0.0.1", port: 443 });
    assert.deepEqual(tunnelTarget("localhost:8443"), { host: "127.0.0.1", port: 8443 });
  });

  it("refuses every other host, and malformed authorities", function () {
    for (const authority of [
      "devstoreaccount1.blob.core.windows.net:443", "localhost.evil.com:443", "notlocalhost:80", "127.0.0.1:443",
      "a..localhost:1", "x.localhost", "x.localhost:0", "x.localhost:65536", "x.localhost:-1", ":443", "[::1]:443",
    ]) {
      assert.equal(tunnelTarget(authority), undefined, authority);
    }
  });
});

/** Sends a CONNECT and returns the proxy's status line, then whatever the tunnel echoes back for "ping". */
function connectThrough(proxyPort: number, authority: string): Promise<{ status: string; echoed?: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(proxyPort, "127.0.0.1", () => socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`));
    let buffer = "";
    let status: string | undefined;
    socket.on("data", (chunk) => {
      buffer += chunk.toString();
      if (status === undefined && buffer.includes("\r\n\r\n")) {
        status = buffer.split("\r\n")[0]!;
        buffer = buffer.slice(buffer.indexOf("\r\n\r\n") + 4);
        if (status.includes(" 200 ")) socket.write("ping");
        else resolve({ status });
      }
      if (status?.includes(" 200 ") && buffer.length >= 4) {
        resolve({ status, echoed: buffer });
        socket.destroy();
      }
    });
    socket.on("error", reject);
  });
}

describe("connect-proxy: server", function () {
  let proxy: ReturnType<typeof createConnectProxy>;
  let echo: net.Server;
  let proxyPort: number;
  let echoPort: number;
  const logged: string[] = [];

  before(async function () {
    echo = net.createServer((s) => s.pipe(s));
    proxy = createConnectProxy((l) => logged.push(l));
    await Promise.all([
      new Promise<void>((r) => echo.listen(0, "127.0.0.1", r)),
      new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r)),
    ]);
    echoPort = (echo.address() as AddressInfo).port;
    proxyPort = (proxy.address() as AddressInfo).port;
  });

  after(function () {
    proxy.closeAllConnections();
    proxy.close();
    echo.close();
  });

  it("tunnels a *.localhost CONNECT to the loopback port", async function () {
    const res = await connectThrough(proxyPort, `devstoreaccount1.blob.localhost:${echoPort}`);
    assert.match(res.status, / 200 /);
    assert.equal(res.echoed, "ping");
    assert.ok(logged.includes(`tunnel devstoreaccount1.blob.localhost:${echoPort} -> 127.0.0.1:${echoPort}`), logged.join("\n"));
  });

  it("answers 403 for any other host and says why in its log", async function () {
    const res = await connectThrough(proxyPort, "example.com:443");
    assert.match(res.status, / 403 /);
    assert.ok(logged.some((l) => l.includes("refused CONNECT example.com:443")), logged.join("\n"));
  });

  it("answers 502 when nothing listens on the target port", async function () {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const res = await connectThrough(proxyPort, `x.localhost:${port}`);
    assert.match(res.status, / 502 /);
  });
});
