// Byte counts as people read them, in the form Stash shows sizes in status ("1.2 GiB"): binary
// units, at most three significant decimals, no trailing zeros.

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "0 B";
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const text = unit === 0 ? String(Math.round(value)) : String(Number(value.toFixed(value >= 100 ? 1 : value >= 10 ? 2 : 3)));
  return `${text} ${UNITS[unit]}`;
}
