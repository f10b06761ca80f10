// `node tree-cli.ts write DIR` writes the sample tree; `node tree-cli.ts describe DIR` prints the
// tree as JSON on one line. What kind pods run against their volumes (e2e/kind/run.ts mounts these
// files from a ConfigMap), so the kind flow checks a restore exactly as the local demo does.
import { writeSampleTree } from "./sample.ts";
import { describeTree } from "./tree.ts";

const [command, dir] = process.argv.slice(2);
if (command === "write" && dir) {
  console.log(`wrote ${writeSampleTree(dir)} entries into ${dir}`);
} else if (command === "describe" && dir) {
  console.log(JSON.stringify(describeTree(dir)));
} else {
  console.error("usage: node tree-cli.ts write|describe DIR");
  process.exitCode = 2;
}
