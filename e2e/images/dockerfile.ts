// Reads what the Dockerfile's final stage makes of the image, so a test can hold it and the image
// recipe (recipes/blobstash.ts) to the same user, entrypoint, environment, paths and versions.
import path from "node:path";

export interface Instruction {
  keyword: string;
  args: string;
}

/** The instructions, with line continuations joined and comments dropped. */
export function parseDockerfile(text: string): Instruction[] {
  const joined = text
    .split("\n")
    .filter((l) => !/^\s*#/.test(l))
    .join("\n")
    .replace(/\\\n/g, " ");
  return joined
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "")
    .map((l) => {
      const m = /^(\S+)\s*(.*)$/.exec(l)!;
      return { keyword: m[1]!.toUpperCase(), args: m[2]! };
    });
}

export interface FinalStage {
  /** ARGs declared before the first FROM, with their defaults. */
  globalArgs: Record<string, string>;
  base: string;
  user?: string;
  workdir?: string;
  env: Record<string, string>;
  entrypoint?: string[];
  cmd?: string[];
  /** Absolute destinations of COPY, resolved against WORKDIR. */
  copied: string[];
  /** `ln -s TARGET LINK` in RUN lines: link -> target. */
  links: Record<string, string>;
  run: string[];
}

function execForm(args: string, keyword: string): string[] {
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === "string")) throw new Error(`${keyword} is not in exec (JSON) form: ${args}`);
  return parsed;
}

/** ENV in its `KEY=value KEY2="value 2"` form. */
function envPairs(args: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|\S*)/g)) env[m[1]!] = m[3] ?? m[2]!;
  return env;
}

export function finalStage(instructions: Instruction[]): FinalStage {
  const firstFrom = instructions.findIndex((i) => i.keyword === "FROM");
  const lastFrom = instructions.findLastIndex((i) => i.keyword === "FROM");
  if (firstFrom < 0) throw new Error("no FROM");
  const globalArgs: Record<string, string> = {};
  for (const i of instructions.slice(0, firstFrom)) {
    if (i.keyword !== "ARG") continue;
    const [name, value = ""] = i.args.split("=", 2);
    globalArgs[name!] = value;
  }
  const stage: FinalStage = { globalArgs, base: instructions[lastFrom]!.args, env: {}, copied: [], links: {}, run: [] };
  for (const i of instructions.slice(lastFrom + 1)) {
    const abs = (p: string) => path.posix.resolve(stage.workdir ?? "/", p);
    switch (i.keyword) {
      case "USER":
        stage.user = i.args;
        break;
      case "WORKDIR":
        stage.workdir = abs(i.args);
        break;
      case "ENV":
        Object.assign(stage.env, envPairs(i.args));
        break;
      case "ENTRYPOINT":
        stage.entrypoint = execForm(i.args, "ENTRYPOINT");
        break;
      case "CMD":
        stage.cmd = execForm(i.args, "CMD");
        break;
      case "COPY": {
        const words = i.args.split(/\s+/).filter((w) => !w.startsWith("--"));
        const sources = words.slice(0, -1);
        const dest = words.at(-1)!;
        // Into a directory (trailing slash), each source keeps its name.
        if (dest.endsWith("/")) stage.copied.push(...sources.map((s) => abs(path.posix.join(dest, path.posix.basename(s)))));
        else stage.copied.push(abs(dest));
        break;
      }
      case "RUN":
        stage.run.push(i.args);
        for (const m of i.args.matchAll(/\bln\s+-s\s+(\S+)\s+(\S+)/g)) stage.links[abs(m[2]!)] = m[1]!;
        break;
    }
  }
  return stage;
}
