// `restic init`: creates the repository when the first backup finds none (restic exit 10).

import { runRestic, type ResticContext, type ResticRun } from "./runner.ts";

export function initArgs(): string[] {
  return ["init"];
}

export interface InitOutcome {
  run: ResticRun;
  /** restic's repository id, from its `initialized` message. */
  id?: string;
}

export async function runInit(ctx: ResticContext): Promise<InitOutcome> {
  let id: string | undefined;
  const run = await runRestic(ctx, initArgs(), {
    onMessage: (m) => {
      if (m.type === "initialized") id = m.id;
    },
  });
  // init prints its `initialized` message on stdout as the only line.
  return id ? { run, id } : { run };
}
