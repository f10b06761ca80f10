// Secret values must never reach a log line, event or status. Every value the operator or the
// wrapper reads from a Secret is registered here, and everything that leaves the process as text
// goes through `redact`. Patterns catch what was never registered: SAS signatures, shared keys,
// bearer tokens.

const MIN_SECRET_LENGTH = 4; // shorter values would redact ordinary words

/**
 * Values are registered per namespace (the Secret's, the Job's): a namespace's statuses and events
 * are scrubbed of its own values and the global ones only, so a tenant whose password is "Ready"
 * blanks nothing of another tenant's, and cannot learn from another's text whether a guess of theirs
 * is registered. The operator's own log, which only the admin reads, is scrubbed of everything.
 * Each scope holds at most a byte budget, least recently registered out first: every use of a
 * Secret registers its values again (readStorageSecret), so what is evicted is what no longer runs.
 */
export const MAX_SCOPE_BYTES = 256 * 1024;
const MAX_GLOBAL_BYTES = 4 << 20;
const GLOBAL = "";

interface Scope {
  /** Value -> its length; Map order is registration order, oldest first. */
  values: Map<string, number>;
  bytes: number;
}

const scopes = new Map<string, Scope>();
/**
 * Sorted lists (longest first) per scope asked for, built once per change: every status write, event
 * and log line is redacted, and re-sorting hundreds of values for each string of each of them was a
 * visible share of the operator's CPU at a thousand Repositories.
 */
const sortedCache = new Map<string, string[]>();
const presorted = new WeakSet<readonly string[]>();
const ALL = "\u0000all";

export function registerSecret(value: string | undefined, namespace: string = GLOBAL): void {
  if (!value) return;
  let scope = scopes.get(namespace);
  if (!scope) scopes.set(namespace, (scope = { values: new Map(), bytes: 0 }));
  const budget = namespace === GLOBAL ? MAX_GLOBAL_BYTES : MAX_SCOPE_BYTES;
  let changed = false;
  // URL-encoded forms turn up in request URLs (a SAS inside a query string).
  for (const v of new Set([value, value.trim(), encodeURIComponent(value.trim())])) {
    if (v.length < MIN_SECRET_LENGTH) continue;
    const had = scope.values.delete(v);
    scope.values.set(v, v.length);
    if (!had) {
      scope.bytes += v.length;
      changed = true;
    }
  }
  // The newest values stay, even one beyond the budget by itself.
  while (scope.bytes > budget && scope.values.size > 1) {
    const [oldest, bytes] = scope.values.entries().next().value!;
    scope.values.delete(oldest);
    scope.bytes -= bytes;
    changed = true;
  }
  if (changed) sortedCache.clear();
}

/**
 * The values text written into `namespace` is scrubbed of (its own and the global ones), longest
 * first; without a namespace, every registered value (the operator's log).
 */
export function secretsFor(namespace?: string): readonly string[] {
  const key = namespace === undefined ? ALL : namespace;
  let sorted = sortedCache.get(key);
  if (!sorted) {
    const from = namespace === undefined ? [...scopes.values()] : [scopes.get(GLOBAL), scopes.get(namespace)].filter((x): x is Scope => !!x);
    sorted = [...new Set(from.flatMap((sc) => [...sc.values.keys()]))].sort((a, b) => b.length - a.length);
    sortedCache.set(key, sorted);
    presorted.add(sorted);
  }
  return sorted;
}

/** Longest first, so a value that contains another registered value is removed whole. */
function longestFirst(secrets: Iterable<string>): readonly string[] {
  if (Array.isArray(secrets) && presorted.has(secrets)) return secrets as readonly string[];
  return [...secrets].sort((a, b) => b.length - a.length);
}

export function registeredSecretCount(): number {
  return secretsFor().length;
}

const PATTERNS: Array<[RegExp, string]> = [
  [/([?&]sig=)[^&\s"']+/gi, "$1REDACTED"],
  [/(AccountKey=)[^;\s"']+/gi, "$1REDACTED"],
  [/(SharedKey(?:Lite)?\s+[^:\s]+:)[^\s"']+/gi, "$1REDACTED"],
  [/(Bearer\s+)[A-Za-z0-9._~+/-]+=*/gi, "$1REDACTED"],
];

export function redact(text: string, secrets: Iterable<string> = secretsFor()): string {
  return redactLongestFirst(text, longestFirst(secrets));
}

function redactLongestFirst(text: string, sorted: readonly string[]): string {
  let out = text;
  for (const s of sorted) {
    if (out.includes(s)) out = out.split(s).join("[REDACTED]");
  }
  for (const [re, replacement] of PATTERNS) out = out.replace(re, replacement);
  return out;
}

/** Redacts every string inside a JSON-like value, returning a copy. */
export function redactDeep<T>(value: T, secrets: Iterable<string> = secretsFor()): T {
  const list = longestFirst(secrets);
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") return redactLongestFirst(v, list);
    if (Array.isArray(v)) return v.map(walk);
    if (v instanceof Error) return redactLongestFirst(`${v.name}: ${v.message}`, list);
    if (v && typeof v === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, inner] of Object.entries(v)) out[k] = walk(inner);
      return out;
    }
    return v;
  };
  return walk(value) as T;
}
