import assert from "node:assert/strict";
import { cpuDelta, parseCpuSeconds, parseStartTicks, parseStatus, processStartedAt, readCpuSeconds, readMemory } from "./proc.ts";

describe("bench process memory", () => {
  it("reads VmRSS and VmHWM from /proc/<pid>/status text", () => {
    const text = "Name:\tnode\nVmPeak:\t 1000000 kB\nVmHWM:\t  153600 kB\nVmRSS:\t  102400 kB\nThreads:\t11\n";
    assert.deepEqual(parseStatus(text), { rssMb: 100, peakMb: 150 });
    assert.equal(parseStatus("Name:\tkthreadd\n"), undefined);
  });

  it("reads this process, and nothing for a PID that does not exist", () => {
    const mine = readMemory(process.pid);
    assert.ok(mine && mine.rssMb > 1 && mine.peakMb >= mine.rssMb);
    assert.equal(readMemory(2 ** 22 + 1), undefined);
  });

  it("reads CPU time from /proc/<pid>/stat, whatever the command name holds", () => {
    const stat = "1234 (node (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 11 0 999 0 0";
    assert.equal(parseCpuSeconds(stat), 3);
    assert.ok((readCpuSeconds(process.pid) ?? -1) >= 0);
    assert.equal(readCpuSeconds(2 ** 22 + 1), undefined);
    assert.deepEqual(cpuDelta({ a: 1, b: 2 }, { a: 3.5, b: undefined, c: 1 }), { a: 2.5 });
  });

  it("places a process's start on performance.now()'s clock", () => {
    assert.equal(parseStartTicks("1234 (node (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 11 0 999 0 0"), 999);
    const started = processStartedAt(process.pid);
    // This process started before its clock's origin, within the tick and uptime rounding.
    assert.ok(started !== undefined && started <= 50 && started > -60_000, `started at ${started}`);
    assert.equal(processStartedAt(2 ** 22 + 1), undefined);
  });
});
