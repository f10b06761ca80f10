// Preloaded into the Azurite process (`node --import azurite-compat.ts .../azurite/.../main.js`).
//
// restic ≥ 0.18 (Azure SDK for Go) sends an empty `x-ms-access-tier:` header on every upload when no
// tier is configured, meaning "the account's default tier". Azure accepts that; Azurite 3.x rejects it
// with 400 InvalidHeaderValue (rclone and azcopy hit the same, see rclone PR #6914), so without this
// shim every `restic init` against the emulator retries forever. Treating an empty tier as no tier makes
// the emulator behave like the service, instead of making blobstash pass a tier it would not pass in
// production. It patches exactly the two handlers that check the header, and fails loudly if an
// Azurite upgrade moves them.
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);
const handlerFile = path.join(path.dirname(require.resolve("azurite/package.json")), "dist/src/blob/handlers/BlockBlobHandler.js");
const handler = (require(handlerFile) as { default: { prototype: Record<string, unknown> } }).default.prototype;

type Method = (this: unknown, ...args: unknown[]) => unknown;

function emptyTierIsNoTier(method: string, optionsIndex: number): void {
  const original = handler[method];
  if (typeof original !== "function") throw new Error(`azurite-compat: BlockBlobHandler.${method} not found; Azurite changed, revisit this shim`);
  handler[method] = function (this: unknown, ...args: unknown[]) {
    const options = args[optionsIndex] as { tier?: string } | undefined;
    if (options?.tier === "") args[optionsIndex] = { ...options, tier: undefined };
    return (original as Method).apply(this, args);
  };
}

emptyTierIsNoTier("upload", 2); // upload(body, contentLength, options, context)
emptyTierIsNoTier("commitBlockList", 1); // commitBlockList(blocks, options, context)
