// Secret values must never reach a log line, event or status. Every value the operator or the
// wrapper reads from a Secret is registered here, and everything that leaves the process as text
// goes through `redact`. Patterns catch what was never registered: SAS signatures, shared keys,
// bearer tokens.

const MIN_SECRET_LENGTH = 4; // shorter values would redact ordinary words

const registered = new Set<string>();
/**
 * The registered values, longest first, built once per change: every status write, event and log
 * line is redacted, and re-sorting hundreds of values (a Secret per namespace) for each string of
 * each of them was a visible share of the operator's CPU at a thousand Repositories.
 */
let registeredLongestFirst: string[] | undefined;

export function registerSecret(value: string | undefined): void {
  if (!value) return;
  const before = registered.size;
  for (const v of [value, value.trim()]) {
    if (v.length >= MIN_SECRET_LENGTH) registered.add(v);
  }
  // URL-encoded forms turn up in request URLs (a SAS inside a query string).
  const encoded = encodeURIComponent(value.trim());
  if (encoded.length >= MIN_SECRET_LENGTH) registered.add(encoded);
  if (registered.size !== before) registeredLongestFirst = undefined;
}

/** Longest first, so a value that contains another registered value is removed whole. */
function longestFirst(secrets: Iterable<string>): string[] {
  if (secrets === registered) return (registeredLongestFirst ??= [...registered].sort((a, b) => b.length - a.length));
  return [...secrets].sort((a, b) => b.length - a.length);
}

export function registeredSecretCount(): number {
  return registered.size;
}

const PATTERNS: Array<[RegExp, string]> = [
  [/([?&]sig=)[^&\s"']+/gi, "$1REDACTED"],
  [/(AccountKey=)[^;\s"']+/gi, "$1REDACTED"],
  [/(SharedKey(?:Lite)?\s+[^:\s]+:)[^\s"']+/gi, "$1REDACTED"],
  [/(Bearer\s+)[A-Za-z0-9._~+/-]+=*/gi, "$1REDACTED"],
];

export function redact(text: string, secrets: Iterable<string> = registered): string {
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
export function redactDeep<T>(value: T, secrets: Iterable<string> = registered): T {
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
