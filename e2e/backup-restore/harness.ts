// What the backup and restore e2e tests share: a namespace of their own, the operator installed by
// Helm (watching only that namespace), storage Secrets made the way the docs say, Repositories, PVCs
// from the default StorageClass (data goes in and out through toolbox pods), sessions, and waits that
// explain themselves when they time out (the session's last status and the operator's log tail).

import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { ApiException, BatchV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions, type V1Job } from "@kubernetes/client-node";
import { execa } from "execa";
import type { BackupConfigurationSpec, BackupSession, RestoreSession, RestoreSessionSpec } from "../../operator/api/backup.ts";
import type { Repository } from "../../operator/api/repository.ts";
import { LABEL_SESSION } from "../../operator/api/labels.ts";
import type { Cluster } from "../cluster/cluster.ts";
import { applyCrds, installOperator, type OperatorHandle } from "../cluster/operator.ts";
import { readTree, writeTree } from "../support/toolbox.ts";
import type { SpecEntry, TreeEntry } from "../support/tree.ts";
import { waitFor } from "../cluster/wait.ts";
import { record, type Recorder } from "./recorder.ts";

export const CONTAINER = "stash-backup";
export const STASH = { group: "stash.appscode.com", version: "v1beta1" };
export const REPOSITORIES = { group: "stash.appscode.com", version: "v1alpha1", plural: "repositories" };
export const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

export type SessionKind = "backupsessions" | "restoresessions";
export type AnySession = BackupSession & RestoreSession;

const notFound = (err: unknown) => err instanceof ApiException && err.code === 404;

export class BackupEnv {
  readonly cluster: Cluster;
  readonly ns: string;
  readonly kc: KubeConfig;
  readonly core: CoreV1Api;
  readonly batch: BatchV1Api;
  readonly custom: CustomObjectsApi;
  readonly blob: BlobServiceClient;
  readonly operatorName: string;
  op!: OperatorHandle;
  private work = "";

  constructor(cluster: Cluster, ns: string, operatorName: string) {
    this.cluster = cluster;
    this.ns = ns;
    this.operatorName = operatorName;
    this.kc = new KubeConfig();
    this.kc.loadFromFile(cluster.kubeconfig);
    this.core = this.kc.makeApiClient(CoreV1Api);
    this.batch = this.kc.makeApiClient(BatchV1Api);
    this.custom = this.kc.makeApiClient(CustomObjectsApi);
    const az = cluster.azurite;
    this.blob = new BlobServiceClient(`https://${az.account}.blob.${az.endpointSuffix}`, new StorageSharedKeyCredential(az.account, az.key));
  }

  /** The namespace the operator's release lives in (its own, as an admin would install it). */
  get operatorNamespace(): string {
    return `${this.ns}-operator`;
  }

  /**
   * CRDs, the namespace, the container (as an admin would with `az storage container create`) and the
   * operator; `extraArgs` are more operator flags (the chart's operator.extraArgs), `operatorValues`
   * more of the chart's operator values (nodeLostLimit, podStartLimit, ...), `chartValues` other
   * top-level values of the chart.
   */
  async setUp(extraArgs: string[] = [], replicaCount = 1, operatorValues: Record<string, unknown> = {}, chartValues: Record<string, unknown> = {}): Promise<void> {
    this.work = await mkdtemp(path.join(os.tmpdir(), "blobstash-backup-e2e-"));
    await applyCrds(this.cluster);
    await this.core.createNamespace({ body: { metadata: { name: this.ns } } });
    await this.blob.getContainerClient(CONTAINER).createIfNotExists();
    this.op = await installOperator(this.cluster, {
      release: this.operatorName,
      namespace: this.operatorNamespace,
      // One replica watching only this namespace; a short revalidation lets Repositories recover quickly from the emulator outage test.
      values: { ...chartValues, replicaCount, watchNamespaces: [this.ns], operator: { revalidatePeriod: "2s", ...operatorValues, extraArgs } },
    });
  }

  /** The last lines of the operator's log, for failure messages. */
  async operatorLogTail(lines = 15): Promise<string> {
    return (await this.op.logs().catch((e: Error) => e.message)).split("\n").slice(-lines).join("\n");
  }

  async tearDown(): Promise<void> {
    await this.op?.stop().catch(() => undefined);
    await this.core.deleteNamespace({ name: this.ns }).catch(() => undefined);
    await this.core.deleteNamespace({ name: this.operatorNamespace }).catch(() => undefined);
    if (this.work) await rm(this.work, { recursive: true, force: true });
  }

  /** A storage Secret made the documented way: `kubectl create secret generic --from-file`. */
  async storageSecret(name: string, password: string): Promise<void> {
    const dir = path.join(this.work, name);
    await mkdir(dir, { recursive: true });
    const az = this.cluster.azurite;
    const files = { RESTIC_PASSWORD: password, AZURE_ACCOUNT_NAME: az.account, AZURE_ACCOUNT_KEY: az.key };
    for (const [k, v] of Object.entries(files)) await writeFile(path.join(dir, k), v);
    await this.kubectl(["create", "secret", "generic", "-n", this.ns, name, ...Object.keys(files).map((k) => `--from-file=${k}=${path.join(dir, k)}`)]);
  }

  async kubectl(args: string[], input?: string): Promise<string> {
    const r = await execa("kubectl", args, { env: { ...process.env, KUBECONFIG: this.cluster.kubeconfig }, input, reject: false });
    if (r.exitCode !== 0) throw new Error(`kubectl ${args.join(" ")} failed: ${r.stderr}`);
    return r.stdout;
  }

  /** A Repository under its own prefix, waited on until the operator says it is usable. */
  async repository(name: string, secretName: string, prefix: string): Promise<void> {
    const body = {
      apiVersion: "stash.appscode.com/v1alpha1",
      kind: "Repository",
      metadata: { name },
      spec: { backend: { storageSecretName: secretName, azure: { container: CONTAINER, prefix } } },
    };
    await this.custom.createNamespacedCustomObject({ ...REPOSITORIES, namespace: this.ns, body });
    await this.waitForRepositoryReady(name);
  }

  async getRepository(name: string): Promise<Repository> {
    return (await this.custom.getNamespacedCustomObject({ ...REPOSITORIES, namespace: this.ns, name })) as Repository;
  }

  async waitForRepositoryReady(name: string, timeoutMs = 30_000): Promise<Repository> {
    let last: unknown;
    try {
      return await waitFor(`Repository ${this.ns}/${name} Ready=True`, async () => {
        const r = await this.getRepository(name);
        last = r.status?.conditions?.find((c) => c.type === "Ready");
        return r.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ? r : undefined;
      }, { timeoutMs, intervalMs: 200 });
    } catch (err) {
      throw new Error(`${(err as Error).message}; last Ready: ${JSON.stringify(last)}`);
    }
  }

  /** A PVC of the default StorageClass, waited on until it is bound. */
  async pvc(name: string): Promise<void> {
    await this.core.createNamespacedPersistentVolumeClaim({
      namespace: this.ns,
      body: { metadata: { name }, spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } } },
    });
    await waitFor(`PVC ${this.ns}/${name} bound`, async () => (await this.core.readNamespacedPersistentVolumeClaim({ namespace: this.ns, name })).status?.phase === "Bound", {
      timeoutMs: 30_000, intervalMs: 100,
    });
  }

  /** Writes a tree into a PVC through a toolbox pod. */
  writeTree(pvc: string, spec: readonly SpecEntry[]): Promise<void> {
    return writeTree(this.core, this.ns, pvc, spec);
  }

  /** Reads a PVC's tree back through a toolbox pod. */
  readTree(pvc: string): Promise<TreeEntry[]> {
    return readTree(this.core, this.ns, pvc);
  }

  async backupConfiguration(name: string, spec: Partial<BackupConfigurationSpec> & { repository: { name: string } }, target = "source"): Promise<void> {
    const body = {
      apiVersion: "stash.appscode.com/v1beta1",
      kind: "BackupConfiguration",
      metadata: { name },
      spec: { target: { ref: { apiVersion: "v1", kind: "PersistentVolumeClaim", name: target } }, ...spec },
    };
    await this.custom.createNamespacedCustomObject({ ...STASH, plural: "backupconfigurations", namespace: this.ns, body });
  }

  async patchBackupConfiguration(name: string, spec: Record<string, unknown>): Promise<void> {
    await this.custom.patchNamespacedCustomObject({ ...STASH, plural: "backupconfigurations", namespace: this.ns, name, body: { spec } }, mergePatch);
  }

  /** An instant backup: a BackupSession made by hand for the configuration. */
  async backupSession(name: string, config: string): Promise<void> {
    const body = {
      apiVersion: "stash.appscode.com/v1beta1",
      kind: "BackupSession",
      metadata: { name, labels: { "stash.appscode.com/invoker-type": "BackupConfiguration", "stash.appscode.com/invoker-name": config } },
      spec: { invoker: { apiGroup: "stash.appscode.com", kind: "BackupConfiguration", name: config } },
    };
    await this.custom.createNamespacedCustomObject({ ...STASH, plural: "backupsessions", namespace: this.ns, body });
  }

  async restoreSession(name: string, repository: string, target: string, rule: Record<string, unknown> = { snapshots: ["latest"] }, extra: Partial<RestoreSessionSpec> = {}): Promise<void> {
    const body = {
      apiVersion: "stash.appscode.com/v1beta1",
      kind: "RestoreSession",
      metadata: { name },
      spec: { repository: { name: repository }, target: { ref: { apiVersion: "v1", kind: "PersistentVolumeClaim", name: target }, rules: [rule] }, ...extra },
    };
    await this.custom.createNamespacedCustomObject({ ...STASH, plural: "restoresessions", namespace: this.ns, body });
  }

  async getSession(kind: SessionKind, name: string): Promise<AnySession | undefined> {
    try {
      return (await this.custom.getNamespacedCustomObject({ ...STASH, plural: kind, namespace: this.ns, name })) as AnySession;
    } catch (err) {
      if (notFound(err)) return undefined;
      throw err;
    }
  }

  async listSessions(kind: SessionKind): Promise<AnySession[]> {
    return ((await this.custom.listNamespacedCustomObject({ ...STASH, plural: kind, namespace: this.ns })) as { items: AnySession[] }).items;
  }

  /** Waits until the session's phase is one of `phases`; fails early, with its status, when it ends in another. */
  async waitForPhase(kind: SessionKind, name: string, phases: string[], timeoutMs = 60_000): Promise<AnySession> {
    let last: AnySession | undefined;
    try {
      return await waitFor(`${kind} ${this.ns}/${name} in phase ${phases.join("|")}`, async () => {
        last = await this.getSession(kind, name);
        return last?.status?.phase && phases.includes(last.status.phase) ? last : undefined;
      }, {
        timeoutMs,
        intervalMs: 200,
        abortIf: () => {
          const p = last?.status?.phase;
          return (p === "Succeeded" || p === "Failed") && !phases.includes(p) ? `it ended ${p}` : undefined;
        },
      });
    } catch (err) {
      throw new Error(`${(err as Error).message}\nlast status: ${JSON.stringify(last?.status, null, 1)}\noperator log tail:\n${await this.operatorLogTail()}`);
    }
  }

  /** Records every Job of this namespace (labelled by the operator) from now on. */
  recordJobs(): Promise<Recorder<V1Job>> {
    return record<V1Job>(this.kc, `/apis/batch/v1/namespaces/${this.ns}/jobs`, { labelSelector: "app.kubernetes.io/managed-by=blobstash" });
  }

  /** Distinct Jobs ever seen for one session (by its label). */
  static jobsOf(recorder: Recorder<V1Job>, session: string): V1Job[] {
    return [...recorder.byUid().values()].filter((j) => j.metadata?.labels?.[LABEL_SESSION] === session);
  }

  async jobExists(name: string): Promise<boolean> {
    try {
      await this.batch.readNamespacedJob({ namespace: this.ns, name });
      return true;
    } catch (err) {
      if (notFound(err)) return false;
      throw err;
    }
  }

  /** restic against the emulator with the account key, as an admin would inspect a repository. */
  async restic(prefix: string, password: string, args: string[]): Promise<string> {
    const az = this.cluster.azurite;
    const r = await execa("restic", ["--no-cache", "-r", `azure:${CONTAINER}:${prefix}`, ...args], {
      env: { AZURE_ACCOUNT_NAME: az.account, AZURE_ACCOUNT_KEY: az.key, AZURE_ENDPOINT_SUFFIX: az.endpointSuffix, RESTIC_PASSWORD: password },
      reject: false,
    });
    if (r.exitCode !== 0) throw new Error(`restic ${args.join(" ")} exited ${r.exitCode}: ${r.stderr}`);
    return r.stdout;
  }

  async snapshots(prefix: string, password: string): Promise<Array<{ id: string; time: string; tags?: string[]; hostname: string }>> {
    return JSON.parse(await this.restic(prefix, password, ["snapshots", "--json"])) as Array<{ id: string; time: string; tags?: string[]; hostname: string }>;
  }
}
