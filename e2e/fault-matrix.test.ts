// The fault matrix: each fault injected at each stage of a BackupSession, on the real local cluster
// (the chart's two operator pods, real API server, etcd, nodes, Azurite), and a table of what came of
// it. Faults are cluster-wide, so they run one after another; the stages of one fault run side by
// side, one session each, put in place before the fault and observed, not guessed:
//  - Pending: queued behind the "running" session of the same Repository (one Job per Repository);
//  - Job created: its pod cannot be scheduled yet (a nodeSelector no node matches until the test
//    labels a node after the fault);
//  - pod running: restic is uploading a large file, over a link the CONNECT proxy slows for that pod
//    alone (e2e/cluster/throttle.ts) until the fault is over, so it is still uploading whatever the
//    machine's speed; seen uploading (bytes through the proxy) before the fault;
//  - pod exited, status not written: both operator processes are frozen (SIGSTOP, as a long GC or
//    VM pause would), the pod's exit is seen in the API, then the fault starts and the operators
//    are thawed (SIGCONT).
// Each row says how many sessions ended once, with the phase and reason a serious operator owes for
// that fault, how many extra Jobs a session got, and how many credentials Secrets were left behind.
// The node fault goes last and brings the node back.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { V1Job, V1Node, V1Pod } from "@kubernetes/client-node";
import type { BackupSession } from "../operator/api/backup.ts";
import { cluster } from "./fixture.ts";
import { BackupEnv } from "./backup-restore/harness.ts";
import { record, type Recorder } from "./backup-restore/recorder.ts";
import { containerPid } from "./cluster/node.ts";
import { waitFor } from "./cluster/wait.ts";
import { mustRunToolbox } from "./support/toolbox.ts";

const id = randomBytes(3).toString("hex");
const PASSWORD = `pw-${randomBytes(12).toString("hex")}`;
const NODE_LOST_LIMIT_S = 15;
const STAGES = ["Pending", "Job created", "pod running", "pod exited, status not written"] as const;
type Stage = (typeof STAGES)[number];
/** Session name suffix per stage. */
const SUFFIX: Record<Stage, string> = { Pending: "p", "Job created": "j", "pod running": "r", "pod exited, status not written": "x" };
const RELEASE_LABEL = "e2e.blobstash.io/fault-release";
/** The running stage's upload rate while its round lasts: 64 MB at this rate outlasts any fault here. */
const SLOW_LINK_BPS = 256 * 1024;
/** Bytes through the proxy that say restic is uploading pack data (its reads of the repository send only headers). */
const UPLOADING_BYTES = 512 * 1024;

interface Expectation {
  phase: "Succeeded" | "Failed";
  /** The Completed condition's reason; undefined: whatever reason the wrapper gives a success. */
  reason?: string;
}

interface Fault {
  key: string;
  name: string;
  /** Starts the fault (operators frozen; they are thawed right after). `node` runs the running-stage pod. */
  inject(ctx: { node: string; leaderPid: number }): Promise<void>;
  /** Ends it. */
  heal(ctx: { node: string }): Promise<void>;
  expect(stage: Stage): Expectation;
  /** Nodes the Job-created session may be released to. */
  releaseTo?(ctx: { node: string }): string[];
  /** Runs the exited stage's pod on the running stage's node (whose death then keeps that pod's end from being posted). */
  sameNode?: boolean;
  /** Called after the round's rows, for what only this fault measures. */
  after?(): Promise<void>;
}

interface Row {
  fault: string;
  stage: Stage;
  /** The stage the session was really in at injection (observed). */
  seen: string;
  started: number;
  right: number;
  finishes: number;
  duplicateJobs: number;
  leftoverSecrets: number;
  outcome: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ok: Expectation = { phase: "Succeeded" };

describe("Fault matrix: every fault at every stage of a BackupSession", function () {
  this.timeout(900_000);
  let env: BackupEnv;
  let jobs: Recorder<V1Job>;
  let sessions: Recorder<BackupSession>;
  const rows: Row[] = [];
  const notes: string[] = [];
  let killedNode: string | undefined;
  /** The node round's clock: when the node was killed and marked not Ready (ms), and the session's condition delay. */
  const nodeTimes = { killed: 0, notReady: 0, delayMs: 0 };

  const c = () => cluster();
  const nodeNames = () => c().nodes.map((n) => n.name);

  async function operatorPids(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const name of await env.op.pods()) {
      const pod = await env.core.readNamespacedPod({ namespace: env.operatorNamespace, name });
      const cid = pod.status?.containerStatuses?.[0]?.containerID;
      if (pod.spec?.nodeName && cid && pod.spec.nodeName !== killedNode) out.set(name, await containerPid(c(), pod.spec.nodeName, cid));
    }
    return out;
  }
  const signal = (pids: Iterable<number>, sig: NodeJS.Signals) => {
    for (const pid of pids) {
      try {
        process.kill(pid, sig);
      } catch {
        // gone (killed, or its node was)
      }
    }
  };

  async function podsOf(session: string): Promise<V1Pod[]> {
    return (await env.core.listNamespacedPod({ namespace: env.ns, labelSelector: `batch.kubernetes.io/job-name=${session}-backup` })).items;
  }
  const running = (p: V1Pod) => p.status?.containerStatuses?.some((s) => s.state?.running) ?? false;
  const exited = (p: V1Pod) => p.status?.containerStatuses?.some((s) => s.state?.terminated) ?? false;
  async function stageOf(session: string): Promise<string> {
    const s = await env.getSession("backupsessions", session);
    if (s?.status?.phase === "Succeeded" || s?.status?.phase === "Failed") return `already ${s.status.phase}`;
    if (!(await env.jobExists(`${session}-backup`))) return `Pending (${s?.status?.conditions?.find((x) => x.type === "Completed")?.reason ?? "no reason"})`;
    const pods = await podsOf(session);
    if (pods.some(exited)) return "pod exited, status not written";
    if (pods.some(running)) return "pod running";
    return "Job created";
  }

  before(async function () {
    env = new BackupEnv(c(), `e2e-faults-${id}`, `operator-faults-${id}`);
    // Two replicas (a leader to kill), and a short node-lost bound (the chart's value) so the node fault ends in seconds.
    await env.setUp([], 2, { nodeLostLimit: `${NODE_LOST_LIMIT_S}s`, podStartLimit: "10m" });
    jobs = await env.recordJobs();
    sessions = await record<BackupSession>(env.kc, `/apis/stash.appscode.com/v1beta1/namespaces/${env.ns}/backupsessions`);
    await env.storageSecret("azure-secret", PASSWORD);
    for (const pvc of ["big", "small-p", "small-j", "small-x"]) await env.pvc(pvc);
    await Promise.all([
      // Random, so nothing deduplicates: restic uploads all of it, over the slowed link while the round lasts.
      mustRunToolbox(env.core, { namespace: env.ns, pvc: "big", name: "write-big", script: "head -c 64000000 /dev/urandom > /data/big && echo small > /data/small", timeoutMs: 120_000 }),
      // A few seconds of restic for the last stage, so it is still unfinished when the operators freeze.
      mustRunToolbox(env.core, { namespace: env.ns, pvc: "small-x", name: "write-small-x", script: "head -c 30000000 /dev/urandom > /data/file" }),
      ...["small-p", "small-j"].map((pvc) => mustRunToolbox(env.core, { namespace: env.ns, pvc, name: `write-${pvc}`, script: `echo ${pvc} > /data/file` })),
    ]);
    await Promise.all(FAULTS.flatMap((f) => [
      env.repository(`${f.key}-a`, "azure-secret", `/e2e/faults-${id}/${f.key}-a`),
      env.repository(`${f.key}-b`, "azure-secret", `/e2e/faults-${id}/${f.key}-b`),
      env.repository(`${f.key}-c`, "azure-secret", `/e2e/faults-${id}/${f.key}-c`),
    ]));
    for (const f of FAULTS) {
      await env.backupConfiguration(`${f.key}-r`, { repository: { name: `${f.key}-a` }, backupHistoryLimit: 5 }, "big");
      await env.backupConfiguration(`${f.key}-p`, { repository: { name: `${f.key}-a` }, backupHistoryLimit: 5 }, "small-p");
      await env.backupConfiguration(`${f.key}-j`, { repository: { name: `${f.key}-b` }, backupHistoryLimit: 5, runtimeSettings: { pod: { nodeSelector: { [RELEASE_LABEL]: f.key } } } }, "small-j");
      await env.backupConfiguration(`${f.key}-x`, { repository: { name: `${f.key}-c` }, backupHistoryLimit: 5 }, "small-x");
    }
  });

  after(async function () {
    this.timeout(180_000);
    printTable();
    if (killedNode) await c().restartNode(killedNode).catch((e: Error) => console.log(`      could not restart ${killedNode}: ${e.message}`));
    for (const n of nodeNames()) await env.kubectl(["label", "node", n, `${RELEASE_LABEL}-`]).catch(() => undefined);
    jobs?.stop();
    sessions?.stop();
    await env?.tearDown();
  });

  function printTable() {
    if (rows.length === 0) return;
    const head = ["fault", "stage", "seen at injection", "started", "right phase+reason", "finished (times)", "duplicate Jobs", "leftover Secrets", "outcome"];
    const body = rows.map((r) => [r.fault, r.stage, r.seen, String(r.started), String(r.right), String(r.finishes), String(r.duplicateJobs), String(r.leftoverSecrets), r.outcome]);
    const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
    const line = (cells: string[]) => `      | ${cells.map((x, i) => x.padEnd(widths[i]!)).join(" | ")} |`;
    console.log(line(head));
    console.log(`      |${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
    for (const b of body) console.log(line(b));
    const total = (k: keyof Row) => rows.reduce((a, r) => a + Number(r[k]), 0);
    console.log(`      total: ${total("started")} sessions, ${total("right")} right, ${total("duplicateJobs")} duplicate Jobs, ${total("leftoverSecrets")} leftover Secrets`);
    for (const n of notes) console.log(`      ${n}`);
  }

  /** Times each session went from unfinished to Succeeded/Failed, from every version the watch saw. */
  function finishes(session: string): number {
    let n = 0;
    let last: string | undefined;
    for (const e of sessions.events) {
      if (e.object.metadata?.name !== session) continue;
      const phase = e.type === "DELETED" ? undefined : e.object.status?.phase;
      const done = phase === "Succeeded" || phase === "Failed";
      if (done && phase !== last) n++;
      last = done ? phase : undefined;
    }
    return n;
  }

  async function round(f: Fault): Promise<void> {
    const name = (s: Stage) => `${f.key}-${SUFFIX[s]}`;
    // The running stage first, then the one queued behind it on the same Repository.
    await env.backupSession(name("pod running"), `${f.key}-r`);
    await waitFor(`${name("pod running")}'s Job`, () => env.jobExists(`${name("pod running")}-backup`), { timeoutMs: 60_000, intervalMs: 200 });
    // Its pod's uploads slowed as soon as it has an address, and seen uploading: it is running when the fault hits.
    const slowPod = await waitFor(`${name("pod running")}'s pod running`, async () => (await podsOf(name("pod running"))).find((p) => running(p) && p.status?.podIP), { timeoutMs: 90_000, intervalMs: 100 });
    const slowIp = slowPod.status!.podIP!;
    await c().azurite.throttle(slowIp, SLOW_LINK_BPS);
    if (f.sameNode) await env.patchBackupConfiguration(`${f.key}-x`, { runtimeSettings: { pod: { nodeSelector: { "kubernetes.io/hostname": slowPod.spec!.nodeName! } } } });
    await env.backupSession(name("Pending"), `${f.key}-p`);
    await env.backupSession(name("Job created"), `${f.key}-j`);
    await env.backupSession(name("pod exited, status not written"), `${f.key}-x`);
    await waitFor(`the stages of ${f.key} in place`, async () => {
      const [p, j, r, x] = await Promise.all(STAGES.map((s) => stageOf(name(s))));
      // The last stage's pod may still be starting: it is frozen out of sight next, whatever it does.
      return p!.startsWith("Pending (Queued") && j === "Job created" && r === "pod running" && (x === "pod running" || x === "Job created");
    }, { timeoutMs: 90_000, intervalMs: 200 });
    const node = slowPod.spec!.nodeName!;

    // Freeze the operators at once (the last stage's pod may exit any moment, and the operators
    // must not see it), let that pod exit unobserved while the running stage's restic gets to
    // uploading, then fault and thaw.
    const leader = await env.op.leader();
    const pids = await operatorPids();
    signal(pids.values(), "SIGSTOP");
    let seen: Record<Stage, string>;
    let sent = 0;
    try {
      sent = await waitFor(`${name("pod running")}'s restic uploading`, async () => {
        const n = await c().azurite.throttle(slowIp, SLOW_LINK_BPS);
        return n >= UPLOADING_BYTES ? n : undefined;
      }, { timeoutMs: 60_000, intervalMs: 250 });
      await waitFor(`${name("pod exited, status not written")}'s pod to exit`, async () => (await podsOf(name("pod exited, status not written"))).some(exited), { timeoutMs: 60_000, intervalMs: 100 });
      seen = Object.fromEntries(await Promise.all(STAGES.map(async (s) => [s, await stageOf(name(s))] as const))) as Record<Stage, string>;
      await f.inject({ node, leaderPid: pids.get(leader) ?? 0 });
    } finally {
      signal(pids.values(), "SIGCONT");
    }
    const injectedAt = Date.now();
    await f.heal({ node });
    const healedAt = Date.now();
    const sentAtHeal = await c().azurite.throttle(slowIp, 0);

    for (const n of f.releaseTo?.({ node }) ?? nodeNames()) await env.kubectl(["label", "node", n, `${RELEASE_LABEL}=${f.key}`, "--overwrite"]);
    const ended = await Promise.all(STAGES.map((s) => env.waitForPhase("backupsessions", name(s), ["Succeeded", "Failed"], 240_000).catch((e: Error) => e)));
    for (const n of nodeNames()) await env.kubectl(["label", "node", n, `${RELEASE_LABEL}-`]).catch(() => undefined);
    // The credentials Secrets go right after the status write; a moment for the deletes to land.
    await waitFor(`${f.key}: credentials Secrets cleaned up`, async () => {
      const list = await env.core.listNamespacedSecret({ namespace: env.ns, labelSelector: "app.kubernetes.io/managed-by=blobstash" });
      return !list.items.some((s) => s.metadata?.name?.startsWith(`${f.key}-`));
    }, { timeoutMs: 30_000, intervalMs: 250 }).catch(() => undefined);
    const secrets = (await env.core.listNamespacedSecret({ namespace: env.ns, labelSelector: "app.kubernetes.io/managed-by=blobstash" })).items.map((s) => s.metadata?.name ?? "");

    STAGES.forEach((stage, i) => {
      const session = name(stage);
      const end = ended[i]!;
      const completed = end instanceof Error ? undefined : end.status?.conditions?.find((x) => x.type === "Completed");
      const phase = end instanceof Error ? "not finished" : end.status?.phase ?? "";
      const want = f.expect(stage);
      const right = phase === want.phase && (want.reason === undefined || completed?.reason === want.reason);
      const jobCount = BackupEnv.jobsOf(jobs, session).length;
      rows.push({
        fault: f.name,
        stage,
        seen: seen[stage],
        started: 1,
        right: right ? 1 : 0,
        finishes: finishes(session),
        duplicateJobs: Math.max(0, jobCount - 1),
        leftoverSecrets: secrets.filter((s) => s === `${session}-backup-credentials`).length,
        outcome: `${phase}/${completed?.reason ?? "-"}${right ? "" : ` (want ${want.phase}/${want.reason ?? "any"}): ${end instanceof Error ? end.message.split("\n")[0] : completed?.message ?? ""}`}`,
      });
    });
    notes.push(`${f.name}: the running stage had sent ${(sent / 1e6).toFixed(1)} MB before the fault, ${(sentAtHeal / 1e6).toFixed(1)} MB when it healed (link slowed to ${SLOW_LINK_BPS / 1024} KiB/s until then); fault held ${((healedAt - injectedAt) / 1000).toFixed(1)} s after injection; round done ${((Date.now() - injectedAt) / 1000).toFixed(1)} s after it`);
  }

  /** Asserts this fault's rows: each session once, right, no duplicate Job, no leftover Secret, each stage really hit. */
  function assertRows(f: Fault) {
    const mine = rows.filter((r) => r.fault === f.name);
    assert.equal(mine.length, STAGES.length);
    for (const r of mine) {
      const what = `${f.name} at ${r.stage}: ${r.outcome}`;
      // "Pending (Queued)": the stage, and why it was there.
      assert.ok(r.seen === r.stage || r.seen.startsWith(`${r.stage} (`), `${f.name}: the ${r.stage} session was at "${r.seen}" when the fault hit`);
      assert.equal(r.right, 1, what);
      assert.equal(r.finishes, 1, `${what}: finished ${r.finishes} times`);
      assert.equal(r.duplicateJobs, 0, `${what}: duplicate Jobs`);
      assert.equal(r.leftoverSecrets, 0, `${what}: leftover credentials Secret`);
    }
  }

  const FAULTS: Fault[] = [
    {
      key: "leader",
      name: "leader operator pod killed (SIGKILL)",
      inject: async ({ leaderPid }) => {
        assert.ok(leaderPid > 0, "found the leader's process");
        process.kill(leaderPid, "SIGKILL");
      },
      heal: async () => {
        await env.op.waitReady();
      },
      expect: () => ok,
    },
    {
      key: "apiserver",
      name: "API server restarted (down 5 s)",
      inject: () => c().restartApiserver(5_000),
      heal: async () => undefined,
      expect: () => ok,
    },
    {
      key: "etcd",
      name: "etcd restarted (down 5 s)",
      inject: () => c().restartEtcd(5_000),
      heal: async () => undefined,
      expect: () => ok,
    },
    {
      key: "azurite",
      name: "Azurite stopped for 20 s",
      inject: () => c().azurite.stop(),
      heal: async () => {
        await sleep(20_000);
        await c().azurite.start();
      },
      // restic retries a backend that does not answer; the operator's probes come back with it.
      expect: () => ok,
    },
    {
      key: "azure5xx",
      name: "Azure 503 + Retry-After 10 s, then 500 10 s",
      inject: () => c().azurite.fault({ status: 503, retryAfter: 2 }),
      heal: async () => {
        await sleep(10_000);
        await c().azurite.fault({ status: 500 });
        await sleep(10_000);
        await c().azurite.fault(undefined);
      },
      // Both are retryable for the Azure SDK and for restic: a transient outage costs time, not the backup.
      expect: () => ok,
    },
    {
      key: "node",
      name: "node of the running Job killed",
      inject: async ({ node }) => {
        killedNode = node;
        nodeTimes.killed = Date.now();
        await c().killNode(node);
      },
      heal: async ({ node }) => {
        // What the session shows, and when, against when the node was marked not Ready.
        const session = "node-r";
        const shown = await waitFor("the session to name the lost node", async () => {
          const s = await env.getSession("backupsessions", session);
          return s?.status?.conditions?.find((x) => x.type === "NodeReady" && x.status === "False");
        }, { timeoutMs: 120_000, intervalMs: 250 });
        const n = (await env.core.readNode({ name: node })) as V1Node;
        const notReadyAt = Date.parse(String(n.status?.conditions?.find((x) => x.type === "Ready")?.lastTransitionTime));
        nodeTimes.notReady = notReadyAt;
        const delay = Date.parse(shown.lastTransitionTime) - notReadyAt;
        nodeTimes.delayMs = delay;
        notes.push(`node ${node} Ready -> ${n.status?.conditions?.find((x) => x.type === "Ready")?.status} at ${new Date(notReadyAt).toISOString()}; session condition NodeReady=False ${shown.reason} ${(delay / 1000).toFixed(1)} s later: "${shown.message}"`);
        assert.ok(delay <= 10_000, `the lost node reached the session ${delay} ms after the node was marked not Ready`);
        assert.match(shown.message, new RegExp(`node ${node}`));
      },
      expect: (stage) => (stage === "pod running" ? { phase: "Failed", reason: "NodeLost" } : ok),
      releaseTo: ({ node }) => nodeNames().filter((n) => n !== node),
      sameNode: true,
      after: async () => {
        // When the node was killed, marked not Ready, and the session failed NodeLost (timestamps of second resolution).
        const r = await env.getSession("backupsessions", "node-r");
        const lostAt = Date.parse(String(r?.status?.conditions?.find((x) => x.type === "Completed")?.lastTransitionTime));
        const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
        notes.push(`node loss: node marked not Ready ${s(nodeTimes.notReady - nodeTimes.killed)} after the kill (--node-monitor-grace-period 16s); session NodeReady=False ${s(nodeTimes.delayMs)} after that; NodeLost ${s(lostAt - nodeTimes.notReady)} after it (--node-lost-limit ${NODE_LOST_LIMIT_S}s)`);
        assert.ok(lostAt - nodeTimes.notReady >= NODE_LOST_LIMIT_S * 1000 - 1000, "NodeLost only after the node-lost limit");
        // The exited stage's pod ran on the killed node: its Job either completed (the kubelet posted the pod's end in time) or was deleted by the operator.
        const xJob = "node-x-backup";
        const seen = jobs.events.filter((e) => e.object.metadata?.name === xJob);
        const completed = seen.some((e) => e.object.status?.conditions?.some((x) => x.type === "Complete" && x.status === "True"));
        const deleted = seen.some((e) => e.type === "DELETED");
        notes.push(`node loss: the exited stage's Job on the killed node ${completed ? "completed (its end was posted before the kill)" : deleted ? "was deleted unfinished by the operator after the node-lost limit (its pod's end was never posted)" : "is still there, unfinished"}`);
      },
    },
  ];

  for (const f of FAULTS) {
    it(`${f.name}: every session ends once, rightly, with no duplicate Job or leftover Secret`, async function () {
      await round(f);
      assertRows(f);
      // No Job of the round left behind: a finished session's Job on a lost node goes too (NodeLost, or a verdict its node never posted).
      await waitFor(`${f.key}: no Job of the round left unfinished`, async () => {
        for (const s of STAGES) {
          const job = (await env.batch.listNamespacedJob({ namespace: env.ns, fieldSelector: `metadata.name=${f.key}-${SUFFIX[s]}-backup` })).items[0];
          if (job && !job.status?.conditions?.some((x) => (x.type === "Complete" || x.type === "Failed") && x.status === "True")) return false;
        }
        return true;
      }, { timeoutMs: (NODE_LOST_LIMIT_S + 30) * 1000, intervalMs: 500 });
      await f.after?.();
    });
  }

  it("brings the killed node back Ready, and it runs a backup again", async function () {
    assert.ok(killedNode, "the node fault ran");
    const node = killedNode;
    await c().restartNode(node);
    killedNode = undefined;
    // Later test files count on two Ready nodes.
    await waitFor("both nodes Ready again", async () => {
      const list = await env.core.listNode();
      return list.items.length === 2 && list.items.every((n) => n.status?.conditions?.some((x) => x.type === "Ready" && x.status === "True"));
    }, { timeoutMs: 120_000, intervalMs: 500 });
    await env.backupConfiguration("after-node", { repository: { name: "node-c" }, backupHistoryLimit: 5, runtimeSettings: { pod: { nodeSelector: { "kubernetes.io/hostname": node } } } }, "small-x");
    await env.backupSession("after-node-1", "after-node");
    await env.waitForPhase("backupsessions", "after-node-1", ["Succeeded"], 120_000);
  });
});
