// Just enough of Kubernetes' resource.Quantity to answer `resourceFieldRef` env vars.

const SUFFIX: Record<string, number> = {
  n: 1e-9, u: 1e-6, m: 1e-3, "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/** The quantity's value as a number, or undefined when it is not a valid quantity. */
export function parseQuantity(q: string | number | undefined): number | undefined {
  if (typeof q === "number") return Number.isFinite(q) ? q : undefined;
  if (typeof q !== "string") return undefined;
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/.exec(q.trim());
  if (!m) return undefined;
  const base = Number(m[1]);
  if (m[2] !== undefined) return base * 10 ** Number(m[2].slice(1));
  return base * (SUFFIX[m[3] ?? ""] ?? 1);
}

/**
 * kubelet's rendering of a resource for an env var: CPU in whole units of the divisor (rounded up, with
 * milli precision), everything else in whole units of the divisor (rounded up).
 */
export function renderResource(resource: string, value: number, divisor: number): string {
  if (divisor <= 0) return "0";
  if (resource.endsWith("cpu")) {
    const milli = Math.ceil(value * 1000 - 1e-9);
    const divMilli = Math.max(1, Math.round(divisor * 1000));
    return String(Math.ceil(milli / divMilli));
  }
  return String(Math.ceil(value / divisor - 1e-9));
}
