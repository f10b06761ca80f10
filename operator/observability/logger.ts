import winston from "winston";
import { redact, redactDeep } from "./redact.ts";

export { registerSecret } from "./redact.ts";

// Redaction runs last, on the finished line, so nothing a format adds can carry a secret out.
const redactLine = winston.format((info) => {
  const symbols = Object.getOwnPropertySymbols(info);
  const clean = redactDeep({ ...info }) as Record<string, unknown>;
  const out = clean as winston.Logform.TransformableInfo;
  for (const s of symbols) (out as unknown as Record<symbol, unknown>)[s] = (info as unknown as Record<symbol, unknown>)[s];
  const message = (out as unknown as Record<symbol, unknown>)[Symbol.for("message")];
  if (typeof message === "string") (out as unknown as Record<symbol, unknown>)[Symbol.for("message")] = redact(message);
  return out;
});

const errorsToText = winston.format((info) => {
  for (const [k, v] of Object.entries(info)) {
    if (v instanceof Error) (info as Record<string, unknown>)[k] = v.message;
  }
  return info;
});

export const logger = winston.createLogger({
  level: process.env.BLOBSTASH_LOG_LEVEL ?? process.env.LOG_LEVEL ?? "info",
  format: winston.format.combine(
    errorsToText(),
    winston.format.timestamp(),
    winston.format.json(),
    redactLine(),
  ),
  // stderr keeps stdout free for command output (the wrapper's restic JSON passthrough, CLI prints).
  transports: [new winston.transports.Console({ stderrLevels: ["error", "warn", "info", "http", "verbose", "debug", "silly"] })],
});

export type Logger = Pick<winston.Logger, "error" | "warn" | "info" | "debug" | "child">;

export function setLogLevel(level: string): void {
  logger.level = level;
}
