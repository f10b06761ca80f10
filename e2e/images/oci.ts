// Writes an OCI image layout as one tar archive (oci-layout, index.json, blobs/sha256/<digest>), the
// form `ctr images import` takes, with no Docker and no registry. Layers are uncompressed tars (a
// local import gains nothing from compressing them); equal inputs give equal digests.
import { open, rename, rm, type FileHandle } from "node:fs/promises";
import { HashSink, tarArchive, teeSink, writeEnd, writeEntry, type Sink, type TarEntry } from "./tar.ts";

export const MEDIA_TYPES = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: "application/vnd.oci.image.layer.v1.tar",
} as const;

/** The part of an OCI image config a recipe chooses (the runtime half of a Dockerfile). */
export interface ImageConfig {
  user: string;
  entrypoint?: string[];
  cmd?: string[];
  env: Record<string, string>;
  workingDir?: string;
  labels?: Record<string, string>;
}

export interface ImageSpec {
  /** Full references, e.g. `localhost/toolbox:latest`; the import names the image after each. */
  refs: string[];
  config: ImageConfig;
  /** Bottom layer first. */
  layers: TarEntry[][];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string };
  annotations?: Record<string, string>;
}

export interface WrittenImage {
  manifest: Descriptor;
  config: Descriptor;
  layers: Descriptor[];
}

const PLATFORM = { architecture: "amd64", os: "linux" };

function jsonBlob(value: unknown): { bytes: Buffer; digest: string } {
  const bytes = Buffer.from(JSON.stringify(value));
  const h = new HashSink();
  void h.write(bytes);
  return { bytes, digest: h.digest() };
}

/** The OCI config document: what the runtime reads (user, entrypoint, env, ...) and the layers' diff ids. */
export function configDocument(config: ImageConfig, diffIds: string[]): object {
  return {
    architecture: PLATFORM.architecture,
    os: PLATFORM.os,
    config: {
      User: config.user,
      Env: Object.entries(config.env).map(([k, v]) => `${k}=${v}`),
      ...(config.entrypoint ? { Entrypoint: config.entrypoint } : {}),
      ...(config.cmd ? { Cmd: config.cmd } : {}),
      ...(config.workingDir ? { WorkingDir: config.workingDir } : {}),
      ...(config.labels ? { Labels: config.labels } : {}),
    },
    rootfs: { type: "layers", diff_ids: diffIds },
  };
}

/**
 * Writes the image as an OCI layout tar at `file` (through a temporary name, so a reader never sees
 * half an archive). The index lists the manifest once per reference, each with the platform (the
 * import filters out manifests without one) and the reference in both annotations containerd reads.
 */
export async function writeOciArchive(file: string, spec: ImageSpec): Promise<WrittenImage> {
  if (spec.refs.length === 0) throw new Error("an image needs at least one reference");
  const layers = await Promise.all(spec.layers.map((entries) => tarArchive(entries)));
  const layerDescriptors = layers.map((l) => ({ mediaType: MEDIA_TYPES.layer, digest: l.digest, size: l.size }));
  const config = jsonBlob(configDocument(spec.config, layers.map((l) => l.digest)));
  const configDescriptor = { mediaType: MEDIA_TYPES.config, digest: config.digest, size: config.bytes.length };
  const manifest = jsonBlob({ schemaVersion: 2, mediaType: MEDIA_TYPES.manifest, config: configDescriptor, layers: layerDescriptors });
  const manifestDescriptor = { mediaType: MEDIA_TYPES.manifest, digest: manifest.digest, size: manifest.bytes.length };
  const index = jsonBlob({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.index,
    manifests: spec.refs.map((ref) => ({
      ...manifestDescriptor,
      platform: PLATFORM,
      annotations: { "io.containerd.image.name": ref, "org.opencontainers.image.ref.name": ref },
    })),
  });

  const blob = (digest: string) => `blobs/sha256/${digest.slice("sha256:".length)}`;
  const entries: TarEntry[] = [
    { type: "file", path: "oci-layout", content: Buffer.from(JSON.stringify({ imageLayoutVersion: "1.0.0" })) },
    { type: "file", path: "index.json", content: index.bytes },
    { type: "dir", path: "blobs" },
    { type: "dir", path: "blobs/sha256" },
    { type: "file", path: blob(config.digest), content: config.bytes },
    { type: "file", path: blob(manifest.digest), content: manifest.bytes },
  ];
  const seen = new Set([config.digest, manifest.digest]);
  for (const layer of layers) {
    if (seen.has(layer.digest)) continue; // two equal layers are one blob
    seen.add(layer.digest);
    // Written a second time here: check it came out as measured (a source file changed meanwhile).
    const check = new HashSink();
    entries.push({
      type: "file",
      path: blob(layer.digest),
      content: {
        size: layer.size,
        writeTo: async (sink: Sink) => {
          await layer.writeTo(teeSink(check, sink));
          if (check.digest() !== layer.digest) throw new Error("a layer's content changed while the image was written");
        },
      },
    });
  }

  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await open(tmp, "w");
  try {
    const sink = bufferedFileSink(fh);
    for (const e of entries) await writeEntry(sink, e);
    await writeEnd(sink);
    await sink.flush();
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  await rename(tmp, file);
  return { manifest: manifestDescriptor, config: configDescriptor, layers: layerDescriptors };
}

/** Tar headers are 512 bytes: gather writes into 1 MB ones instead of a system call each. */
function bufferedFileSink(fh: FileHandle): Sink & { flush(): Promise<void> } {
  const size = 1 << 20;
  let buf = Buffer.allocUnsafe(size);
  let used = 0;
  const flush = async () => {
    if (used > 0) await fh.write(buf, 0, used);
    buf = Buffer.allocUnsafe(size);
    used = 0;
  };
  return {
    async write(chunk) {
      if (chunk.length >= size) {
        await flush();
        await fh.write(chunk);
        return;
      }
      if (used + chunk.length > size) await flush();
      buf.set(chunk, used);
      used += chunk.length;
    },
    flush,
  };
}

export interface IndexDocument {
  manifests: Descriptor[];
}

/** The index.json of an OCI archive (this writer's puts it first, so this reads a few blocks only). */
export async function readIndex(file: string): Promise<IndexDocument> {
  const fh = await open(file, "r");
  try {
    const header = Buffer.alloc(512);
    for (let offset = 0; ; ) {
      const { bytesRead } = await fh.read(header, 0, 512, offset);
      if (bytesRead < 512 || header.every((b) => b === 0)) break;
      const field = (start: number, width: number) => header.subarray(start, start + width).toString("utf8").replace(/\0.*$/s, "");
      const size = parseInt(field(124, 12).trim() || "0", 8);
      if (field(0, 100).replace(/^\.\//, "") === "index.json") {
        const body = Buffer.alloc(size);
        await fh.read(body, 0, size, offset + 512);
        return JSON.parse(body.toString("utf8")) as IndexDocument;
      }
      offset += 512 + Math.ceil(size / 512) * 512;
    }
  } finally {
    await fh.close();
  }
  throw new Error(`${file} has no index.json: not an OCI image archive`);
}

/** Reference -> manifest digest, as the archive names its images. */
export function indexRefs(index: IndexDocument): Map<string, string> {
  const refs = new Map<string, string>();
  for (const m of index.manifests) {
    const ref = m.annotations?.["io.containerd.image.name"];
    if (ref) refs.set(ref, m.digest);
  }
  return refs;
}
