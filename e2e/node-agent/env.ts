// A container's environment as kubelet builds it (pkg/kubelet/kubelet_pods.go makeEnvironmentVariables):
// envFrom sources first, in order, then `env` entries, in order; later names override earlier ones.
// Literal values get `$(VAR)` expansion against the variables defined so far; values drawn from
// Secrets, ConfigMaps and the downward API are used as they are. A missing required Secret, ConfigMap
// or key is a CreateContainerConfigError with kubelet's message; `optional: true` skips it instead.
import type { V1Container, V1Pod } from "@kubernetes/client-node";
import { expand } from "./expansion.ts";
import { parseQuantity, renderResource } from "./quantity.ts";

/** Decoded data of one Secret or ConfigMap; null when the object does not exist. */
export type ObjectData = Readonly<Record<string, string>> | null;

export interface EnvObjects {
  secrets: ReadonlyMap<string, ObjectData>;
  configMaps: ReadonlyMap<string, ObjectData>;
}

/** What the downward API needs to know about the node. */
export interface NodeFacts {
  nodeName: string;
  ip: string;
  /** Allocatable resources as numbers (cpu in cores, memory in bytes), used when a limit is unset. */
  allocatable: Readonly<Record<string, number>>;
}

export type EnvResolution =
  | { ok: true; env: Map<string, string> }
  | { ok: false; reason: "CreateContainerConfigError"; message: string };

/** The Secrets and ConfigMaps (in the pod's namespace) that a container's env refers to. */
export function referencedObjects(container: V1Container): { secrets: Set<string>; configMaps: Set<string> } {
  const secrets = new Set<string>();
  const configMaps = new Set<string>();
  for (const src of container.envFrom ?? []) {
    if (src.secretRef?.name) secrets.add(src.secretRef.name);
    if (src.configMapRef?.name) configMaps.add(src.configMapRef.name);
  }
  for (const e of container.env ?? []) {
    if (e.value) continue;
    if (e.valueFrom?.secretKeyRef?.name) secrets.add(e.valueFrom.secretKeyRef.name);
    if (e.valueFrom?.configMapKeyRef?.name) configMaps.add(e.valueFrom.configMapKeyRef.name);
  }
  return { secrets, configMaps };
}

class ConfigError extends Error {}

function objectData(
  kind: "Secret" | "ConfigMap",
  map: ReadonlyMap<string, ObjectData>,
  name: string,
  optional: boolean,
): Readonly<Record<string, string>> | undefined {
  const data = map.get(name);
  if (data) return data;
  if (optional) return undefined;
  throw new ConfigError(`${kind === "Secret" ? "secret" : "configmap"} "${name}" not found`);
}

/** Resolves `fieldRef` the way kubelet's podFieldSelectorRuntimeValue does. */
export function fieldRefValue(pod: V1Pod, facts: NodeFacts, fieldPath: string): string {
  const meta = pod.metadata ?? {};
  const mapKey = /^metadata\.(labels|annotations)\['(.*)'\]$/.exec(fieldPath);
  if (mapKey) {
    const m = mapKey[1] === "labels" ? meta.labels : meta.annotations;
    return m?.[mapKey[2] ?? ""] ?? "";
  }
  switch (fieldPath) {
    case "metadata.name":
      return meta.name ?? "";
    case "metadata.namespace":
      return meta.namespace ?? "";
    case "metadata.uid":
      return meta.uid ?? "";
    case "metadata.labels":
    case "metadata.annotations": {
      const m = fieldPath === "metadata.labels" ? meta.labels : meta.annotations;
      return Object.entries(m ?? {})
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join("\n");
    }
    case "spec.nodeName":
      return pod.spec?.nodeName || facts.nodeName;
    case "spec.serviceAccountName":
      return pod.spec?.serviceAccountName ?? "";
    case "status.hostIP":
    case "status.hostIPs":
    case "status.podIP":
    case "status.podIPs":
      return facts.ip;
    default:
      throw new ConfigError(`unsupported fieldPath: ${fieldPath}`);
  }
}

/** Resolves `resourceFieldRef`: the container's limit or request, else the node's allocatable. */
export function resourceFieldValue(
  container: V1Container,
  facts: NodeFacts,
  resource: string,
  divisor: string | number | undefined,
): string {
  const [kind, name] = resource.split(".", 2) as [string, string | undefined];
  if ((kind !== "limits" && kind !== "requests") || !name) throw new ConfigError(`unsupported resource: ${resource}`);
  const div = divisor === undefined || divisor === "" ? 1 : parseQuantity(divisor);
  if (div === undefined || div <= 0) throw new ConfigError(`invalid divisor ${String(divisor)} for ${resource}`);
  const declared = kind === "limits" ? container.resources?.limits?.[name] : container.resources?.requests?.[name];
  const value = parseQuantity(declared) ?? (kind === "limits" ? facts.allocatable[name] : 0) ?? 0;
  return renderResource(resource, value, div);
}

/** Whether kubelet would accept this as an env var name (relaxed validation: printable, no `=`). */
function isEnvName(name: string): boolean {
  return name.length > 0 && !name.includes("=") && /^[\x20-\x7e]+$/.test(name);
}

export function resolveContainerEnv(
  pod: V1Pod,
  container: V1Container,
  objects: EnvObjects,
  facts: NodeFacts,
  rewrite: (s: string) => string = (s) => s,
): EnvResolution {
  const ns = pod.metadata?.namespace ?? "";
  const env = new Map<string, string>();
  try {
    for (const src of container.envFrom ?? []) {
      const prefix = src.prefix ?? "";
      let data: Readonly<Record<string, string>> | undefined;
      if (src.configMapRef) {
        data = objectData("ConfigMap", objects.configMaps, src.configMapRef.name ?? "", src.configMapRef.optional === true);
      } else if (src.secretRef) {
        data = objectData("Secret", objects.secrets, src.secretRef.name ?? "", src.secretRef.optional === true);
      }
      for (const [k, v] of Object.entries(data ?? {})) {
        if (isEnvName(prefix + k)) env.set(prefix + k, v);
      }
    }
    for (const e of container.env ?? []) {
      if (!e.name) continue;
      if (e.value) {
        env.set(e.name, expand(rewrite(e.value), (n) => env.get(n)));
        continue;
      }
      const from = e.valueFrom;
      if (!from) {
        env.set(e.name, "");
      } else if (from.fieldRef) {
        env.set(e.name, fieldRefValue(pod, facts, from.fieldRef.fieldPath));
      } else if (from.resourceFieldRef) {
        const ref = from.resourceFieldRef;
        const target =
          ref.containerName && ref.containerName !== container.name
            ? [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find((c) => c.name === ref.containerName)
            : container;
        if (!target) throw new ConfigError(`container ${ref.containerName} not found for ${e.name}`);
        env.set(e.name, resourceFieldValue(target, facts, ref.resource, ref.divisor as string | number | undefined));
      } else if (from.secretKeyRef || from.configMapKeyRef) {
        const isSecret = !!from.secretKeyRef;
        const ref = (from.secretKeyRef ?? from.configMapKeyRef)!;
        const kind = isSecret ? "Secret" : "ConfigMap";
        const optional = ref.optional === true;
        const data = objectData(kind, isSecret ? objects.secrets : objects.configMaps, ref.name ?? "", optional);
        if (data === undefined) continue;
        const v = data[ref.key];
        if (v === undefined) {
          if (optional) continue;
          throw new ConfigError(`couldn't find key ${ref.key} in ${kind} ${ns}/${ref.name ?? ""}`);
        }
        env.set(e.name, v);
      } else {
        // A source this agent does not know (e.g. a newer alpha field): kubelet would reject it too.
        throw new ConfigError(`unsupported valueFrom for env var ${e.name}`);
      }
    }
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, reason: "CreateContainerConfigError", message: err.message };
    throw err;
  }
  return { ok: true, env };
}
