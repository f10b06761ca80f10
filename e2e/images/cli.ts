// node e2e/images/cli.ts build [pause|toolbox|blobstash|all]
// Builds (or finds in the cache) each image's OCI archive and prints `<reference> <archive>` per
// image on stdout; progress goes to stderr.
import { ensureImage, IMAGE_NAMES, type ImageName } from "./images.ts";

const USAGE = `usage: node e2e/images/cli.ts build [${IMAGE_NAMES.join("|")}|all]...`;

async function main(argv: string[]): Promise<number> {
  const [command, ...names] = argv;
  if (command !== "build") {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const wanted = names.length === 0 || names.includes("all") ? IMAGE_NAMES : names;
  const unknown = wanted.filter((n) => !(IMAGE_NAMES as string[]).includes(n));
  if (unknown.length > 0) {
    process.stderr.write(`unknown image ${unknown.join(", ")}\n${USAGE}\n`);
    return 2;
  }
  for (const name of wanted as ImageName[]) {
    const image = await ensureImage(name);
    process.stdout.write(`${image.ref} ${image.archive}\n`);
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`images: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
