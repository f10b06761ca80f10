// localhost/blobstash:<key12> (and :dev): the project's image, the same recipe as the Dockerfile
// (a unit test holds them together: dockerfile.test.ts) assembled from what this machine has: the
// pinned Node 24 binary with its shared libraries, static restic, the operator compiled by tsc, the
// production node_modules from `npm ci --omit=dev`, CA certificates, the non-root user. bin/blobstash
// is a bash script, so bash, env (its #! line) and readlink (to resolve the /usr/local/bin link)
// come along; nothing else of a distribution does.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, rename, rm } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { repoRoot, tool } from "../../cluster/tools.ts";
import { contentKey, imagesDir, pruneCache, touch, type KeyInput } from "../cache.ts";
import type { ImageConfig } from "../oci.ts";
import type { Log, Recipe } from "../recipe.ts";
import { accountFiles, directoryTree, imagePathOf, mergedUsrLinks, onPath, programWithLibraries, requireStatic, sharedLibraries, TMP, uniqueEntries } from "../rootfs.ts";
import type { TarEntry } from "../tar.ts";

const run = promisify(execFile);

export const BLOBSTASH_REPOSITORY = "localhost/blobstash";

/** Where things are in the image; the Dockerfile puts them at the same paths. */
export const BLOBSTASH_PATHS = {
  app: "/app",
  dist: "/app/dist",
  nodeModules: "/app/node_modules",
  packageJson: "/app/package.json",
  script: "/app/bin/blobstash",
  blobstash: "/usr/local/bin/blobstash",
  restic: "/usr/local/bin/restic",
  node: "/usr/local/bin/node",
  caCertificates: "/etc/ssl/certs/ca-certificates.crt",
} as const;

export const NONROOT_UID = 65532;

export const BLOBSTASH_CONFIG: ImageConfig = {
  user: `${NONROOT_UID}:${NONROOT_UID}`,
  entrypoint: ["blobstash"],
  cmd: ["operator"],
  env: { NODE_ENV: "production", HOME: "/tmp", PATH: "/usr/local/bin:/usr/bin:/bin" },
  workingDir: BLOBSTASH_PATHS.app,
};

const CA_CERTIFICATES = "/etc/ssl/certs/ca-certificates.crt";
const SOURCE_FILES = ["package.json", "package-lock.json", "tsconfig.json", "tsconfig.build.json", "bin/blobstash"];

/** Host programs the runtime layer takes, and where they go. */
function runtimePrograms(): { host: string; image: string }[] {
  const bash = onPath("bash");
  const readlink = onPath("readlink");
  return [
    { host: tool("node"), image: BLOBSTASH_PATHS.node },
    { host: bash, image: imagePathOf(bash) },
    // The kernel runs bin/blobstash's `#!/usr/bin/env bash` from exactly this path.
    { host: "/usr/bin/env", image: "/usr/bin/env" },
    { host: readlink, image: imagePathOf(readlink) },
  ];
}

export const blobstash: Recipe = {
  name: "blobstash",
  module: import.meta.url,
  refs: (key) => [`${BLOBSTASH_REPOSITORY}:${key.slice(0, 12)}`, `${BLOBSTASH_REPOSITORY}:dev`],
  async plan() {
    const restic = tool("restic");
    await requireStatic(restic, "the image carries no libraries for it");
    if (!existsSync(CA_CERTIFICATES)) throw new Error(`${CA_CERTIFICATES} is missing: install Debian's ca-certificates (make tools does)`);
    const programs = runtimePrograms();
    const libraries = [...new Set((await Promise.all(programs.map((p) => sharedLibraries(p.host)))).flat())].sort();
    const npmVersion = (await run("npm", ["--version"], { encoding: "utf8" })).stdout.trim();
    const inputs: KeyInput[] = [
      { name: "operator", dir: path.join(repoRoot, "operator"), include: (rel) => !rel.endsWith(".test.ts") },
      ...SOURCE_FILES.map((f) => ({ name: f, file: path.join(repoRoot, f) })),
      ...programs.map((p) => ({ name: p.image, file: p.host })),
      ...libraries.map((lib) => ({ name: imagePathOf(lib), file: lib })),
      { name: "restic", file: restic },
      { name: "ca-certificates", file: CA_CERTIFICATES },
      { name: "npm", text: npmVersion },
    ];
    return {
      inputs,
      async build(work, log) {
        const [nodeModules, dist] = await Promise.all([productionNodeModules(npmVersion, log), compileOperator(work, log)]);
        const runtime: TarEntry[] = uniqueEntries([
          ...mergedUsrLinks(),
          ...(await Promise.all(programs.map((p) => programWithLibraries(p.host, p.image)))).flat(),
          { type: "file", path: BLOBSTASH_PATHS.caCertificates, content: CA_CERTIFICATES },
          ...accountFiles([
            { name: "root", uid: 0, home: "/root", shell: "/usr/sbin/nologin" },
            { name: "nonroot", uid: NONROOT_UID, home: "/tmp", shell: "/usr/sbin/nologin" },
            { name: "nobody", uid: 65534, home: "/nonexistent", shell: "/usr/sbin/nologin" },
          ]),
          TMP,
        ]);
        const app: TarEntry[] = [
          { type: "file", path: BLOBSTASH_PATHS.packageJson, content: path.join(repoRoot, "package.json") },
          ...(await directoryTree(dist, BLOBSTASH_PATHS.dist)),
          { type: "file", path: BLOBSTASH_PATHS.script, content: path.join(repoRoot, "bin/blobstash"), mode: 0o755 },
          { type: "symlink", path: BLOBSTASH_PATHS.blobstash, target: BLOBSTASH_PATHS.script },
        ];
        return {
          config: BLOBSTASH_CONFIG,
          // Apart, so a code change makes a new top layer only: containerd keeps the others.
          layers: [
            runtime,
            [{ type: "file", path: BLOBSTASH_PATHS.restic, content: restic, mode: 0o755 }],
            await directoryTree(nodeModules, BLOBSTASH_PATHS.nodeModules),
            app,
          ],
        };
      },
    };
  },
};

/** The operator compiled as `npm run build` does, into the scratch directory instead of the checkout's dist/. */
async function compileOperator(work: string, log: Log): Promise<string> {
  const out = path.join(work, "dist");
  log("compiling the operator (tsc -p tsconfig.build.json)");
  const tsc = path.join(repoRoot, "node_modules/typescript/bin/tsc");
  await run(process.execPath, [tsc, "-p", "tsconfig.build.json", "--outDir", out], { cwd: repoRoot, encoding: "utf8" }).catch((err: { stdout?: string }) => {
    throw new Error(`tsc failed:\n${err.stdout ?? String(err)}`);
  });
  return out;
}

/**
 * `npm ci --omit=dev` in a copy of package.json and package-lock.json, as the Dockerfile's build
 * stage ends up with, from npm's cache where it can. Kept beside the image archives and keyed by the
 * two files and npm's version, so a code change does not install them again.
 */
async function productionNodeModules(npmVersion: string, log: Log): Promise<string> {
  const files = ["package.json", "package-lock.json"];
  const key = await contentKey([...files.map((f) => ({ name: f, file: path.join(repoRoot, f) })), { name: "npm", text: npmVersion }]);
  const dir = path.join(imagesDir(), `node_modules-${key}`);
  const nodeModules = path.join(dir, "node_modules");
  if (existsSync(nodeModules)) {
    await touch(dir);
    return nodeModules;
  }
  log("installing the production node_modules (npm ci --omit=dev)");
  await mkdir(imagesDir(), { recursive: true });
  const tmp = await mkdtemp(`${dir}.tmp-`);
  try {
    for (const f of files) await copyFile(path.join(repoRoot, f), path.join(tmp, f));
    await run("npm", ["ci", "--omit=dev", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: tmp, encoding: "utf8" }).catch(
      (err: { stderr?: string }) => {
        throw new Error(`npm ci --omit=dev failed:\n${err.stderr ?? String(err)}`);
      },
    );
    await rename(tmp, dir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    if (existsSync(nodeModules)) return nodeModules; // another build got there first
    throw err;
  }
  await pruneCache(imagesDir(), /^node_modules-[0-9a-f]{64}$/, 2);
  return nodeModules;
}
