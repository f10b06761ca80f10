import assert from "node:assert/strict";
import { parse } from "yaml";
import { kubeconfigYaml } from "./kubeconfig.ts";

describe("kubeconfig", function () {
  const b64 = (s: string) => Buffer.from(s).toString("base64");

  it("embeds the CA and a client certificate", function () {
    const cfg = parse(kubeconfigYaml({ server: "https://127.0.0.1:6443", caPem: "CA", name: "local", user: { clientCertPem: "CERT", clientKeyPem: "KEY" } }));
    assert.equal(cfg["current-context"], "local");
    assert.deepEqual(cfg.clusters[0].cluster, { server: "https://127.0.0.1:6443", "certificate-authority-data": b64("CA") });
    assert.deepEqual(cfg.users[0].user, { "client-certificate-data": b64("CERT"), "client-key-data": b64("KEY") });
    assert.deepEqual(cfg.contexts[0].context, { cluster: "local", user: "local", namespace: "default" });
  });

  it("carries a bearer token for ServiceAccount kubeconfigs", function () {
    const cfg = parse(kubeconfigYaml({ server: "https://s", caPem: "CA", name: "sa", user: { token: "t0k" } }));
    assert.deepEqual(cfg.users[0].user, { token: "t0k" });
  });
});
