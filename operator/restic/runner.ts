// Runs one restic command with execa and turns its output into messages as it arrives. restic gets
// SIGINT when the caller's signal aborts (it then removes its lock and exits 130) and SIGKILL if it
// has not exited 15 s later. Everything kept as text is redacted: restic prints request URLs, and
// with them a SAS's query string, in its retry and error lines.

import { execa } from "execa";
import { logger } from "../observability/logger.ts";
import { redact } from "../observability/redact.ts";
import { truncateText, type ResultReason } from "../api/result.ts";
import { formatBytes } from "../api/bytes.ts";
import { LineSplitter } from "../api/lines.ts";
import { parseResticLine, type ExitError, type ResticMessage } from "./messages.ts";
import { reasonFor } from "./reasons.ts";

/** How restic is reached and what every command shares. */
export interface ResticContext {
  /** The restic binary: a path or a name on PATH. */
  binary: string;
  /** Any restic repository string: `azure:<container>:/<prefix>`, a local directory, … */
  repository: string;
  /** `-o key=value` extended options, e.g. `azure.connections=5`. */
  options: string[];
  cacheDir?: string;
  noCache?: boolean;
  /** Extra environment for restic (the process environment is inherited). */
  env?: Record<string, string>;
  /** Aborting stops the running command (SIGINT, then SIGKILL). */
  signal?: AbortSignal;
  /** How long restic gets to exit after SIGINT before SIGKILL; default FORCE_KILL_AFTER_MS. */
  forceKillAfterMs?: number;
}

export interface RunOptions {
  /** `--no-lock`: read-only commands, and every command of a restore (its SAS cannot write). */
  noLock?: boolean;
  cwd?: string;
  /** Keep stdout whole (snapshots, forget and stats print one JSON document). */
  collectStdout?: boolean;
  /** Most bytes of stdout collectStdout keeps (default MAX_COLLECTED_STDOUT). */
  maxStdout?: number;
  /** Whose messages these are, for the parser (restore omits zero fields). */
  command?: "backup" | "restore";
  onMessage?: (message: ResticMessage) => void;
}

export interface ResticRun {
  /** restic's exit code; undefined when it could not start or died from a signal. */
  exitCode: number | undefined;
  stdout: string;
  /** restic's final `exit_error`, redacted. */
  exitError?: ExitError;
  /** The last plain-text lines restic wrote to stderr, redacted (warnings, retries). */
  textTail: string[];
  /** The last "… returned error, retrying …" message (with its continuation lines): what kept failing. */
  lastRetry?: string;
  /**
   * Set when the runner stopped restic because it was retrying something retries cannot fix (a
   * missing container, refused credentials); restic would otherwise keep at it for 15 minutes.
   */
  gaveUp?: ResultReason;
  /** The binary was not found. */
  notFound: boolean;
  /** The command was stopped through the context's signal. */
  aborted: boolean;
  /** Set when restic printed more than the runner keeps, and was stopped for it. */
  overflow?: string;
  durationMs: number;
}

const TAIL_LINES = 20;
/** A text line longer than this is cut where it is kept (restic's longest are an error with a path). */
const MAX_TEXT_LINE = 4096;
/**
 * snapshots, forget and stats print one JSON document; a repository of a hundred thousand
 * snapshots prints some 50 MiB. More than this is not kept in memory: restic is stopped instead.
 */
export const MAX_COLLECTED_STDOUT = 128 * 1024 * 1024;
const RETRY_BLOCK_LINES = 20;
/** Failures restic retries (it treats a 404 on the container like a network error) that never heal by waiting. */
const HOPELESS: ReadonlySet<ResultReason> = new Set(["ContainerNotFound", "AuthenticationFailed", "SasExpired", "PermissionDenied"]);
export const FORCE_KILL_AFTER_MS = 15_000;

/**
 * The full argument list: the verb, the global flags, then the verb's own arguments (which may end
 * with `--` and paths, so globals must come first).
 */
export function resticArgv(ctx: ResticContext, verbArgs: readonly string[], opts: { noLock?: boolean } = {}): string[] {
  const [verb, ...rest] = verbArgs;
  if (!verb) throw new Error("resticArgv: no restic command given");
  const global = ["-r", ctx.repository];
  for (const o of ctx.options) global.push("-o", o);
  if (ctx.noCache) global.push("--no-cache");
  else if (ctx.cacheDir) global.push("--cache-dir", ctx.cacheDir);
  if (opts.noLock) global.push("--no-lock");
  global.push("--json");
  return [verb, ...global, ...rest];
}

/** The text that best explains a failed run: restic's exit_error, else its last stderr lines. */
export function failureText(run: ResticRun): string {
  if (run.notFound) return "restic binary not found";
  if (run.overflow) return run.overflow;
  const parts: string[] = [];
  if (run.exitError?.message) parts.push(tidyResticError(run.exitError.message));
  else if (run.textTail.length > 0) parts.push(tidyResticError(run.textTail.slice(-8).join("\n")));
  // A network failure shows in the retries, not in the final "context canceled".
  if (run.lastRetry && !parts.some((p) => p.includes(run.lastRetry!))) parts.push(`last retry: ${run.lastRetry}`);
  return parts.join("\n") || `restic exited with code ${run.exitCode ?? "none"}`;
}

/**
 * The Azure SDK's error text without its decoration: separator rules, the XML body (its code and
 * message are already on the RESPONSE / ERROR CODE lines), request ids and timestamps.
 */
export function tidyResticError(text: string): string {
  return text
    .split("\n")
    .map((l) => l.trimEnd())
    .filter((l) => l !== "" && !/^-{8,}$/.test(l) && !/^\s*</.test(l) && !/^(RequestId|Time):/.test(l) && l !== "Response contained no body")
    .join("\n");
}

export async function runRestic(ctx: ResticContext, verbArgs: readonly string[], opts: RunOptions = {}): Promise<ResticRun> {
  const args = resticArgv(ctx, verbArgs, opts);
  const started = Date.now();
  const run: ResticRun = { exitCode: undefined, stdout: "", textTail: [], notFound: false, aborted: false, durationMs: 0 };
  logger.debug("restic", { args });
  if (ctx.signal?.aborted) {
    run.aborted = true;
    return run;
  }

  const child = execa(ctx.binary, args, {
    cwd: opts.cwd,
    env: ctx.env,
    extendEnv: true,
    stdin: "ignore",
    buffer: false,
    reject: false,
    encoding: "buffer",
    cancelSignal: ctx.signal,
    killSignal: "SIGINT",
    forceKillAfterDelay: ctx.forceKillAfterMs ?? FORCE_KILL_AFTER_MS,
  });

  const stdoutChunks: Buffer[] = [];
  const outLines = new LineSplitter();
  const errLines = new LineSplitter();
  const onStdoutLine = (line: string) => {
    if (line.trim() === "") return;
    const m = parseResticLine(line, opts.command);
    if (m.type === "text") keepText(run, redact(line));
    else opts.onMessage?.(m);
  };
  // The Azure SDK's errors span several lines: a retry message is its first line plus what follows.
  let retry: string[] | undefined;
  const flushRetry = () => {
    if (!retry) return;
    run.lastRetry = tidyResticError(retry.join("\n"));
    logger.warn(`restic: ${run.lastRetry}`);
    retry = undefined;
  };
  const checkRetry = () => {
    if (!retry || run.gaveUp) return;
    const reason = reasonFor(1, retry.join("\n"));
    if (HOPELESS.has(reason)) {
      run.gaveUp = reason;
      run.lastRetry = tidyResticError(retry.join("\n"));
      logger.warn(`restic keeps retrying what retrying cannot fix (${reason}): stopping it`);
      child.kill("SIGINT");
    }
  };
  const onStderrLine = (line: string) => {
    if (line.trim() === "") return;
    const m = parseResticLine(line, opts.command);
    if (m.type !== "text") {
      flushRetry();
      if (m.type === "exit-error") run.exitError = { ...m, message: redact(m.message) };
      else opts.onMessage?.(m);
      return;
    }
    // restic clears its status line with a carriage return before some messages.
    const text = truncateText(redact(line.replace(/^\r+/, "")), MAX_TEXT_LINE);
    keepText(run, text);
    if (/returned error, retrying/.test(text)) {
      flushRetry();
      retry = [text];
    } else if (retry && retry.length < RETRY_BLOCK_LINES && !/^\S+\(.*\) failed:|^signal /.test(text)) {
      retry.push(text);
    } else {
      flushRetry();
      logger.warn(`restic: ${text}`);
      return;
    }
    checkRetry();
  };
  let collected = 0;
  const limit = opts.maxStdout ?? MAX_COLLECTED_STDOUT;
  child.stdout?.on("data", (chunk: Buffer) => {
    if (!opts.collectStdout) {
      for (const l of outLines.push(chunk)) onStdoutLine(l);
      return;
    }
    collected += chunk.length;
    if (collected <= limit) stdoutChunks.push(chunk);
    else if (!run.overflow) {
      run.overflow = `restic printed more than ${formatBytes(limit)} on stdout, more than the wrapper keeps; it was stopped`;
      stdoutChunks.length = 0;
      child.kill("SIGINT");
    }
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    for (const l of errLines.push(chunk)) onStderrLine(l);
  });

  const result = await child;
  if (!opts.collectStdout) for (const l of outLines.end()) onStdoutLine(l);
  for (const l of errLines.end()) onStderrLine(l);
  flushRetry();
  run.stdout = opts.collectStdout ? Buffer.concat(stdoutChunks).toString("utf8") : "";
  run.exitCode = typeof result.exitCode === "number" ? result.exitCode : undefined;
  run.notFound = (result as { code?: string }).code === "ENOENT";
  run.aborted = result.isCanceled === true || (ctx.signal?.aborted ?? false);
  run.durationMs = Date.now() - started;
  logger.debug("restic finished", { command: verbArgs[0], exitCode: run.exitCode, durationMs: run.durationMs });
  return run;
}

function keepText(run: ResticRun, text: string): void {
  run.textTail.push(truncateText(text, MAX_TEXT_LINE));
  if (run.textTail.length > TAIL_LINES) run.textTail.shift();
}
