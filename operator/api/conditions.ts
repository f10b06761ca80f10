// metav1.Condition helpers, generic over the condition types a kind uses. Pure: callers pass the
// clock, nothing here reads time or mutates its inputs.

export type ConditionStatus = "True" | "False" | "Unknown";

/** A metav1.Condition (https://github.com/kubernetes/community/blob/master/contributors/devel/sig-architecture/api-conventions.md#typical-status-properties). */
export interface Condition<T extends string = string> {
  type: T;
  status: ConditionStatus;
  /** CamelCase, machine-readable. */
  reason: string;
  /** Human-readable; names what is wrong and what to do. Never a secret value. */
  message: string;
  /** RFC 3339, second precision: when `status` last changed. */
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** What a controller decides; the transition time is filled in by `setCondition`. */
export type ConditionInput<T extends string = string> = Omit<Condition<T>, "lastTransitionTime">;

/** RFC 3339 with second precision, the form the API server stores for metav1.Time. */
export function toApiTime(d: Date): string {
  return new Date(Math.floor(d.getTime() / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

export function findCondition<T extends string>(
  conditions: readonly Condition<T>[] | undefined,
  type: T,
): Condition<T> | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue<T extends string>(conditions: readonly Condition<T>[] | undefined, type: T): boolean {
  return findCondition(conditions, type)?.status === "True";
}

/**
 * Returns a new list with `next` set: replaces the condition of the same type in place (so order
 * stays stable and diffs stay small) or appends it. `lastTransitionTime` is kept when the status
 * did not change, as the API conventions ask; a changed reason or message alone is not a transition.
 */
export function setCondition<T extends string>(
  conditions: readonly Condition<T>[] | undefined,
  next: ConditionInput<T>,
  now: Date,
): Condition<T>[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === next.type);
  const previous = i >= 0 ? list[i] : undefined;
  const lastTransitionTime =
    previous && previous.status === next.status ? previous.lastTransitionTime : toApiTime(now);
  const merged: Condition<T> = { ...withoutUndefined(next), lastTransitionTime };
  if (i >= 0) list[i] = merged;
  else list.push(merged);
  return list;
}

/** `setCondition` for several conditions at once, in order. */
export function setConditions<T extends string>(
  conditions: readonly Condition<T>[] | undefined,
  nexts: readonly ConditionInput<T>[],
  now: Date,
): Condition<T>[] {
  let list = [...(conditions ?? [])];
  for (const next of nexts) list = setCondition(list, next, now);
  return list;
}

export function removeCondition<T extends string>(conditions: readonly Condition<T>[] | undefined, type: T): Condition<T>[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

/** Same type, status, reason, message and observedGeneration: nothing a reader would notice changed. */
export function conditionMeaningEqual(a: ConditionInput | undefined, b: ConditionInput | undefined): boolean {
  if (!a || !b) return a === b;
  return (
    a.type === b.type &&
    a.status === b.status &&
    a.reason === b.reason &&
    a.message === b.message &&
    (a.observedGeneration ?? undefined) === (b.observedGeneration ?? undefined)
  );
}

/**
 * Two condition lists are equal when they hold the same types with equal meaning and equal
 * transition times. Order is ignored: the API server does not reorder lists, but other writers may.
 */
export function conditionsEqual(a: readonly Condition[] | undefined, b: readonly Condition[] | undefined): boolean {
  const left = a ?? [];
  const right = b ?? [];
  if (left.length !== right.length) return false;
  for (const x of left) {
    const y = right.find((c) => c.type === x.type);
    if (!y || !conditionMeaningEqual(x, y) || x.lastTransitionTime !== y.lastTransitionTime) return false;
  }
  return true;
}

export interface SummaryOptions<T extends string, S extends string> {
  /** The summary condition's type, usually "Ready". */
  type: S;
  /** The conditions the summary depends on, most fundamental first: the first blocker names the reason. */
  dependsOn: readonly T[];
  /** A condition that keeps the summary from being True. Default: status is not "True". */
  isBlocking?: (c: Condition<T> | undefined, type: T) => boolean;
  /** A non-blocking condition worth surfacing as the summary's reason (e.g. a credential expiring soon). */
  isWarning?: (c: Condition<T>) => boolean;
  readyReason?: string;
  readyMessage?: string;
  observedGeneration?: number;
}

/**
 * Computes the summary condition: False (or Unknown) with the first blocking condition's reason and
 * message; otherwise True, carrying the first warning's reason and message if there is one.
 * A missing dependency counts as blocking with status Unknown.
 */
export function summarize<T extends string, S extends string>(
  conditions: readonly Condition<T>[] | undefined,
  options: SummaryOptions<T, S>,
): ConditionInput<S> {
  const isBlocking = options.isBlocking ?? ((c) => c?.status !== "True");
  const gen = options.observedGeneration === undefined ? {} : { observedGeneration: options.observedGeneration };
  for (const type of options.dependsOn) {
    const c = findCondition(conditions, type);
    if (!isBlocking(c, type)) continue;
    if (!c) return { type: options.type, status: "Unknown", reason: "Pending", message: `${type} has not been checked yet`, ...gen };
    return { type: options.type, status: c.status === "Unknown" ? "Unknown" : "False", reason: c.reason, message: c.message, ...gen };
  }
  if (options.isWarning) {
    for (const type of options.dependsOn) {
      const c = findCondition(conditions, type);
      if (c && options.isWarning(c)) return { type: options.type, status: "True", reason: c.reason, message: c.message, ...gen };
    }
  }
  return {
    type: options.type,
    status: "True",
    reason: options.readyReason ?? "Ready",
    message: options.readyMessage ?? "All checks passed",
    ...gen,
  };
}

function withoutUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
