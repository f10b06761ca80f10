// The images the local cluster's nodes run, built on this machine as OCI archives (no Docker, no
// registry) and imported into a containerd with `ctr images import`. Each archive is cached as
// <cache>/images/<name>-<key>.tar, the key a hash of what the image is made of, so it is rebuilt
// only when that changes.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { contentKey, imagesDir, pruneCache, touch } from "./cache.ts";
import { indexRefs, readIndex, writeOciArchive } from "./oci.ts";
import type { Log, Recipe } from "./recipe.ts";
import { blobstash } from "./recipes/blobstash.ts";
import { pause } from "./recipes/pause.ts";
import { toolbox } from "./recipes/toolbox.ts";

export const RECIPES = { pause, toolbox, blobstash } satisfies Record<string, Recipe>;
export type ImageName = keyof typeof RECIPES;
export const IMAGE_NAMES = Object.keys(RECIPES) as ImageName[];

export interface Image {
  name: ImageName;
  /** The reference to run it by (for blobstash, the one tagged with the key). */
  ref: string;
  /** Every reference the archive names it by (blobstash: `:<key12>` and `:dev`). */
  refs: string[];
  /** The OCI archive to import. */
  archive: string;
  /** sha256 (hex) of what the image is made of. */
  key: string;
  /** False when the archive came from the cache. */
  built: boolean;
}

/** The modules whose code decides an archive's bytes: a change to them is a new image. */
const WRITER_MODULES = ["tar.ts", "oci.ts", "rootfs.ts"].map((f) => path.join(import.meta.dirname, f));

const defaultLog: Log = (line) => process.stderr.write(`[images] ${line}\n`);

const inFlight = new Map<ImageName, Promise<Image>>();

/**
 * The image's archive, built unless the cache holds one for its current key. Fails saying what to
 * install when an input is missing (tools not built yet, busybox-static absent).
 */
export function ensureImage(name: ImageName, options: { log?: Log } = {}): Promise<Image> {
  let pending = inFlight.get(name);
  if (!pending) {
    pending = build(name, options.log ?? defaultLog).finally(() => inFlight.delete(name));
    inFlight.set(name, pending);
  }
  return pending;
}

async function build(name: ImageName, log: Log): Promise<Image> {
  const recipe: Recipe = RECIPES[name];
  const plan = await recipe.plan();
  const key = await contentKey([
    ...[...WRITER_MODULES, fileURLToPath(recipe.module)].map((file) => ({ name: `recipe ${path.basename(file)}`, file })),
    ...plan.inputs,
  ]);
  const refs = recipe.refs(key);
  const archive = path.join(imagesDir(), `${name}-${key}.tar`);
  const image = { name, ref: refs[0]!, refs, archive, key };
  if (existsSync(archive)) {
    await touch(archive);
    return { ...image, built: false };
  }
  const started = Date.now();
  log(`${name}: building ${refs.join(", ")}`);
  await mkdir(imagesDir(), { recursive: true });
  const work = await mkdtemp(path.join(os.tmpdir(), `blobstash-image-${name}-`));
  try {
    const spec = await plan.build(work, (line) => log(`${name}: ${line}`));
    await writeOciArchive(archive, { refs, ...spec });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const mb = ((await stat(archive)).size / 1e6).toFixed(1);
  log(`${name}: ${archive} (${mb} MB) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await pruneCache(imagesDir(), new RegExp(`^${name}-[0-9a-f]{64}\\.tar$`), 3);
  return { ...image, built: true };
}

export interface ImportOptions {
  /** The ctr binary (containerd's client, built with it by make tools). */
  ctr: string;
  /** containerd's gRPC socket. */
  address: string;
  archive: string;
  /** containerd namespace; the CRI plugin (kubelet) sees images in `k8s.io`. */
  namespace?: string;
  /** Unpack for this snapshotter instead of containerd's default. */
  snapshotter?: string;
}

/**
 * Imports an archive into a containerd and unpacks it, naming the image by the references the
 * archive carries. Idempotent: when every reference already names the archive's manifest, nothing
 * is read (an import of the blobstash archive takes seconds even when all is there). Returns
 * whether it imported.
 */
export async function importImage(o: ImportOptions): Promise<boolean> {
  const ctr = (args: string[]) =>
    promisify(execFile)(o.ctr, ["--address", o.address, "--namespace", o.namespace ?? "k8s.io", ...args], { encoding: "utf8" });
  const wanted = indexRefs(await readIndex(o.archive));
  const present = new Map(
    (await ctr(["images", "ls"])).stdout
      .split("\n")
      .slice(1)
      .map((line) => line.split(/\s+/))
      .map(([ref, , digest]) => [ref, digest] as const),
  );
  if ([...wanted].every(([ref, digest]) => present.get(ref) === digest)) return false;
  const args = ["images", "import"];
  if (o.snapshotter) args.push("--snapshotter", o.snapshotter);
  args.push(o.archive);
  try {
    await ctr(args);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`ctr images import ${o.archive} into ${o.address} failed: ${(e.stderr || e.message).trim()}`);
  }
  return true;
}
