// localhost/pause:<Kubernetes version>: the sandbox image, the static `pause` program that
// e2e/tools/install.sh compiles from the pinned Kubernetes module's build/pause/linux/pause.c.
import { tool } from "../../cluster/tools.ts";
import { pinnedVersion, type Recipe } from "../recipe.ts";
import { requireStatic } from "../rootfs.ts";

export function pauseRef(): string {
  return `localhost/pause:${pinnedVersion("KUBERNETES_VERSION")}`;
}

export const pause: Recipe = {
  name: "pause",
  module: import.meta.url,
  refs: () => [pauseRef()],
  async plan() {
    const program = tool("pause");
    await requireStatic(program, "the pause image has no libraries");
    return {
      inputs: [{ name: "pause", file: program }],
      build: () =>
        Promise.resolve({
          config: { user: "65535:65535", entrypoint: ["/pause"], env: {} },
          layers: [[{ type: "file", path: "pause", content: program, mode: 0o755 }]],
        }),
    };
  },
};
