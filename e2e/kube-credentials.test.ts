// The operator's credentials against the real API server, in the kubeconfig forms kubectl accepts
// beyond a plain token: an exec plugin, impersonation (checked with a SelfSubjectReview, which
// reports who the API server thinks the caller is), and several KUBECONFIG files merged. Also the
// price of the exec path: it loads @kubernetes/client-node, which a token kubeconfig never does;
// the operator's resident memory is measured both ways.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { chmod, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { parse, stringify } from "yaml";
import { KubeApiError } from "../operator/kube/api-client.ts";
import { connectKube } from "../operator/kube/client.ts";
import { cluster } from "./fixture.ts";
import { installOperatorIdentity, type HostOperator as OperatorHandle, startHostOperator as startOperator } from "./cluster/host-operator.ts";
import { applyCrds, OPERATOR_NAMESPACE, RELEASE } from "./cluster/operator.ts";
import { waitFor } from "./cluster/wait.ts";
import { readMemory } from "../bench/proc.ts";

interface Kubeconfig {
  clusters: Array<{ name: string; cluster: Record<string, unknown> }>;
  users: Array<{ name: string; user: Record<string, unknown> }>;
  contexts: Array<{ name: string; context: Record<string, unknown> }>;
  "current-context": string;
}

const SELF_SUBJECT_REVIEWS = "/apis/authentication.k8s.io/v1/selfsubjectreviews";

async function whoAmI(kubeconfig: string): Promise<{ username?: string; groups?: string[] }> {
  const kube = connectKube(kubeconfig);
  try {
    const review = await kube.request<{ status?: { userInfo?: { username?: string; groups?: string[] } } }>("POST", SELF_SUBJECT_REVIEWS, {
      body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
    });
    return review.status?.userInfo ?? {};
  } finally {
    kube.close();
  }
}

describe("Kubernetes credentials beyond a token (real API server)", function () {
  this.timeout(120_000);
  const id = randomBytes(3).toString("hex");
  let admin: Kubeconfig;
  let tokenKubeconfig: string;
  const file = (name: string) => path.join(cluster().dir, `creds-${id}-${name}`);
  const running: OperatorHandle[] = [];

  before(async function () {
    admin = parse(await readFile(cluster().kubeconfig, "utf8")) as Kubeconfig;
    await applyCrds(cluster());
    tokenKubeconfig = await installOperatorIdentity(cluster());
  });

  after(async function () {
    for (const op of running) await op.stop();
  });

  it("impersonates with as and as-groups as kubectl does: the API server sees the impersonated user", async function () {
    const kc = structuredClone(admin);
    Object.assign(kc.users[0]!.user, { as: `system:serviceaccount:${OPERATOR_NAMESPACE}:${RELEASE}`, "as-groups": ["system:serviceaccounts", "system:authenticated"] });
    await writeFile(file("impersonate"), stringify(kc), { mode: 0o600 });
    const me = await whoAmI(file("impersonate"));
    assert.equal(me.username, `system:serviceaccount:${OPERATOR_NAMESPACE}:${RELEASE}`);
    assert.deepEqual([...(me.groups ?? [])].sort(), ["system:authenticated", "system:serviceaccounts"]);

    // The impersonated user's permissions apply: the chart's ServiceAccount may not read ClusterRoles; the admin may.
    const clusterRoles = { group: "rbac.authorization.k8s.io", version: "v1", plural: "clusterroles" };
    const kube = connectKube(file("impersonate"));
    await assert.rejects(kube.get(clusterRoles, undefined, "cluster-admin"), (e: unknown) => e instanceof KubeApiError && e.code === 403);
    kube.close();
    const asAdmin = connectKube(cluster().kubeconfig);
    assert.ok(await asAdmin.get(clusterRoles, undefined, "cluster-admin"));
    asAdmin.close();
  });

  it("merges several KUBECONFIG files as kubectl does (cluster and user in one, context in another)", async function () {
    const { contexts, "current-context": current, ...rest } = admin;
    await writeFile(file("context"), stringify({ contexts, "current-context": current }), { mode: 0o600 });
    await writeFile(file("entries"), stringify(rest), { mode: 0o600 });
    const merged = await whoAmI(`${file("context")}${path.delimiter}${file("missing")}${path.delimiter}${file("entries")}`);
    const whole = await whoAmI(cluster().kubeconfig);
    assert.ok(whole.username);
    assert.equal(merged.username, whole.username, "the merged files authenticate as the one file does");
  });

  it("runs the operator with an exec plugin (loading @kubernetes/client-node) and with a token (not loading it): memory both ways", async function () {
    const token = parse(await readFile(tokenKubeconfig, "utf8")) as Kubeconfig;
    const plugin = file("plugin.sh");
    const bearer = token.users[0]!.user.token as string;
    await writeFile(plugin, `#!/bin/sh\nprintf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' "${bearer}"\n`, { mode: 0o700 });
    await chmod(plugin, 0o700);
    const exec = structuredClone(token);
    exec.users[0]!.user = { exec: { apiVersion: "client.authentication.k8s.io/v1", command: plugin } };
    await writeFile(file("exec"), stringify(exec), { mode: 0o600 });
    assert.equal((await whoAmI(file("exec"))).username, `system:serviceaccount:${OPERATOR_NAMESPACE}:${RELEASE}`, "the plugin's token is the ServiceAccount's");

    const idleRss = async (name: string, kubeconfig: string): Promise<number> => {
      const op = await startOperator(cluster(), { name: `creds-${id}-${name}`, kubeconfig, args: ["--leader-elect=false", `--watch-namespaces=creds-${id}`] });
      running.push(op);
      await waitFor(`${name}: controllers started`, () => op.log().includes("controllers started"), { timeoutMs: 30_000 });
      // Let start-up garbage settle: the figure is the process at rest.
      await new Promise((r) => setTimeout(r, 3_000));
      const rss = readMemory(op.pid)?.rssMb ?? Number.NaN;
      await op.stop();
      return rss;
    };
    const withToken = await idleRss("token", tokenKubeconfig);
    const withExec = await idleRss("exec", file("exec"));
    console.log(`      operator RSS at rest: token kubeconfig ${withToken.toFixed(0)} MB, exec plugin ${withExec.toFixed(0)} MB (+${(withExec - withToken).toFixed(0)} MB for @kubernetes/client-node)`);
    assert.ok(withExec - withToken > 20, "the exec path loads the library; the token path does not");
  });
});
