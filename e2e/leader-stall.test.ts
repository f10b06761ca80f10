// Leader election when the leader's connection to the API server stalls (a network that stops
// carrying packets, a load balancer that black-holes a connection): the leader's calls neither
// answer nor fail. client-go's guarantee must hold anyway: the leader stops acting within the renew
// deadline of its last renewal, before the standby may take the Lease after a lease duration, so at
// no moment do two operators act. A TCP proxy in this test stands between the leader and the API
// server and stops forwarding; the standby talks to the API server directly.
//
// The operators run as host processes (e2e/cluster/host-operator.ts) with the chart's
// ServiceAccount; each logs "became leader" when it starts acting and "stopped acting…" when it
// stops (its writes are fenced from that moment), with timestamps from the same machine clock.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { parse, stringify } from "yaml";
import type { Repository } from "../operator/api/repository.ts";
import { cluster } from "./fixture.ts";
import { installOperatorIdentity, type HostOperator as OperatorHandle, startHostOperator as startOperator } from "./cluster/host-operator.ts";
import { applyCrds, OPERATOR_NAMESPACE } from "./cluster/operator.ts";
import { waitFor } from "./cluster/wait.ts";
import { alive, logLines } from "./support/processes.ts";

const id = randomBytes(3).toString("hex");
const ns = `e2e-stall-${id}`;
const leaseName = `blobstash-e2e-stall-${id}`;
const LEASE_DURATION_MS = 6_000;
const RENEW_DEADLINE_MS = 4_000;
const RETRY_PERIOD_MS = 1_000;

/** A TCP relay to `target` that can stop forwarding in both directions (bytes stay where they are). */
async function stallableProxy(target: { host: string; port: number }) {
  let stalled = false;
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  const held = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (stalled) {
      // A connection made during the stall goes nowhere.
      client.pause();
      held.add(client);
      client.on("error", () => undefined).on("close", () => held.delete(client));
      return;
    }
    const upstream = net.connect(target.port, target.host);
    const pair = { client, upstream };
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    stall() {
      stalled = true;
      for (const { client, upstream } of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    close() {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      for (const client of held) client.destroy();
      server.close();
    },
  };
}

/** When the operator logged a message starting with `prefix` (ms since the epoch), if it did. */
function loggedAt(op: OperatorHandle, prefix: string): number | undefined {
  const line = logLines(op).find((l) => l.message?.startsWith(prefix));
  return line?.timestamp ? Date.parse(line.timestamp) : undefined;
}

describe("Leader election when the leader's API connection stalls", function () {
  this.timeout(180_000);
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let leases: CoordinationV1Api;
  let proxy: Awaited<ReturnType<typeof stallableProxy>>;
  const running: OperatorHandle[] = [];

  before(async function () {
    const kc = new KubeConfig();
    kc.loadFromFile(cluster().kubeconfig);
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    leases = kc.makeApiClient(CoordinationV1Api);
    await applyCrds(cluster());
    await core.createNamespace({ body: { metadata: { name: ns } } });
    const api = new URL(cluster().apiServerUrl);
    proxy = await stallableProxy({ host: api.hostname, port: Number(api.port) });
  });

  after(async function () {
    for (const op of running) await op.stop().catch(() => undefined);
    proxy?.close();
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
    await leases.deleteNamespacedLease({ name: leaseName, namespace: OPERATOR_NAMESPACE }).catch(() => undefined);
  });

  it("the stalled leader stops acting before the standby takes over: never two at once", async function () {
    const direct = await installOperatorIdentity(cluster());
    // The same identity, through the proxy: the API server's certificate names 127.0.0.1, so it still verifies.
    const doc = parse(await readFile(direct, "utf8")) as { clusters: Array<{ cluster: { server: string } }> };
    doc.clusters[0]!.cluster.server = `https://127.0.0.1:${proxy.port}`;
    const viaProxy = path.join(cluster().dir, `operator-stall-${id}.kubeconfig`);
    await writeFile(viaProxy, stringify(doc), { mode: 0o600 });

    const args = (name: string) => [
      "--leader-elect=true",
      `--leader-election-id=${leaseName}`,
      `--identity=${name}`,
      `--watch-namespaces=${ns}`,
      `--leader-elect-lease-duration=${LEASE_DURATION_MS / 1000}s`,
      `--leader-elect-renew-deadline=${RENEW_DEADLINE_MS / 1000}s`,
      `--leader-elect-retry-period=${RETRY_PERIOD_MS / 1000}s`,
    ];
    const leader = await startOperator(cluster(), { name: `stall-${id}-a`, kubeconfig: viaProxy, args: args(`stall-${id}-a`) });
    running.push(leader);
    await waitFor("the first operator to lead", () => loggedAt(leader, "controllers started"), { timeoutMs: 20_000 });
    const standby = await startOperator(cluster(), { name: `stall-${id}-b`, kubeconfig: direct, args: args(`stall-${id}-b`) });
    running.push(standby);
    // Renewals go on through the proxy while the standby waits.
    await new Promise((r) => setTimeout(r, 2 * RETRY_PERIOD_MS));
    assert.equal(loggedAt(standby, "became leader"), undefined, "the standby waits while the leader renews");

    const stalledAt = Date.now();
    proxy.stall();
    const tookOver = await waitFor("the standby to become leader", () => loggedAt(standby, "became leader"), { timeoutMs: LEASE_DURATION_MS + 20_000, intervalMs: 50 });
    const stopped = loggedAt(leader, "stopped acting");
    assert.ok(stopped !== undefined, "the stalled leader said it stopped acting");
    console.log(
      `      leader stopped acting ${((stopped - stalledAt) / 1000).toFixed(1)} s after the stall; ` +
        `standby led ${((tookOver - stalledAt) / 1000).toFixed(1)} s after it; gap ${((tookOver - stopped) / 1000).toFixed(1)} s`,
    );
    assert.ok(stopped < tookOver, "the leader stopped acting before the standby started");
    assert.ok(stopped - stalledAt <= RENEW_DEADLINE_MS + 1_000, `the leader stopped ${stopped - stalledAt} ms after the stall, past its renew deadline`);
    assert.ok(tookOver - stopped >= LEASE_DURATION_MS - RENEW_DEADLINE_MS - RETRY_PERIOD_MS, "the margin client-go promises: lease duration − renew deadline");
    await waitFor("the stalled leader to exit", () => !alive(leader.pid), { timeoutMs: 30_000, intervalMs: 100 });

    // The new leader acts.
    await custom.createNamespacedCustomObject({
      group: "stash.appscode.com",
      version: "v1alpha1",
      plural: "repositories",
      namespace: ns,
      body: { apiVersion: "stash.appscode.com/v1alpha1", kind: "Repository", metadata: { name: "after-stall" }, spec: { backend: { storageSecretName: "absent", azure: { container: "c-stall" } } } },
    });
    await waitFor(
      "the new leader to set the Repository's Ready condition",
      async () => {
        const r = (await custom.getNamespacedCustomObject({ group: "stash.appscode.com", version: "v1alpha1", plural: "repositories", namespace: ns, name: "after-stall" })) as Repository;
        return r.status?.conditions?.find((c) => c.type === "Ready")?.reason === "SecretNotFound";
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    const lease = await leases.readNamespacedLease({ name: leaseName, namespace: OPERATOR_NAMESPACE });
    // Identities are `<name>_<per-process suffix>`.
    assert.equal(lease.spec?.holderIdentity?.split("_")[0], `stall-${id}-b`);
  });
});
