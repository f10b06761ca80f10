/** Quotes a value for POSIX shells: single quotes, with embedded single quotes closed and escaped. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * The sourceable env file. PATH is written as the tool prefix in front of the sourcing shell's own
 * PATH (not the PATH of whoever ran `up`), so sourcing it in any shell keeps that shell's commands.
 */
export function renderEnvFile(env: Record<string, string>, pathPrefix: string[]): string {
  const lines = ["# Written by `node e2e/cluster/cli.ts up` (make up). Source it: . .local/env"];
  for (const [key, value] of Object.entries(env)) {
    if (key === "PATH") lines.push(`export PATH=${shellQuote(pathPrefix.join(":"))}"\${PATH:+:\$PATH}"`);
    else lines.push(`export ${key}=${shellQuote(value)}`);
  }
  return lines.join("\n") + "\n";
}
