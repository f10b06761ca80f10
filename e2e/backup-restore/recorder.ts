// Records every version of the objects a watch sees, so a test can ask afterwards what ever existed
// (how many Jobs a session had, what a short-lived credentials Secret held) instead of polling and
// hoping to catch it.

import { Watch, type KubeConfig, type KubernetesObject } from "@kubernetes/client-node";

export interface Seen<T> {
  type: string;
  object: T;
  at: number;
}

export interface Recorder<T extends KubernetesObject> {
  /** Every event in arrival order (a restarted watch replays ADDED for what exists). */
  readonly events: Seen<T>[];
  /** The last version of each object ever seen, by uid. */
  byUid(): Map<string, T>;
  stop(): void;
}

/** Watches `path` (e.g. /apis/batch/v1/namespaces/x/jobs) with the query until stop(); restarts when the server closes it. */
export async function record<T extends KubernetesObject>(kc: KubeConfig, path: string, query: Record<string, string> = {}): Promise<Recorder<T>> {
  const events: Seen<T>[] = [];
  let stopped = false;
  let abort: AbortController | undefined;
  const watch = new Watch(kc);
  const start = async (): Promise<void> => {
    abort = await watch.watch(
      path,
      { ...query, allowWatchBookmarks: false },
      (type, object: T) => {
        if (type === "ADDED" || type === "MODIFIED" || type === "DELETED") events.push({ type, object, at: Date.now() });
      },
      () => {
        if (!stopped) setTimeout(restart, 100);
      },
    );
  };
  // A watch that cannot be started (the API server is down or restarting) is tried again until stop().
  const restart = () => void start().catch(() => {
    if (!stopped) setTimeout(restart, 500);
  });
  await start();
  return {
    events,
    byUid() {
      const out = new Map<string, T>();
      for (const e of events) out.set(e.object.metadata?.uid ?? "", e.object);
      return out;
    },
    stop() {
      stopped = true;
      abort?.abort();
    },
  };
}
