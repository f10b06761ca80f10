import assert from "node:assert/strict";
import { Writable } from "node:stream";
import winston from "winston";
import { logger, registerSecret } from "./logger.ts";

describe("logger", () => {
  it("never writes a registered secret, in the message or in metadata", () => {
    const lines: string[] = [];
    const sink = new winston.transports.Stream({
      stream: new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } }),
    });
    logger.add(sink);
    try {
      registerSecret("hunter2-very-secret\n");
      logger.info("password is hunter2-very-secret", { nested: { value: "x hunter2-very-secret y" }, err: new Error("hunter2-very-secret leaked") });
    } finally {
      logger.remove(sink);
    }
    assert.equal(lines.length, 1);
    assert.ok(!lines[0]!.includes("hunter2"), lines[0]);
    assert.ok(lines[0]!.includes("[REDACTED]"));
  });
});
