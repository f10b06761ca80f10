// examples/*.yaml as objects: what the demo applies, and what other flows apply into their own
// namespace (and container) so they exercise the very manifests the README shows.
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseAllDocuments, stringify } from "yaml";
import { repoRoot } from "../cluster/tools.ts";

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  spec?: Record<string, unknown>;
  [k: string]: unknown;
}

export const examplesDir = path.join(repoRoot, "examples");

/** The volumes come first (the data is written into the source before the backup); then the backup's
 * objects in this order; restoresession.yaml only once the backup succeeded. */
export const PVC_EXAMPLES = ["pvc.yaml"];
export const BACKUP_EXAMPLES = ["repository.yaml", "backupconfiguration.yaml", "backupsession.yaml"];
export const RESTORE_EXAMPLES = ["restoresession.yaml"];

export function loadExample(file: string): Manifest[] {
  return parseAllDocuments(readFileSync(path.join(examplesDir, file), "utf8"))
    .map((d) => d.toJS() as Manifest | null)
    .filter((m): m is Manifest => m !== null);
}

function one(file: string, kind: string): Manifest {
  const found = loadExample(file).filter((m) => m.kind === kind);
  if (found.length !== 1) throw new Error(`examples/${file} must hold exactly one ${kind}, has ${found.length}`);
  return found[0]!;
}

/** The names the examples use, read from them so the flows never drift from the files. */
export function exampleNames() {
  const repository = one("repository.yaml", "Repository");
  const backupSession = one("backupsession.yaml", "BackupSession");
  const restoreSession = one("restoresession.yaml", "RestoreSession");
  const config = one("backupconfiguration.yaml", "BackupConfiguration");
  const backend = repository.spec?.backend as { storageSecretName: string; azure: { container: string; prefix?: string } };
  const target = (s: Manifest) => ((s.spec?.target as { ref: { name: string } }).ref.name);
  return {
    namespace: repository.metadata.namespace ?? "default",
    repository: repository.metadata.name,
    secret: backend.storageSecretName,
    container: backend.azure.container,
    prefix: backend.azure.prefix ?? "",
    backupConfiguration: config.metadata.name,
    backupSession: backupSession.metadata.name,
    restoreSession: restoreSession.metadata.name,
    sourcePvc: target(config),
    restorePvc: target(restoreSession),
  };
}

/** The examples' objects moved into another namespace and, optionally, another container and prefix. */
export function retargeted(files: readonly string[], to: { namespace: string; container?: string; prefix?: string }): Manifest[] {
  return files.flatMap(loadExample).map((m) => {
    const copy = structuredClone(m);
    copy.metadata.namespace = to.namespace;
    const azure = (copy.spec?.backend as { azure?: { container?: string; prefix?: string } } | undefined)?.azure;
    if (copy.kind === "Repository" && azure) {
      if (to.container) azure.container = to.container;
      if (to.prefix) azure.prefix = to.prefix;
    }
    return copy;
  });
}

/** Multi-document YAML for `kubectl apply -f -`. */
export function toYaml(manifests: readonly Manifest[]): string {
  return manifests.map((m) => stringify(m)).join("---\n");
}
