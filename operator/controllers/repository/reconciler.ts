// The Repository reconcile: read the Repository and its Secret, check the Secret, probe Azure,
// check the password, decide the conditions, write status only when it changed, record an event
// when Ready changes, and run the wipeOut finalizer. Level-based and idempotent; the runtime in
// operator/kube/ calls `reconcile` per key and requeues after `requeueAfterMs`.

import type { V1Namespace, V1Secret } from "@kubernetes/client-node";
import { type Condition, conditionsEqual, findCondition, setConditions, toApiTime } from "../../api/conditions.ts";
import {
  isAzureRepository,
  prefixOverlap,
  prefixProblem,
  REPOSITORY_API_VERSION,
  REPOSITORY_KIND,
  type Repository,
  type RepositoryConditionType,
  type RepositoryStatus,
  resticRepositoryUrl,
  normalizePrefix,
  storageSecretNameOf,
  WIPE_OUT_FINALIZER,
} from "../../api/repository.ts";
import { AzureClientCache } from "../../azure/clients.ts";
import { type AzureAdminPolicy, operatorIdentityRefusal } from "../../azure/admin-policy.ts";
import { type AzureCredentials, readStorageSecret, type StorageSecret } from "../../azure/credentials.ts";
import { classifyAzureError } from "../../azure/errors.ts";
import { deleteRepositoryData, probeBackend } from "../../azure/probe.ts";
import { msUntilSasStateChange, sasValidity } from "../../azure/sas.ts";
import type { EventRecorder, EventType } from "../../kube/events.ts";
import type { KubeClient } from "../../kube/api-client.ts";
import { isConflict, isNotFound } from "../../kube/client.ts";
import { NAMESPACES, REPOSITORIES, SECRETS } from "../../kube/resources.ts";
import { mergePatchObject, patchStatusIfChanged } from "../../kube/status.ts";
import { registerSecret, type Logger } from "../../observability/logger.ts";
import { forgetRepository, setRepositoryReadiness } from "../../observability/metrics.ts";
import { decideConditions, figuresFor, isValidSecretName, type RepositoryObservation, type SecretObservation } from "./decide.ts";
import { PasswordChecker } from "./password-check.ts";

/** A wipe refused because another Repository shares the place is looked at again this often. */
const SHARED_RECHECK_MS = 5_000;

/** Changing this annotation's value makes the next reconcile probe at once (e.g. after creating a container). */
export const REVALIDATE_ANNOTATION = "blobstash.io/revalidate";

export interface RepositoryReconcilerDeps {
  kube: KubeClient;
  clock: () => Date;
  /** How often a Repository is probed again when nothing else triggers it. */
  revalidateAfterMs: number;
  /** SasExpiringSoon this long before a SAS expires. */
  sasWarnBeforeMs: number;
  azurePolicy: AzureAdminPolicy;
  log: Logger;
  events?: EventRecorder;
  /** Informer cache lookups; without them the reconciler reads from the API server. */
  getRepository?: (namespace: string, name: string) => Repository | undefined;
  /** Every Repository the operator sees (informer cache), for wipeOut's check of shared places. */
  listRepositories?: () => Repository[];
  getSecret?: (namespace: string, name: string) => Promise<V1Secret | undefined>;
  /** Retry sooner than `revalidateAfterMs` after failures that heal by themselves (network, 5xx). Default 10 s. */
  transientRetryMs?: number;
  /**
   * Rewrite `lastValidationTime` at least this often even when nothing changed. Default 0: never,
   * so a settled Repository costs no API writes (lastValidationTime is then the time of the check
   * that produced the current conditions).
   */
  statusHeartbeatMs?: number;
  azureClients?: AzureClientCache;
  passwordChecker?: PasswordChecker;
}

interface Memo {
  /** What, besides time, can change the outcome: generation, Secret version, revalidate annotation. */
  fingerprint: string;
  checkedAt: number;
  nextCheckMs: number;
  decided: ReturnType<typeof decideConditions>;
}

export class RepositoryReconciler {
  private readonly deps: RepositoryReconcilerDeps;
  private readonly clients: AzureClientCache;
  private readonly passwords: PasswordChecker;
  private readonly memo = new Map<string, Memo>();
  /** Last good credentials per Repository, so wipeOut still works when the Secret went first (namespace deletion). */
  private readonly lastCredentials = new Map<string, AzureCredentials>();
  private readonly lastWipeProblem = new Map<string, string>();

  constructor(deps: RepositoryReconcilerDeps) {
    this.deps = deps;
    this.clients = deps.azureClients ?? new AzureClientCache();
    this.passwords = deps.passwordChecker ?? new PasswordChecker();
  }

  async reconcile(namespace: string, name: string): Promise<{ requeueAfterMs?: number }> {
    const key = `${namespace}/${name}`;
    const repo = await this.readRepository(namespace, name);
    if (!repo) {
      this.forget(key);
      return {};
    }
    if (!isAzureRepository(repo)) {
      // Another backend: not ours. Only take back a finalizer we may have added while it was azure.
      if (repo.metadata?.finalizers?.includes(WIPE_OUT_FINALIZER)) await this.setFinalizer(repo, false);
      this.forget(key);
      return {};
    }
    if (repo.metadata?.deletionTimestamp) return this.finalize(key, repo);
    const wantFinalizer = repo.spec?.wipeOut === true;
    if (wantFinalizer !== (repo.metadata?.finalizers?.includes(WIPE_OUT_FINALIZER) ?? false)) {
      // The write triggers a watch event and the next reconcile validates.
      await this.setFinalizer(repo, wantFinalizer);
      return {};
    }

    const secretName = storageSecretNameOf(repo);
    const secret = secretName ? await this.readSecret(namespace, secretName) : undefined;
    const now = this.deps.clock();
    const fingerprint = [
      repo.metadata?.generation ?? "",
      secret?.metadata?.uid ?? "-",
      secret?.metadata?.resourceVersion ?? "-",
      repo.metadata?.annotations?.[REVALIDATE_ANNOTATION] ?? "",
      // A backup that finished may have initialized the restic repository: check again at once,
      // not a revalidation period later (Ready would say NotInitialized beside a snapshot count).
      repo.status?.lastBackupTime ?? "",
    ].join("|");

    // Woken by a watch event that cannot change the outcome (our own status write, another
    // controller's status field): re-assert what we know instead of probing Azure again.
    const memo = this.memo.get(key);
    if (memo && memo.fingerprint === fingerprint) {
      const remaining = memo.checkedAt + memo.nextCheckMs - now.getTime();
      if (remaining > Math.min(1000, memo.nextCheckMs / 2)) {
        await this.writeStatus(repo, memo.decided, now);
        return { requeueAfterMs: remaining };
      }
    }

    const { observation, credentials } = await this.observe(repo, secretName, secret, now);
    if (credentials) this.lastCredentials.set(key, credentials);
    const decided = decideConditions(observation);
    await this.writeStatus(repo, decided, now);
    const nextCheckMs = this.nextCheckMs(observation, now);
    this.memo.set(key, { fingerprint, checkedAt: now.getTime(), nextCheckMs, decided });
    return { requeueAfterMs: nextCheckMs };
  }

  private async observe(
    repo: Repository,
    secretName: string | undefined,
    secret: V1Secret | undefined,
    now: Date,
  ): Promise<{ observation: RepositoryObservation; credentials?: AzureCredentials }> {
    const azure = repo.spec!.backend!.azure!;
    const namespace = repo.metadata!.namespace!;
    const base = {
      namespace,
      container: azure.container,
      ...(azure.prefix !== undefined ? { prefix: azure.prefix } : {}),
      ...(repo.metadata?.generation !== undefined ? { generation: repo.metadata.generation } : {}),
    };
    let secretObs: SecretObservation;
    if (!secretName) secretObs = { state: "unspecified" };
    else if (!isValidSecretName(secretName)) secretObs = { state: "invalidName", name: secretName };
    else if (!secret) secretObs = { state: "notFound", name: secretName };
    else {
      const parsed = this.parseSecret(secretName, secret, namespace, azure.container);
      const sas = parsed.ok && parsed.credentials.mode === "sas" ? sasValidity(parsed.credentials.sas, now, this.deps.sasWarnBeforeMs) : undefined;
      secretObs = { state: "read", name: secretName, parsed, ...(sas ? { sas } : {}) };
    }
    const specProblem = prefixProblem(azure.prefix);
    if (specProblem) return { observation: { ...base, secret: secretObs, specProblem: { reason: "PrefixTooLong", message: specProblem } } };
    if (secretObs.state !== "read" || !secretObs.parsed.ok) return { observation: { ...base, secret: secretObs } };
    if (secretObs.sas && (secretObs.sas.state === "expired" || secretObs.sas.state === "notYetValid")) {
      return { observation: { ...base, secret: secretObs } };
    }

    const { credentials, resticPassword } = secretObs.parsed;
    const history = repo.status?.lastBackupTime ? { lastBackupTime: repo.status.lastBackupTime } : {};
    try {
      const client = this.clients.get(credentials);
      const target = { container: azure.container, ...(azure.prefix !== undefined ? { prefix: azure.prefix } : {}) };
      const backend = await probeBackend(client, target);
      if (!backend.ok || !backend.initialized) return { observation: { ...base, secret: secretObs, backend, ...history }, credentials };
      const password = await this.passwords.check(`${namespace}/${repo.metadata!.name}`, client, target, resticPassword, backend.config);
      return { observation: { ...base, secret: secretObs, backend, password }, credentials };
    } catch (err) {
      // Whatever the Secret or the container holds, the answer is a condition, not a retry loop in the log.
      const message = err instanceof Error ? err.message : String(err);
      this.deps.log.warn("repository check failed", { repository: `${namespace}/${repo.metadata?.name}`, error: message });
      return { observation: { ...base, secret: secretObs, checkError: message.slice(0, 300) }, credentials };
    }
  }

  /** The Secret as this Repository may use it: with the operator's identity only where the admin granted it for this container. */
  private parseSecret(secretName: string, secret: V1Secret, namespace: string, container: string): StorageSecret {
    const parsed = readStorageSecret(secret.data, { secretName, policy: this.deps.azurePolicy, register: (v) => registerSecret(v, namespace) });
    const refused = parsed.ok ? operatorIdentityRefusal(this.deps.azurePolicy, parsed.credentials, namespace, container) : undefined;
    return refused ? { ok: false, reason: "OperatorIdentityNotAllowed", message: `Secret ${secretName}: ${refused}`, notes: parsed.notes } : parsed;
  }

  private nextCheckMs(o: RepositoryObservation, now: Date): number {
    let ms = this.deps.revalidateAfterMs;
    const transient =
      o.checkError !== undefined || (o.backend && !o.backend.ok && o.backend.failure.transient) || (o.password?.result === "error" && o.password.failure.transient);
    if (transient) ms = Math.min(ms, this.deps.transientRetryMs ?? 10_000);
    if (o.secret.state === "read" && o.secret.parsed.ok && o.secret.parsed.credentials.mode === "sas") {
      const change = msUntilSasStateChange(o.secret.parsed.credentials.sas, now, this.deps.sasWarnBeforeMs);
      if (change !== undefined) ms = Math.min(ms, change + 1000);
    }
    return Math.max(ms, 1000);
  }

  private async writeStatus(repo: Repository, decided: ReturnType<typeof decideConditions>, now: Date): Promise<void> {
    const { namespace, name } = repo.metadata as { namespace: string; name: string };
    const status: RepositoryStatus = repo.status ?? {};
    const current = status.conditions ?? [];
    const next = setConditions<RepositoryConditionType>(current, decided, now);
    const generation = repo.metadata?.generation;
    const heartbeat = this.deps.statusHeartbeatMs ?? 0;
    const stale =
      heartbeat > 0 && (!status.lastValidationTime || now.getTime() - Date.parse(status.lastValidationTime) >= heartbeat);
    const figures = figuresFor(status, next as Condition[]);
    const changed =
      !conditionsEqual(current as Condition[], next as Condition[]) || status.observedGeneration !== generation || stale || Object.keys(figures).length > 0;

    const ready = findCondition(next, "Ready");
    if (ready) setRepositoryReadiness(namespace, name, ready.status === "True", ready.reason);
    if (!changed) return;

    await patchStatusIfChanged(
      this.deps.kube,
      { ...REPOSITORIES, namespace, name },
      status,
      { observedGeneration: generation, conditions: next, lastValidationTime: toApiTime(now), ...figures },
    );
    const before = findCondition(current, "Ready");
    if (ready && (before?.status !== ready.status || before?.reason !== ready.reason)) {
      const type: EventType = ready.status === "True" && (ready.reason === "Ready" || ready.reason === "NotInitialized") ? "Normal" : "Warning";
      this.event(repo, type, ready.reason, ready.message);
      this.deps.log.info("repository readiness changed", {
        repository: `${namespace}/${name}`,
        ready: ready.status,
        reason: ready.reason,
        previousReason: before?.reason,
      });
    }
  }

  private async finalize(key: string, repo: Repository): Promise<{ requeueAfterMs?: number }> {
    if (!repo.metadata?.finalizers?.includes(WIPE_OUT_FINALIZER)) return {};
    if (repo.spec?.wipeOut === true) {
      const outcome = await this.wipe(key, repo);
      if (outcome === "retry") return { requeueAfterMs: 30_000 };
      if (outcome === "shared") return { requeueAfterMs: SHARED_RECHECK_MS };
    }
    await this.setFinalizer(repo, false);
    this.forget(key);
    return {};
  }

  /** Deletes the restic data. "retry" and "shared" keep the finalizer; "done" releases it. */
  private async wipe(key: string, repo: Repository): Promise<"done" | "retry" | "shared"> {
    const azure = repo.spec!.backend!.azure!;
    const namespace = repo.metadata!.namespace!;
    const url = resticRepositoryUrl(azure);
    const secretName = storageSecretNameOf(repo);
    let credentials: AzureCredentials | undefined;
    let problem: string | undefined;
    const secret = secretName && isValidSecretName(secretName) ? await this.readSecret(namespace, secretName) : undefined;
    if (secret) {
      const parsed = this.parseSecret(secretName!, secret, namespace, azure.container);
      if (parsed.ok) credentials = parsed.credentials;
      else problem = parsed.message;
    } else {
      problem = secretName ? `Secret ${secretName} not found in namespace ${namespace}` : "spec.backend.storageSecretName is empty";
    }
    credentials ??= this.lastCredentials.get(key);
    // The container may have changed since those credentials were last used: ask again for this one.
    const refused = credentials ? operatorIdentityRefusal(this.deps.azurePolicy, credentials, namespace, azure.container) : undefined;
    if (refused) {
      credentials = undefined;
      problem = refused;
    }
    const sharer = credentials ? await this.sharedPlace(repo, credentials) : undefined;
    if (sharer) {
      await this.refuseWipe(repo, url, sharer);
      return "shared";
    }
    if (!credentials) {
      if (await this.namespaceTerminating(namespace)) {
        // The Secret went first with its namespace; holding the Repository would hold the namespace forever.
        this.event(repo, "Warning", "WipeOutSkipped", `namespace ${namespace} is being deleted and ${problem}: the data at ${url} was NOT deleted; remove it by hand`);
        return "done";
      }
      this.eventOnce(key, repo, "WipeOutBlocked", `cannot delete ${url}: ${problem}. Restore the Secret, or keep the data by removing the finalizer: kubectl patch repository -n ${namespace} ${repo.metadata!.name} --type=json -p '[{"op":"remove","path":"/metadata/finalizers"}]'`);
      return "retry";
    }
    try {
      const deleted = await deleteRepositoryData(this.clients.get(credentials), azure);
      this.event(repo, "Normal", "WipedOut", `deleted ${deleted} blob(s) of the restic repository at ${url}`);
      this.deps.log.info("wiped out repository data", { repository: key, url, deleted });
      return "done";
    } catch (err) {
      const f = classifyAzureError(err);
      this.eventOnce(key, repo, "WipeOutFailed", `deleting ${url} failed (${f.reason}: ${f.detail}); retrying. To keep the data instead, remove the finalizer ${WIPE_OUT_FINALIZER}`);
      return "retry";
    }
  }

  /**
   * Another Repository whose restic data a wipe of `repo` would touch: same account (or one the
   * operator cannot resolve: it does not guess in the destructive direction), same container, and
   * the same prefix or one inside the other. Repositories being deleted with wipeOut themselves
   * want the data gone too and do not count.
   */
  private async sharedPlace(repo: Repository, credentials: AzureCredentials): Promise<{ key: string; how: string } | undefined> {
    const azure = repo.spec!.backend!.azure!;
    const listed = this.deps.listRepositories ? this.deps.listRepositories() : (await this.deps.kube.list<Repository>(REPOSITORIES, {})).items;
    // The same place first: that is the Repository whose backups are at stake most plainly.
    const same = (r: Repository) => (prefixOverlap(azure.prefix, r.spec?.backend?.azure?.prefix) === "same" ? 0 : 1);
    const others = [...listed].sort((a, b) => same(a) - same(b));
    for (const other of others) {
      const o = other.spec?.backend?.azure;
      if (!o || other.metadata?.uid === repo.metadata?.uid || o.container !== azure.container) continue;
      if (other.metadata?.deletionTimestamp && other.spec?.wipeOut === true) continue;
      const overlap = prefixOverlap(azure.prefix, o.prefix);
      if (!overlap) continue;
      const key = `${other.metadata?.namespace}/${other.metadata?.name}`;
      const account = await this.accountOf(other, key);
      if (account && (account.accountName !== credentials.accountName || account.endpointSuffix !== credentials.endpointSuffix)) continue;
      const place = `container ${azure.container}${account ? ` of storage account ${credentials.accountName}` : ""}`;
      const how =
        overlap === "same"
          ? `the same place (${place}, prefix "${normalizePrefix(o.prefix)}")`
          : overlap === "contains"
            ? `a prefix inside this one's ("${normalizePrefix(o.prefix)}" in ${place})`
            : `a prefix that contains this one's ("${normalizePrefix(o.prefix)}" in ${place})`;
      return { key, how: account ? how : `${how}; its Secret cannot be read to tell whether it uses the same storage account` };
    }
    return undefined;
  }

  private async accountOf(repo: Repository, key: string): Promise<{ accountName: string; endpointSuffix: string } | undefined> {
    const known = this.lastCredentials.get(key);
    if (known) return known;
    const name = storageSecretNameOf(repo);
    const secret = name && isValidSecretName(name) ? await this.readSecret(repo.metadata?.namespace ?? "", name) : undefined;
    const parsed = secret ? this.parseSecret(name!, secret, repo.metadata?.namespace ?? "", repo.spec?.backend?.azure?.container ?? "") : undefined;
    return parsed?.ok ? parsed.credentials : undefined;
  }

  private async refuseWipe(repo: Repository, url: string, sharer: { key: string; how: string }): Promise<void> {
    const { namespace, name } = repo.metadata as { namespace: string; name: string };
    const message =
      `wipeOut refused: Repository ${sharer.key} uses ${sharer.how}, so deleting ${url} would delete its backups. Delete ${sharer.key} first, ` +
      `or keep the data and let this Repository go: kubectl patch repository -n ${namespace} ${name} --type=merge -p '{"spec":{"wipeOut":false}}'`;
    const now = this.deps.clock();
    const conditions = setConditions<RepositoryConditionType>(repo.status?.conditions, [{ type: "Ready", status: "False", reason: "WipeOutRefused", message }], now);
    await patchStatusIfChanged(this.deps.kube, { ...REPOSITORIES, namespace, name }, repo.status, { conditions });
    this.eventOnce(`${namespace}/${name}`, repo, "WipeOutRefused", message);
  }

  private async namespaceTerminating(namespace: string): Promise<boolean> {
    try {
      const ns = await this.deps.kube.get<V1Namespace>(NAMESPACES, undefined, namespace);
      return !!ns.metadata?.deletionTimestamp || ns.status?.phase === "Terminating";
    } catch {
      return false; // no permission or gone: do not guess in the destructive direction
    }
  }

  private async setFinalizer(repo: Repository, present: boolean): Promise<void> {
    const current = repo.metadata?.finalizers ?? [];
    const finalizers = present ? [...current.filter((f) => f !== WIPE_OUT_FINALIZER), WIPE_OUT_FINALIZER] : current.filter((f) => f !== WIPE_OUT_FINALIZER);
    try {
      // resourceVersion in a merge patch makes it conditional: another writer's finalizer is never lost.
      await mergePatchObject(
        this.deps.kube,
        { ...REPOSITORIES, namespace: repo.metadata!.namespace!, name: repo.metadata!.name! },
        { metadata: { finalizers: finalizers.length ? finalizers : null, resourceVersion: repo.metadata?.resourceVersion } },
      );
    } catch (err) {
      if (isNotFound(err)) return;
      if (isConflict(err)) throw new Error(`Repository ${repo.metadata?.namespace}/${repo.metadata?.name} changed while updating finalizers; retrying`);
      throw err;
    }
  }

  private event(repo: Repository, type: EventType, reason: string, message: string): void {
    this.deps.events?.record({ apiVersion: REPOSITORY_API_VERSION, kind: REPOSITORY_KIND, metadata: repo.metadata ?? {} }, type, reason, message);
  }

  private eventOnce(key: string, repo: Repository, reason: string, message: string): void {
    if (this.lastWipeProblem.get(key) === message) return;
    this.lastWipeProblem.set(key, message);
    this.event(repo, "Warning", reason, message);
    this.deps.log.warn("wipeOut blocked", { repository: key, reason });
  }

  /** Drops what this reconciler remembers about a Repository (call on a watch delete event). */
  forgetRepository(namespace: string, name: string): void {
    this.forget(`${namespace}/${name}`);
  }

  private forget(key: string): void {
    this.memo.delete(key);
    this.passwords.forget(key);
    this.lastCredentials.delete(key);
    this.lastWipeProblem.delete(key);
    const i = key.indexOf("/");
    forgetRepository(key.slice(0, i), key.slice(i + 1));
  }

  private async readRepository(namespace: string, name: string): Promise<Repository | undefined> {
    if (this.deps.getRepository) return this.deps.getRepository(namespace, name);
    return this.deps.kube.find<Repository>(REPOSITORIES, namespace, name);
  }

  /**
   * The Secret from the cache, or, when the cache has not seen it (a Secret created together with
   * its Repository may reach the Secret informer after the Repository's), from the API server:
   * SecretNotFound is said only of a Secret that does not exist.
   */
  private async readSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
    return (await this.deps.getSecret?.(namespace, name)) ?? this.deps.kube.find<V1Secret>(SECRETS, namespace, name);
  }
}

/** Keys (namespace/name) of the Repositories that read this Secret: same namespace, same name, azure backend. */
export function repositoryKeysForSecret(secret: { metadata?: { namespace?: string; name?: string } }, repositories: Iterable<Repository>): string[] {
  const ns = secret.metadata?.namespace;
  const name = secret.metadata?.name;
  const out: string[] = [];
  for (const r of repositories) {
    if (r.metadata?.namespace === ns && storageSecretNameOf(r) === name && isAzureRepository(r)) out.push(`${ns}/${r.metadata?.name}`);
  }
  return out;
}
