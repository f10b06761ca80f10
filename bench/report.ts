// What a benchmark prints: its figures, each next to a baseline measured in the same run on the same
// cluster (so a slow machine shows as a slow baseline, not as a slow operator), then one PASS/FAIL
// line per target. The process exits non-zero when a target is missed.

import { ms, ratio } from "./stats.ts";

interface Target {
  name: string;
  value: number;
  limit: number;
  unit: "ms" | "MB" | "/min";
  pass: boolean;
}

export class Report {
  private readonly title: string;
  private readonly targets: Target[] = [];

  constructor(title: string) {
    this.title = title;
    console.log(`\n== ${title} ==`);
  }

  note(text: string): void {
    console.log(`   ${text}`);
  }

  /** A figure in ms, optionally against a baseline in ms. */
  duration(name: string, value: number, baseline?: { name: string; value: number }): void {
    const against = baseline ? `   ${ratio(value, baseline.value)} ${baseline.name} (${ms(baseline.value)})` : "";
    console.log(`   ${name.padEnd(44)} ${ms(value).padStart(9)}${against}`);
  }

  figure(name: string, value: string, comment = ""): void {
    console.log(`   ${name.padEnd(44)} ${value.padStart(9)}${comment ? `   ${comment}` : ""}`);
  }

  /** Records a target of the form value ≤ limit. */
  atMost(name: string, value: number, limit: number, unit: Target["unit"]): void {
    this.targets.push({ name, value, limit, unit, pass: Number.isFinite(value) && value <= limit });
  }

  /** Prints the verdicts; returns the exit code (1 when a target was missed). */
  finish(): number {
    console.log(`-- ${this.title}: targets --`);
    const show = (v: number, unit: Target["unit"]) => (unit === "ms" ? ms(v) : `${Number.isFinite(v) ? v.toFixed(unit === "MB" ? 0 : 1) : "n/a"} ${unit === "MB" ? "MB" : "writes/min"}`);
    for (const t of this.targets) {
      console.log(`   ${t.pass ? "PASS" : "FAIL"}  ${t.name.padEnd(40)} ${show(t.value, t.unit).padStart(12)}  (target ≤ ${show(t.limit, t.unit)})`);
    }
    const failed = this.targets.filter((t) => !t.pass).length;
    console.log(`   targets met: ${this.targets.length - failed} of ${this.targets.length}`);
    return failed ? 1 : 0;
  }
}
