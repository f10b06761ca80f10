// Every Pod in the cluster, as a list followed by a watch, relisted whenever the watch ends. client-node's
// watch gives up after 30 s without events, so on a quiet cluster this relists about every 30 s, which
// doubles as the periodic resync that catches a stalled watch or a missed deletion. Errors back off
// from 1 s to 30 s; nothing here throws.
import { Watch, type V1Pod } from "@kubernetes/client-node";
import { describeError, type Kube } from "./kube.ts";

export interface PodEvents {
  /** The complete current set of pods (after each list). */
  sync(pods: V1Pod[]): void;
  added(pod: V1Pod): void;
  modified(pod: V1Pod): void;
  deleted(pod: V1Pod): void;
}

const MIN_RELIST_MS = 1000;
const LIST_TIMEOUT_MS = 30_000;
const MAX_BACKOFF_MS = 30_000;

export function watchPods(kube: Kube, handler: PodEvents, log: (msg: string) => void): { stop(): void } {
  const watch = new Watch(kube.kc);
  let stopped = false;
  let abort: AbortController | undefined;
  let wake: (() => void) | undefined;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });

  const safely = (what: string, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      log(`pods: ${what} handler failed: ${describeError(err)}`);
    }
  };

  const loop = async () => {
    let backoff = MIN_RELIST_MS;
    while (!stopped) {
      const started = Date.now();
      try {
        // A list that hangs (a half-open connection) must not stall the agent forever.
        let timer: NodeJS.Timeout | undefined;
        const list = await Promise.race([
          kube.listPods(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`pod list timed out after ${LIST_TIMEOUT_MS} ms`)), LIST_TIMEOUT_MS);
          }),
        ]).finally(() => clearTimeout(timer));
        if (stopped) return;
        safely("sync", () => handler.sync(list.items));
        let rv = list.resourceVersion;
        const err = await new Promise<unknown>((resolve) => {
          watch
            .watch(
              "/api/v1/pods",
              { resourceVersion: rv, allowWatchBookmarks: true },
              (type: string, obj: V1Pod & { code?: number }) => {
                if (type === "ERROR") {
                  // Usually 410 Gone (resourceVersion too old): end this watch and relist.
                  abort?.abort();
                  return;
                }
                rv = obj.metadata?.resourceVersion ?? rv;
                if (type === "ADDED") safely("add", () => handler.added(obj));
                else if (type === "MODIFIED") safely("update", () => handler.modified(obj));
                else if (type === "DELETED") safely("delete", () => handler.deleted(obj));
              },
              (e: unknown) => resolve(e),
            )
            .then(
              (controller) => {
                abort = controller;
                if (stopped) controller.abort();
              },
              (e: unknown) => resolve(e),
            );
        });
        abort = undefined;
        const timedOut = (err as { name?: string } | null)?.name === "TimeoutError" || (err as { name?: string } | null)?.name === "AbortError";
        if (err && !timedOut && !stopped) throw err;
        backoff = MIN_RELIST_MS;
        const elapsed = Date.now() - started;
        if (elapsed < MIN_RELIST_MS && !stopped) await sleep(MIN_RELIST_MS - elapsed);
      } catch (err) {
        if (stopped) return;
        log(`pods: list/watch failed (${describeError(err)}); retrying in ${backoff} ms`);
        await sleep(backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
  };
  void loop();
  return {
    stop() {
      stopped = true;
      abort?.abort();
      wake?.();
    },
  };
}
