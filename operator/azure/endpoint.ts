// Where an account's blob service lives. restic always uses https://<account>.blob.<suffix>, so the
// operator does too: a probe that succeeds over another URL would promise what backups cannot do.

export const DEFAULT_ENDPOINT_SUFFIX = "core.windows.net";

export function blobServiceUrl(accountName: string, endpointSuffix: string): string {
  return `https://${accountName}.blob.${endpointSuffix}`;
}

/** Azure storage account names: 3 to 24 lowercase letters and digits. */
export function accountNameProblem(name: string): string | undefined {
  if (!/^[a-z0-9]{3,24}$/.test(name)) return "must be 3 to 24 lowercase letters and digits";
  return undefined;
}

/**
 * An endpoint suffix is a host name, optionally with a port (emulators): "core.windows.net",
 * "core.chinacloudapi.cn", "localhost:10000". Not a URL.
 */
export function endpointSuffixProblem(suffix: string): string | undefined {
  if (/^[a-z]+:\/\//i.test(suffix)) return "must be a host name such as core.windows.net, without https://";
  if (suffix.startsWith(".") || suffix.startsWith("blob.")) return "must not start with \".\" or \"blob.\" (the operator adds \"<account>.blob.\")";
  if (suffix.startsWith("[") || (suffix.match(/:/g)?.length ?? 0) > 1) {
    return `is an IPv6 address; restic and the operator reach https://<account>.blob.<suffix>, which needs a host name: use a name that resolves to the address (a DNS record or hosts entry)`;
  }
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$/i.test(suffix)) {
    return "must be a host name with an optional :port, such as core.windows.net";
  }
  // A host whose last label is a number is an IP address to every URL parser (WHATWG, Go's), and
  // "<account>.blob.127.0.0.1" is then no valid host at all.
  const host = suffix.replace(/:\d+$/, "");
  if (/^(\d+|0x[0-9a-f]*)$/i.test(host.slice(host.lastIndexOf(".") + 1))) {
    return `is an IP address (${host}); restic and the operator reach https://<account>.blob.<suffix>, which needs a host name: use a name that resolves to the address (a DNS record or hosts entry, e.g. localhost:<port> for a local emulator)`;
  }
  const port = /:(\d+)$/.exec(suffix)?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return `has port ${port}, outside 1-65535`;
  return undefined;
}
