// Preloaded into the Azurite process (`node --import azurite-compat.ts .../azurite/.../main.js`) to
// make the emulator answer like Azure where Azurite 3.x differs in ways that matter to blobstash. Each
// patch is narrow and fails loudly if an Azurite upgrade moves what it patches.
//
// 1. restic ≥ 0.18 (Azure SDK for Go) sends an empty `x-ms-access-tier:` header on every upload when no
//    tier is configured, meaning "the account's default tier". Azure accepts that; Azurite rejects it
//    with 400 InvalidHeaderValue (rclone and azcopy hit the same, see rclone PR #6914), so every
//    `restic init` against the emulator would retry forever. An empty tier is treated as no tier.
// 2. A SharedKey request with a wrong key: Azure answers 403 AuthenticationFailed. Azurite with
//    `--oauth basic` hands the failed request on to its bearer-token check, which answers
//    400 InvalidAuthenticationInfo, as if the header were malformed. The SharedKey case gets Azure's answer.
// 4. An error answer to a HEAD request (e.g. 404 for a blob that does not exist): Azure sends a
//    Content-Length; Azurite sends neither Content-Length nor Transfer-Encoding, which tells an
//    HTTP/1.1 client the message ends with the connection, so Node's client closes every such
//    connection instead of keeping it alive (one new TLS connection per "does config exist?" check).
//    A HEAD answer without a length gets `Content-Length: 0`.
import http from "node:http";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);
const blobDir = path.join(path.dirname(require.resolve("azurite/package.json")), "dist/src/blob");
type Method = (this: unknown, ...args: unknown[]) => unknown;
type Prototype = Record<string, unknown>;

function prototypeOf(file: string): Prototype {
  return (require(path.join(blobDir, file)) as { default: { prototype: Prototype } }).default.prototype;
}

function wrap(proto: Prototype, method: string, wrapper: (original: Method) => Method): void {
  const original = proto[method];
  if (typeof original !== "function") throw new Error(`azurite-compat: ${method} not found in Azurite; it changed, revisit this shim`);
  proto[method] = wrapper(original as Method);
}

// 1. upload(body, contentLength, options, context), commitBlockList(blocks, options, context)
const blockBlob = prototypeOf("handlers/BlockBlobHandler.js");
for (const [method, optionsIndex] of [["upload", 2], ["commitBlockList", 1]] as const) {
  wrap(blockBlob, method, (original) => function (this: unknown, ...args: unknown[]) {
    const options = args[optionsIndex] as { tier?: string } | undefined;
    if (options?.tier === "") args[optionsIndex] = { ...options, tier: undefined };
    return original.apply(this, args);
  });
}

// 2. The token authenticator runs last, so a SharedKey header reaching it has already failed verification.
const errors = (require(path.join(blobDir, "errors/StorageErrorFactory.js")) as {
  default: { getAuthenticationFailed(contextId: string, detail: string): Error };
}).default;
wrap(prototypeOf("authentication/BlobTokenAuthenticator.js"), "validate", (original) => function (this: unknown, ...args: unknown[]) {
  const [req, context] = args as [{ getHeader(name: string): string | undefined }, { contextId?: string }];
  if (/^SharedKey(Lite)? /.test(req.getHeader("authorization") ?? "")) {
    return Promise.reject(errors.getAuthenticationFailed(context.contextId ?? "", "The MAC signature found in the HTTP request is not the same as any computed signature."));
  }
  return original.apply(this, args);
});

// 3. Get Container Properties with a service (container) SAS: Azure answers 403 AuthorizationFailure,
//    which restic's `init` expects and ignores (restic issue #4004); Azurite answers 403
//    AuthorizationPermissionMismatch, which restic treats as fatal, so no restic repository could be
//    created with the container SAS every Job gets. The container operation gets Azure's answer.
const operations = (require(path.join(blobDir, "generated/artifacts/operation.js")) as { default: Record<string, number> }).default;
const containerProperties = new Set([operations.Container_GetProperties, operations.Container_GetPropertiesWithHead]);
const authorizationFailure = (errors as unknown as { getAuthorizationFailure(contextId: string): Error }).getAuthorizationFailure;
wrap(prototypeOf("authentication/BlobSASAuthenticator.js"), "validate", (original) => async function (this: unknown, ...args: unknown[]) {
  const context = args[1] as { operation?: number; contextId?: string };
  try {
    return await original.apply(this, args);
  } catch (err) {
    const code = (err as { headers?: Record<string, string> }).headers?.["x-ms-error-code"];
    if (code === "AuthorizationPermissionMismatch" && containerProperties.has(context.operation ?? -1)) throw authorizationFailure(context.contextId ?? "");
    throw err;
  }
});

// 4. writeHead is where explicit and implicit (res.end() without writeHead) headers are sent.
const writeHead = http.ServerResponse.prototype.writeHead as unknown as Method;
http.ServerResponse.prototype.writeHead = function (this: http.ServerResponse, ...args: unknown[]) {
  const passed = args.find((a): a is Record<string, unknown> => !!a && typeof a === "object" && !Array.isArray(a));
  const has = (name: string) => this.hasHeader(name) || Object.keys(passed ?? {}).some((k) => k.toLowerCase() === name);
  if (this.req?.method === "HEAD" && !has("content-length") && !has("transfer-encoding")) this.setHeader("content-length", "0");
  return writeHead.apply(this, args);
} as typeof http.ServerResponse.prototype.writeHead;
