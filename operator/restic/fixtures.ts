// Test helpers: the captured restic output in testdata/ (see testdata/capture.sh), and where the
// pinned restic lives for tests that run it.

import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";

const TESTDATA = new URL("./testdata/", import.meta.url);

export function fixture(name: string): string {
  return readFileSync(new URL(name, TESTDATA), "utf8");
}

export function fixtureLines(name: string): string[] {
  return fixture(name).split("\n").filter((l) => l.trim() !== "");
}

/** BLOBSTASH_RESTIC, else restic on PATH, else the pinned build in the tool cache (e2e/tools). */
export function resticBinary(): string {
  if (process.env.BLOBSTASH_RESTIC) return process.env.BLOBSTASH_RESTIC;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir && existsSync(join(dir, "restic"))) return join(dir, "restic");
  }
  const versions = readFileSync(new URL("../../e2e/tools/versions.env", import.meta.url), "utf8");
  const version = /^RESTIC_VERSION=(\S+)/m.exec(versions)?.[1];
  const cached = join(homedir(), ".cache", "blobstash", "tools", `restic-${version}`, "bin", "restic");
  if (!existsSync(cached)) throw new Error(`no restic found: run "make tools" (looked for ${cached})`);
  return cached;
}
