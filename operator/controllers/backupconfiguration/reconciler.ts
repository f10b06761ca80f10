// BackupConfiguration: validates the configuration, creates a BackupSession each time the schedule
// fires (deterministic names, so a restart never doubles a run), and deletes finished sessions
// beyond backupHistoryLimit (their Jobs go with them through ownerReferences).

import type { KubeClient } from "../../kube/api-client.ts";
import { isConflict, isNotFound } from "../../kube/client.ts";
import { BACKUP_CONFIGURATIONS, BACKUP_SESSIONS } from "../../kube/resources.ts";
import { patchStatusIfChanged } from "../../kube/status.ts";
import type { ReconcileResult } from "../../kube/controller.ts";
import type { EventRecorder } from "../../kube/events.ts";
import type { InformerSet } from "../../kube/informer.ts";
import type { Logger } from "../../observability/logger.ts";
import {
  BACKUP_CONFIGURATION_KIND,
  BACKUP_SESSION_KIND,
  STASH_GROUP,
  isFinishedPhase,
  V1BETA1_API_VERSION,
  type BackupConfiguration,
  type BackupConfigurationStatus,
  type BackupSession,
} from "../../api/backup.ts";
import { setConditions, toApiTime, type ConditionInput } from "../../api/conditions.ts";
import { LABEL_MANAGED_BY, MANAGED_BY, STASH_LABEL_INVOKER_NAME, STASH_LABEL_INVOKER_TYPE, labelValue } from "../../api/labels.ts";
import { unsupportedBackupFields } from "../jobs/unsupported.ts";
import { decideSchedule, scheduledSessionName, sessionsBeyondHistoryLimit, validateSchedule } from "./schedule.ts";

/** Stash's default for backupHistoryLimit. */
export const DEFAULT_BACKUP_HISTORY_LIMIT = 1;

export interface BackupConfigurationDeps {
  kube: KubeClient;
  clock: () => Date;
  log: Logger;
  events: EventRecorder;
  sessions: InformerSet<BackupSession>;
  /** Schedules whose runs come closer than this are refused. Default 1 minute. */
  minScheduleIntervalMs?: number;
}

/** Default floor between scheduled runs: cron's own resolution, as CronJob has it. */
export const DEFAULT_MIN_SCHEDULE_INTERVAL_MS = 60_000;

export class BackupConfigurationReconciler {
  private readonly deps: BackupConfigurationDeps;

  constructor(deps: BackupConfigurationDeps) {
    this.deps = deps;
  }

  async reconcile(namespace: string, name: string): Promise<ReconcileResult> {
    const config = await this.deps.kube.find<BackupConfiguration>(BACKUP_CONFIGURATIONS, namespace, name);
    if (!config || config.metadata?.deletionTimestamp) return {};
    const now = this.deps.clock();
    const spec = config.spec;
    const generation = config.metadata?.generation;
    const problems = unsupportedBackupFields(spec, namespace).map((r) => `${r.field}: ${r.message}`);
    const scheduleProblem = spec?.schedule ? validateSchedule(spec.schedule, this.deps.minScheduleIntervalMs ?? DEFAULT_MIN_SCHEDULE_INTERVAL_MS) : undefined;
    if (scheduleProblem) problems.push(`spec.schedule: ${scheduleProblem}`);

    const status: BackupConfigurationStatus = { observedGeneration: generation };
    let requeueAfterMs: number | undefined;
    const conditions: ConditionInput[] = [];
    if (problems.length) {
      status.phase = "Invalid";
      conditions.push({ type: "Ready", status: "False", reason: "Invalid", message: problems.join("; "), observedGeneration: generation });
    } else {
      status.phase = "Ready";
      conditions.push({ type: "Ready", status: "True", reason: "Valid", message: "the configuration can run", observedGeneration: generation });
      if (spec?.schedule && spec.paused) {
        conditions.push({ type: "Scheduled", status: "False", reason: "Paused", message: "spec.paused is true: no sessions are created until it is false", observedGeneration: generation });
        status.nextScheduleTime = undefined;
      } else if (spec?.schedule) {
        const created = config.metadata?.creationTimestamp ? new Date(config.metadata.creationTimestamp) : now;
        const since = config.status?.lastScheduleTime ? new Date(config.status.lastScheduleTime) : created;
        const decision = decideSchedule(spec.schedule, since, now);
        status.nextScheduleTime = toApiTime(decision.next);
        let scheduled: { reason: string; message: string } = { reason: "Scheduled", message: `next backup at ${status.nextScheduleTime}` };
        const previous = config.status?.conditions?.find((c) => c.type === "Scheduled");
        if (decision.due) {
          const missed = decision.missed ? ` (${decision.missed} earlier scheduled time(s) were missed and skipped)` : "";
          const running = this.activeSession(config);
          status.lastScheduleTime = toApiTime(decision.due);
          if (running) {
            // Runs never overlap (CronJob's concurrencyPolicy: Forbid): sessions cannot pile up behind a slow one.
            const message = `the run at ${status.lastScheduleTime} was skipped: BackupSession ${running} has not finished, and runs never overlap${missed}; next backup at ${status.nextScheduleTime}`;
            scheduled = { reason: "RunSkipped", message };
            this.deps.events.record(this.involved(config), "Warning", "RunSkipped", message);
          } else {
            const sessionName = await this.createSession(config, decision.due);
            status.lastBackupSession = sessionName;
            this.deps.events.record(this.involved(config), "Normal", "SessionCreated", `created BackupSession ${sessionName} for ${status.lastScheduleTime}${missed}`);
          }
        } else if (previous?.reason === "RunSkipped" && previous.status === "True") {
          scheduled = { reason: previous.reason, message: previous.message }; // still the latest run's story
        }
        conditions.push({ type: "Scheduled", status: "True", ...scheduled, observedGeneration: generation });
        requeueAfterMs = Math.max(50, decision.next.getTime() - this.deps.clock().getTime());
      } else {
        conditions.push({ type: "Scheduled", status: "False", reason: "NoSchedule", message: "no spec.schedule: only BackupSessions made by hand run", observedGeneration: generation });
        status.nextScheduleTime = undefined;
      }
    }
    status.conditions = setConditions(config.status?.conditions, conditions, now);
    await this.pruneHistory(config);
    await patchStatusIfChanged(this.deps.kube, { ...BACKUP_CONFIGURATIONS, namespace, name }, config.status, status as Record<string, unknown>);
    return requeueAfterMs === undefined ? {} : { requeueAfterMs };
  }

  private async createSession(config: BackupConfiguration, scheduledAt: Date): Promise<string> {
    const namespace = config.metadata?.namespace ?? "";
    const configName = config.metadata?.name ?? "";
    const name = scheduledSessionName(configName, scheduledAt);
    const body: BackupSession = {
      apiVersion: V1BETA1_API_VERSION,
      kind: BACKUP_SESSION_KIND,
      metadata: {
        name,
        namespace,
        labels: { [STASH_LABEL_INVOKER_TYPE]: BACKUP_CONFIGURATION_KIND, [STASH_LABEL_INVOKER_NAME]: labelValue(configName), [LABEL_MANAGED_BY]: MANAGED_BY },
        annotations: { "blobstash.io/scheduled-at": scheduledAt.toISOString() },
        ownerReferences: [{ apiVersion: V1BETA1_API_VERSION, kind: BACKUP_CONFIGURATION_KIND, name: configName, uid: config.metadata?.uid ?? "", controller: true, blockOwnerDeletion: true }],
      },
      spec: { invoker: { apiGroup: STASH_GROUP, kind: BACKUP_CONFIGURATION_KIND, name: configName } },
    };
    try {
      await this.deps.kube.create(BACKUP_SESSIONS, namespace, body);
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
    return name;
  }

  /** A session of this configuration that has not finished (and is not being deleted), if any. */
  private activeSession(config: BackupConfiguration): string | undefined {
    const namespace = config.metadata?.namespace ?? "";
    const active = this.deps.sessions
      .list(namespace)
      .find((s) => belongsTo(s, config) && !s.metadata?.deletionTimestamp && !isFinishedPhase(s.status?.phase));
    return active?.metadata?.name;
  }

  /** Sessions of this configuration, made by the schedule or by hand (see belongsTo). */
  private async pruneHistory(config: BackupConfiguration): Promise<void> {
    const namespace = config.metadata?.namespace ?? "";
    const limit = config.spec?.backupHistoryLimit ?? DEFAULT_BACKUP_HISTORY_LIMIT;
    const mine = this.deps.sessions
      .list(namespace)
      .filter((s) => belongsTo(s, config) && !s.metadata?.deletionTimestamp)
      .map((s) => ({
        name: s.metadata?.name ?? "",
        created: new Date(s.metadata?.creationTimestamp ?? 0),
        finished: isFinishedPhase(s.status?.phase),
      }));
    for (const name of sessionsBeyondHistoryLimit(mine, limit)) {
      try {
        await this.deps.kube.delete(BACKUP_SESSIONS, namespace, name, { propagationPolicy: "Background" });
        this.deps.log.debug("deleted BackupSession beyond backupHistoryLimit", { namespace, name, limit });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  }

  private involved(config: BackupConfiguration) {
    return { apiVersion: V1BETA1_API_VERSION, kind: BACKUP_CONFIGURATION_KIND, metadata: config.metadata ?? {} };
  }
}

/**
 * Whether a BackupSession runs this configuration: its invoker names the BackupConfiguration kind
 * (of Stash's group, when a group is given) and this name, in the same namespace. A session whose
 * invoker names another kind with the same name is not this configuration's, and neither counts
 * toward its backupHistoryLimit nor can be pruned by it.
 */
export function belongsTo(session: BackupSession, config: BackupConfiguration): boolean {
  const invoker = session.spec?.invoker;
  return (
    !!invoker &&
    invoker.kind === BACKUP_CONFIGURATION_KIND &&
    (invoker.apiGroup === undefined || invoker.apiGroup === "" || invoker.apiGroup === STASH_GROUP) &&
    invoker.name === config.metadata?.name &&
    session.metadata?.namespace === config.metadata?.namespace
  );
}
