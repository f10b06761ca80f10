import assert from "node:assert/strict";
import { repoRoot } from "../cluster/tools.ts";
import { AZURITE_NAMESPACE, azuriteCommand, azuriteHost, azuriteManifests, ENDPOINT_SUFFIX, toolPod } from "./manifests.ts";

const setup = { account: "devstoreaccount1", key: "a2V5", tlsCert: "CERT", tlsKey: "KEY", shim: "// shim", azuriteVersion: "3.37.0", nodeImage: "node:24-bookworm-slim" };
type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe("kind manifests", function () {
  it("name the emulator so that in-cluster DNS answers the host every Azure client builds", function () {
    const svc = azuriteManifests(setup).find((o) => o.kind === "Service") as Any;
    // Clients ask for https://<account>.blob.<suffix>; DNS answers <service>.<namespace>.svc.cluster.local.
    assert.equal(`${setup.account}.blob.${ENDPOINT_SUFFIX}`, `${svc.metadata.name}.${svc.metadata.namespace}.svc.cluster.local`);
    assert.equal(azuriteHost(setup.account), `${setup.account}.blob.${ENDPOINT_SUFFIX}`);
    assert.equal(svc.spec.ports[0].port, 443, "https without a port in the URL");
    assert.equal(AZURITE_NAMESPACE, "blob");
  });

  it("run Azurite with the local cluster's flags, the pod's paths and every interface", function () {
    const cmd = azuriteCommand();
    assert.ok(!cmd.some((a) => a.includes(repoRoot)), `no path of this machine: ${cmd.join(" ")}`);
    for (const flag of ["--oauth", "--loose", "--skipApiVersionCheck", "--disableTelemetry"]) assert.ok(cmd.includes(flag), flag);
    assert.deepEqual(cmd.slice(0, 2), ["--import", "/work/azurite-compat.ts"], "the compatibility shim is preloaded");
    assert.equal(cmd[cmd.indexOf("--blobHost") + 1], "0.0.0.0");
    assert.equal(cmd[cmd.indexOf("--cert") + 1], "/tls/tls.crt");
    const deployment = azuriteManifests(setup).find((o) => o.kind === "Deployment") as Any;
    const script: string = deployment.spec.template.spec.containers[0].command[2];
    assert.match(script, /npm install .* azurite@3\.37\.0\n/);
    assert.match(script, /exec node '--import' '\/work\/azurite-compat\.ts' 'node_modules\/azurite\/dist\/src\/blob\/main\.js'/);
  });

  it("keep the emulator key in a Secret, and tool pods non-root", function () {
    const objs = azuriteManifests(setup);
    const deployment = objs.find((o) => o.kind === "Deployment") as Any;
    assert.ok(!JSON.stringify(deployment).includes(setup.key));
    const pod = toolPod({ name: "p", namespace: "n", image: "i", command: ["true"], pvc: "c" }) as Any;
    assert.equal(pod.spec.securityContext.runAsNonRoot, true);
    assert.deepEqual(pod.spec.volumes.map((v: Any) => v.name), ["data"]);
  });
});
