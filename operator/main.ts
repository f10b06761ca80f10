// blobstash: one binary, two roles. `blobstash operator` runs the controllers; the restic wrapper
// subcommands (`backup`, `restore`) are what Job pods run. The wrapper never loads the Kubernetes
// client: Job pods have no API access and need none.

const WRAPPER_COMMANDS = new Set(["backup", "restore", "check", "forget"]);

const HELP = `usage: blobstash <command> [flags]

commands:
  operator   run the controllers (Repository, BackupConfiguration, BackupSession, RestoreSession)
  backup     restic wrapper: back up paths into a repository (run by backup Jobs)
  restore    restic wrapper: restore a snapshot (run by restore Jobs)
  check      restic wrapper: restic check, optionally reading a subset of the data (integrity Jobs)
  forget     restic wrapper: forget one snapshot, pruning when asked (a deleted Snapshot's Job)
  version    print the version

run "blobstash operator --help" for the operator's flags.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === "operator") {
    const { runOperator } = await import("./manager.ts");
    return runOperator(rest);
  }
  if (command && WRAPPER_COMMANDS.has(command)) {
    const { runWrapper } = await import("./restic/cli.ts");
    return runWrapper(argv, { startedAtMs: Date.now() - process.uptime() * 1000 });
  }
  if (command === "version" || command === "--version") {
    const { readFile } = await import("node:fs/promises");
    const pkg = JSON.parse(await readFile(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
    process.stdout.write(`blobstash ${pkg.version}\n`);
    return 0;
  }
  process.stderr.write(`${command && command !== "help" && command !== "--help" ? `unknown command "${command}"\n\n` : ""}${HELP}\n`);
  return command && command !== "help" && command !== "--help" ? 2 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`blobstash: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
