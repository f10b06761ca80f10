import assert from "node:assert/strict";
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { stringify } from "yaml";
import { fromKubeconfigText, inCluster, KubeconfigError, loadConnection } from "./kubeconfig.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");

function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = { server: "https://10.0.0.1:6443/", "certificate-authority-data": b64("CA PEM") }): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "other", cluster: { server: "https://wrong" } }, { name: "c", cluster }],
    users: [{ name: "u", user }],
    contexts: [{ name: "ctx", context: { cluster: "c", user: "u" } }],
    "current-context": "ctx",
  });
}

describe("kubeconfig loading (the operator's connection to the API server)", () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), "kubeconfig-test-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("takes the current context's cluster and a client certificate given inline", () => {
    const c = fromKubeconfigText(kubeconfig({ "client-certificate-data": b64("CERT"), "client-key-data": b64("KEY") }), "/k/config");
    assert.equal(c.server, "https://10.0.0.1:6443", "trailing slash dropped");
    assert.equal(c.ca?.toString(), "CA PEM");
    assert.equal(c.cert?.toString(), "CERT");
    assert.equal(c.key?.toString(), "KEY");
    assert.equal(c.token, undefined);
  });

  it("reads files named relative to the kubeconfig, and a token", () => {
    writeFileSync(path.join(dir, "ca.crt"), "CA FROM FILE");
    const c = fromKubeconfigText(kubeconfig({ token: "t0ken" }, { server: "https://h:1", "certificate-authority": "ca.crt", "insecure-skip-tls-verify": true, "tls-server-name": "api" }), path.join(dir, "config"));
    assert.equal(c.ca?.toString(), "CA FROM FILE");
    assert.equal(c.token?.(), "t0ken");
    assert.equal(c.insecureSkipTlsVerify, true);
    assert.equal(c.tlsServerName, "api");
  });

  it("reads a tokenFile again once it has been rewritten (rotation), at most once per period", () => {
    const file = path.join(dir, "token");
    writeFileSync(file, "first\n");
    const slow = fromKubeconfigText(kubeconfig({ tokenFile: "token" }), path.join(dir, "config"));
    const eager = fromKubeconfigText(kubeconfig({ tokenFile: "token" }), path.join(dir, "config"), { tokenRereadMs: 0 });
    assert.equal(slow.token?.(), "first", "trimmed");
    assert.equal(eager.token?.(), "first");
    writeFileSync(file, "second");
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    assert.equal(slow.token?.(), "first", "not re-read within the period");
    assert.equal(eager.token?.(), "second");
    rmSync(file);
    assert.equal(eager.token?.(), "second", "a failed read keeps the last token");
  });

  it("refuses exec and auth-provider users with a message that says what to use instead", () => {
    for (const user of [{ exec: { command: "aws" } }, { "auth-provider": { name: "gcp" } }]) {
      assert.throws(() => fromKubeconfigText(kubeconfig(user), "/k/config"), (err: Error) => {
        assert.ok(err instanceof KubeconfigError);
        assert.match(err.message, /does not support; use a kubeconfig with a token or a client certificate/);
        return true;
      });
    }
  });

  it("names what is missing: context, cluster server, unreadable files, bad YAML", () => {
    assert.throws(() => fromKubeconfigText(stringify({ "current-context": "nope", contexts: [] }), "/k/config"), /no context named "nope"/);
    assert.throws(() => fromKubeconfigText(kubeconfig({}, { "certificate-authority-data": "" }), "/k/config"), /has no server/);
    assert.throws(() => fromKubeconfigText(kubeconfig({}, { server: "https://h", "certificate-authority": "missing.crt" }), path.join(dir, "config")), /cannot read the CA named in/);
    assert.throws(() => fromKubeconfigText("a: [", "/k/config"), /not valid YAML/);
  });

  it("in a pod: the service host and port, the ServiceAccount's CA and token", () => {
    writeFileSync(path.join(dir, "ca.crt"), "SA CA");
    writeFileSync(path.join(dir, "token"), "sa-token\n");
    const c = inCluster({ KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "443" }, dir);
    assert.equal(c.server, "https://[fd00::1]:443");
    assert.equal(c.ca?.toString(), "SA CA");
    assert.equal(c.token?.(), "sa-token");
  });

  it("prefers an explicit path, then KUBECONFIG, then the in-cluster account", () => {
    const file = path.join(dir, "config");
    writeFileSync(file, kubeconfig({ token: "from-file" }));
    assert.equal(loadConnection(file, {}).token?.(), "from-file");
    assert.equal(loadConnection(undefined, { KUBECONFIG: `${file}${path.delimiter}/other`, KUBERNETES_SERVICE_HOST: "10.0.0.1" }).source, `kubeconfig ${file}`);
    assert.throws(() => loadConnection(undefined, { KUBERNETES_SERVICE_HOST: "10.0.0.1" }), /the ServiceAccount CA/, "in-cluster without the mounted account says so");
  });
});
