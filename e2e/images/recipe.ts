// What every image recipe (e2e/images/recipes/*.ts) provides: its references, what it is made of
// (hashed into its key) and how to build it from that.
import { readFileSync } from "node:fs";
import path from "node:path";
import { repoRoot } from "../cluster/tools.ts";
import type { KeyInput } from "./cache.ts";
import type { ImageSpec } from "./oci.ts";

export type Log = (line: string) => void;

export interface Plan {
  /** Everything the image is made of; the key hashes these and nothing else. */
  inputs: KeyInput[];
  /** Builds the image from those inputs; `work` is a scratch directory, removed afterwards. */
  build(work: string, log: Log): Promise<Omit<ImageSpec, "refs">>;
}

export interface Recipe {
  name: string;
  /** The recipe's module (import.meta.url): its source is part of the key, like the writer's. */
  module: string;
  /** The references the archive names the image by; the first is the one to use. */
  refs(key: string): string[];
  /** Finds what the image is made of on this machine; fails saying what to install when it is missing. */
  plan(): Promise<Plan>;
}

/** The pinned versions in e2e/tools/versions.env (the tool cache is keyed by them). */
export function pinnedVersions(): Record<string, string> {
  const text = readFileSync(path.join(repoRoot, "e2e/tools/versions.env"), "utf8");
  return Object.fromEntries([...text.matchAll(/^([A-Z_]+)=(\S+)\s*$/gm)].map((m) => [m[1]!, m[2]!]));
}

export function pinnedVersion(name: string): string {
  const v = pinnedVersions()[name];
  if (!v) throw new Error(`e2e/tools/versions.env has no ${name}`);
  return v;
}
