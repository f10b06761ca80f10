import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { stringify } from "yaml";
import { fromKubeconfigFiles, fromKubeconfigText, inCluster, KubeconfigError, loadClusterAccess } from "./kubeconfig.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");

function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = { server: "https://10.0.0.1:6443/", "certificate-authority-data": b64("CA PEM") }, context: Record<string, unknown> = {}): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "other", cluster: { server: "https://wrong" } }, { name: "c", cluster }],
    users: [{ name: "u", user }],
    contexts: [{ name: "ctx", context: { cluster: "c", user: "u", ...context } }],
    "current-context": "ctx",
  });
}

describe("kubeconfig reading (as kubectl reads it)", () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), "kubeconfig-test-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("takes the current context's cluster and a client certificate given inline", () => {
    const c = fromKubeconfigText(kubeconfig({ "client-certificate-data": b64("CERT"), "client-key-data": b64("KEY") }), "/k/config");
    assert.equal(c.server, "https://10.0.0.1:6443", "trailing slash dropped");
    assert.deepEqual(c.ca, { data: Buffer.from("CA PEM") });
    assert.deepEqual(c.cert, { data: Buffer.from("CERT") });
    assert.deepEqual(c.key, { data: Buffer.from("KEY") });
    assert.equal(c.token, undefined);
    assert.deepEqual(c.notes, []);
  });

  it("names files relative to the kubeconfig that names them, to be read (and re-read) later", () => {
    const c = fromKubeconfigText(
      kubeconfig({ "client-certificate": "pki/c.crt", "client-key": "/abs/c.key", tokenFile: "tok" }, { server: "https://h:1", "certificate-authority": "ca.crt", "tls-server-name": "api" }),
      path.join(dir, "config"),
    );
    assert.deepEqual(c.ca, { file: path.join(dir, "ca.crt") });
    assert.deepEqual(c.cert, { file: path.join(dir, "pki/c.crt") });
    assert.deepEqual(c.key, { file: "/abs/c.key" });
    assert.equal(c.tokenFile, path.join(dir, "tok"));
    assert.equal(c.insecureSkipTlsVerify, undefined);
    assert.equal(c.tlsServerName, "api");
    assert.equal(fromKubeconfigText(kubeconfig({ token: "t" }, { server: "https://h:1", "insecure-skip-tls-verify": true }), "/k/config").insecureSkipTlsVerify, true);
  });

  it("merges several KUBECONFIG files as kubectl does: the first file to name an entry or a current-context wins", () => {
    const a = path.join(dir, "a");
    writeFileSync(a, stringify({ clusters: [{ name: "c", cluster: { server: "https://from-a", "certificate-authority": "ca-a.crt" } }], "current-context": "ctx" }));
    const bDir = mkdtempSync(path.join(dir, "sub-"));
    const bFile = path.join(bDir, "b");
    writeFileSync(
      bFile,
      stringify({
        clusters: [{ name: "c", cluster: { server: "https://from-b" } }],
        users: [{ name: "u", user: { tokenFile: "token" } }],
        contexts: [{ name: "ctx", context: { cluster: "c", user: "u" } }],
        "current-context": "other",
      }),
    );
    const c = fromKubeconfigFiles([a, path.join(dir, "missing"), bFile]);
    assert.equal(c.server, "https://from-a");
    assert.deepEqual(c.ca, { file: path.join(dir, "ca-a.crt") }, "relative to a");
    assert.equal(c.tokenFile, path.join(bDir, "token"), "relative to b");
    assert.match(c.source, /context "ctx"/);
    assert.ok(c.notes.some((n) => n.includes("missing") && n.includes("skipped")), c.notes.join("\n"));
    assert.throws(() => fromKubeconfigFiles([path.join(dir, "nope1"), path.join(dir, "nope2")]), /none of the kubeconfig files exists/);
  });

  it("impersonates with as, as-uid, as-groups and as-user-extra, as kubectl's headers", () => {
    const c = fromKubeconfigText(kubeconfig({ token: "t", as: "jane", "as-uid": "42", "as-groups": ["dev", "ops"], "as-user-extra": { "scopes.example/x": ["a", "b"], reason: "audit" } }), "/k/config");
    assert.deepEqual(c.impersonate, {
      "Impersonate-User": "jane",
      "Impersonate-Uid": "42",
      "Impersonate-Group": ["dev", "ops"],
      "Impersonate-Extra-scopes.example%2Fx": ["a", "b"],
      "Impersonate-Extra-reason": ["audit"],
    });
    assert.throws(() => fromKubeconfigText(kubeconfig({ token: "t", "as-groups": ["dev"] }), "/k/config"), /need "as"/);
  });

  it("keeps proxy-url (http, https, socks5) and refuses other schemes", () => {
    for (const p of ["http://proxy:3128", "https://proxy:443", "socks5://proxy:1080"]) {
      assert.equal(fromKubeconfigText(kubeconfig({ token: "t" }, { server: "https://h", "proxy-url": p }), "/k/config").proxyUrl, p);
    }
    assert.throws(() => fromKubeconfigText(kubeconfig({ token: "t" }, { server: "https://h", "proxy-url": "ftp://x" }), "/k/config"), /not one kubectl supports/);
  });

  it("hands exec and auth-provider users to the plugin path, resolving a relative command as client-go does", () => {
    const exec = fromKubeconfigText(kubeconfig({ exec: { apiVersion: "client.authentication.k8s.io/v1", command: "./bin/get-token", args: ["--x"], provideClusterInfo: true } }), path.join(dir, "config"));
    assert.deepEqual(exec.plugin, { name: "u", exec: { apiVersion: "client.authentication.k8s.io/v1", command: path.join(dir, "bin/get-token"), args: ["--x"], provideClusterInfo: true } });
    assert.ok(exec.notes.some((n) => /provideClusterInfo/.test(n)));
    assert.equal(fromKubeconfigText(kubeconfig({ exec: { command: "kubelogin" } }), "/k/config").plugin?.exec?.command, "kubelogin", "a bare name is looked up on PATH");
    const oidc = fromKubeconfigText(kubeconfig({ "auth-provider": { name: "oidc", config: { "id-token": "x" } } }), "/k/config");
    assert.deepEqual(oidc.plugin, { name: "u", authProvider: { name: "oidc", config: { "id-token": "x" } } });
    const both = fromKubeconfigText(kubeconfig({ token: "static", exec: { command: "x" } }), "/k/config");
    assert.equal(both.plugin, undefined);
    assert.ok(both.notes.some((n) => /exec is not used because a token is set/.test(n)));
  });

  it("says what it does not use: unknown fields, the context's namespace, extensions", () => {
    const c = fromKubeconfigText(kubeconfig({ token: "t", "client-secret": "x" }, { server: "https://h", "certificate-authority-dat": "typo", extensions: [{ name: "e" }] }, { namespace: "team-a" }), "/k/config");
    const notes = c.notes.join("\n");
    assert.match(notes, /user "u".*"client-secret" is not a kubeconfig field kubectl knows/);
    assert.match(notes, /cluster "c".*"certificate-authority-dat" is not a kubeconfig field/);
    assert.match(notes, /namespace "team-a" is not used/);
    assert.match(notes, /cluster "c".*extensions are for other tools/);
  });

  it("refuses what kubectl refuses, naming the entry", () => {
    assert.throws(() => fromKubeconfigText(kubeconfig({ token: "t", username: "a", password: "b" }), "/k/config"), /username\/password and a bearer token/);
    assert.throws(() => fromKubeconfigText(kubeconfig({ exec: { command: "a" }, "auth-provider": { name: "oidc" } }), "/k/config"), /both exec and auth-provider/);
    assert.throws(() => fromKubeconfigText(kubeconfig({ "client-certificate-data": b64("C") }), "/k/config"), /without a client key/);
    assert.throws(() => fromKubeconfigText(kubeconfig({ exec: { args: [] } }), "/k/config"), /exec has no command/);
    assert.throws(() => fromKubeconfigText(kubeconfig({ token: 5 }), "/k/config"), /user "u" \(\/k\/config\): token is not a string/);
    assert.throws(() => fromKubeconfigText(kubeconfig({ token: "t" }, { server: "https://h", "certificate-authority-data": b64("CA"), "insecure-skip-tls-verify": true }), "/k/config"), /a CA together with insecure-skip-tls-verify/);
    assert.throws(() => fromKubeconfigText(kubeconfig({ "client-key-data": 7 }), "/k/config"), /user "u" \(\/k\/config\): client-key-data is not a string/);
  });

  it("names what is missing: context, cluster, user, server, bad YAML", () => {
    assert.throws(() => fromKubeconfigText(stringify({ "current-context": "nope", contexts: [] }), "/k/config"), /no context named "nope"/);
    assert.throws(() => fromKubeconfigText(stringify({ contexts: [] }), "/k/config"), /no current-context/);
    assert.throws(() => fromKubeconfigText(kubeconfig({}, { "certificate-authority-data": "" }), "/k/config"), /has no server/);
    assert.throws(() => fromKubeconfigText(kubeconfig({}, { server: "h:6443" }), "/k/config"), /is not http\(s\)/);
    assert.throws(() => fromKubeconfigText("a: [", "/k/config"), /not valid YAML/);
    assert.throws(() => fromKubeconfigText("- 1", "/k/config"), (e: unknown) => e instanceof KubeconfigError && /not a mapping/.test(e.message));
  });

  it("in a pod: the service host and port, the ServiceAccount's CA and token files", () => {
    const c = inCluster({ KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "443" }, dir);
    assert.equal(c.server, "https://[fd00::1]:443");
    assert.deepEqual(c.ca, { file: path.join(dir, "ca.crt") });
    assert.equal(c.tokenFile, path.join(dir, "token"));
  });

  it("prefers the given path(s), then KUBECONFIG, then the in-cluster account", () => {
    const file = path.join(dir, "config");
    writeFileSync(file, kubeconfig({ token: "from-file" }));
    assert.equal(loadClusterAccess(file, {}).token, "from-file");
    assert.match(loadClusterAccess(undefined, { KUBECONFIG: `${file}${path.delimiter}/other`, KUBERNETES_SERVICE_HOST: "10.0.0.1" }).source, new RegExp(`^kubeconfig ${file}`));
    assert.match(loadClusterAccess(undefined, { KUBERNETES_SERVICE_HOST: "10.0.0.1" }).source, /in-cluster ServiceAccount/);
  });
});
