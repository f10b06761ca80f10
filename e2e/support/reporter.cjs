// Mocha's spec reporter plus one closing line in the plain form CI systems read:
// "unit: 296 passed, 0 failed" (", N skipped" when any were pending).
const Mocha = require("mocha");

class SpecWithTotals extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const label = process.env.BLOBSTASH_SUITE ? `${process.env.BLOBSTASH_SUITE}: ` : "";
    runner.once("end", () => {
      const s = runner.stats ?? {};
      const skipped = s.pending ? `, ${s.pending} skipped` : "";
      process.stdout.write(`${label}${s.passes ?? 0} passed, ${s.failures ?? 0} failed${skipped}\n`);
    });
  }
}

module.exports = SpecWithTotals;
