// Preloaded into the operator (node --import) when BENCH_DIRECT_AZURE=1: resolves *.localhost to
// 127.0.0.1 so the Azure SDK reaches Azurite directly instead of through the local CONNECT proxy
// the test cluster needs for that name. The proxy costs a tunnel and a TLS handshake per request
// (the SDK's proxy agent keeps no connection alive), which production without a proxy never pays;
// running both ways tells the operator's own cost from the proxy's.

import dns from "node:dns";

type Callback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

const lookup = dns.lookup;
const patched = function (hostname: string, options: unknown, callback?: unknown): void {
  const cb = (typeof options === "function" ? options : callback) as Callback;
  const opts = (typeof options === "object" && options !== null ? options : {}) as dns.LookupOptions;
  if (hostname.endsWith(".localhost")) {
    if (opts.all) process.nextTick(cb, null, [{ address: "127.0.0.1", family: 4 }]);
    else process.nextTick(cb, null, "127.0.0.1", 4);
    return;
  }
  (lookup as (h: string, o: unknown, c: unknown) => void).call(dns, hostname, options, callback);
};
(dns as { lookup: unknown }).lookup = patched;
