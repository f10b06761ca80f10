// The mistakes an admin makes, as a table: each Repository, Secret, BackupConfiguration,
// BackupSession and RestoreSession mistake gets either a refusal at `kubectl create` naming the
// field (the CRD schema, CEL rules included, as the API server runs them) or a condition with a
// specific reason on the object, within seconds and without a Job. The run prints the table
// (input, expected, observed) with counts, and asserts every row, that the operator never crashed,
// and that no secret value appears in its log, in events or in any status.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import { BlobServiceClient, ContainerSASPermissions, StorageSharedKeyCredential, generateBlobSASQueryParameters } from "@azure/storage-blob";
import { ApiException, BatchV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { execa } from "execa";
import type { Condition } from "../operator/api/conditions.ts";
import { cluster } from "./fixture.ts";
import { applyCrds, installOperator, type OperatorHandle } from "./cluster/operator.ts";
import { waitFor } from "./cluster/wait.ts";

const id = randomBytes(3).toString("hex");
const ns = `e2e-bad-${id}`;
const otherNs = `e2e-bad-other-${id}`;
const CONTAINER = "stash-backup";
const OTHER_CONTAINER = `bad-other-${id}`;
const STASH = "stash.appscode.com";
const V1A = `${STASH}/v1alpha1`;
const V1B = `${STASH}/v1beta1`;
const PLURALS: Record<string, { version: string; plural: string }> = {
  Repository: { version: "v1alpha1", plural: "repositories" },
  BackupConfiguration: { version: "v1beta1", plural: "backupconfigurations" },
  BackupSession: { version: "v1beta1", plural: "backupsessions" },
  RestoreSession: { version: "v1beta1", plural: "restoresessions" },
};

type Kind = "Repository" | "Secret" | "BackupConfiguration" | "BackupSession" | "RestoreSession";
type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown };

interface Row {
  /** The kind the mistake is made in. */
  kind: Kind;
  mistake: string;
  /** Refused at create with stderr matching, or this reason (and message) on `watch`. */
  expect: { apply: RegExp } | { reason: string; message?: RegExp };
  /** Objects to create, in order; the last one is the one refused at apply. */
  objects: (n: string) => K8sObject[] | Promise<K8sObject[]>;
  /** The object whose status tells the reason (default: the last object). */
  watch?: (n: string) => { kind: string; name: string; namespace?: string };
}

interface Observed {
  row: Row;
  observed: string;
  ok: boolean;
}

/** Every secret value this test hands the operator: none may show up in a log line, event or status. */
const secretValues = new Set<string>();
const secret = (v: string): string => {
  secretValues.add(v);
  return v;
};

describe("bad input: an admin's mistakes get a refusal or a specific reason, never a crash or a leak", function () {
  this.timeout(300_000);
  let op: OperatorHandle;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let blob: BlobServiceClient;
  let stalled: Server;
  const stalledSockets = new Set<Socket>();
  let stalledPort = 0;
  const results: Observed[] = [];
  const az = () => cluster().azurite;

  const b64 = (v: string | Buffer) => Buffer.from(v).toString("base64");
  const password = () => secret(`pw-${randomBytes(10).toString("hex")}`);
  const secretObject = (name: string, data: Record<string, string | Buffer>, namespace = ns): K8sObject => ({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
  });
  const keyData = (overrides: Record<string, string | Buffer> = {}) => ({
    RESTIC_PASSWORD: password(),
    AZURE_ACCOUNT_NAME: az().account,
    AZURE_ACCOUNT_KEY: secret(az().key),
    ...overrides,
  });
  const repository = (name: string, backend: Record<string, unknown>, extra: Record<string, unknown> = {}, namespace = ns): K8sObject => ({
    apiVersion: V1A,
    kind: "Repository",
    metadata: { name, namespace },
    spec: { backend, ...extra },
  });
  const azure = (secretName: string, n: string, more: Record<string, unknown> = {}) => ({
    storageSecretName: secretName,
    azure: { container: CONTAINER, prefix: `/e2e/bad-${id}/${n}`, ...more },
  });
  /** A Secret and a Repository using it. */
  const secretRepo = (n: string, data: Record<string, string | Buffer>, more: Record<string, unknown> = {}): K8sObject[] => [
    secretObject(`s-${n}`, data),
    repository(n, azure(`s-${n}`, n, more)),
  ];
  const config = (name: string, spec: Record<string, unknown>, namespace = ns): K8sObject => ({
    apiVersion: V1B,
    kind: "BackupConfiguration",
    metadata: { name, namespace },
    spec: { repository: { name: "good" }, target: { ref: { apiVersion: "v1", kind: "PersistentVolumeClaim", name: "data" } }, ...spec },
  });
  const backupSession = (name: string, invoker: Record<string, unknown>): K8sObject => ({
    apiVersion: V1B,
    kind: "BackupSession",
    metadata: { name, namespace: ns },
    spec: { invoker: { apiGroup: STASH, kind: "BackupConfiguration", ...invoker } },
  });
  const restoreSession = (name: string, spec: Record<string, unknown>): K8sObject => ({
    apiVersion: V1B,
    kind: "RestoreSession",
    metadata: { name, namespace: ns },
    spec: { repository: { name: "good" }, target: { ref: { apiVersion: "v1", kind: "PersistentVolumeClaim", name: "data" }, rules: [{ snapshots: ["latest"] }] }, ...spec },
  });
  const sas = (permissions: string, hours: number, containerName = CONTAINER): string => {
    const token = generateBlobSASQueryParameters(
      { containerName, permissions: ContainerSASPermissions.parse(permissions), startsOn: new Date(Date.now() - 3600_000), expiresOn: new Date(Date.now() + hours * 3600_000) },
      new StorageSharedKeyCredential(az().account, az().key),
    ).toString();
    secret(new URLSearchParams(token).get("sig")!);
    return secret(token);
  };
  const restic = (prefix: string, pw: string, args: string[]) =>
    execa("restic", ["--no-cache", "-r", `azure:${CONTAINER}:${prefix}`, ...args], {
      env: { AZURE_ACCOUNT_NAME: az().account, AZURE_ACCOUNT_KEY: az().key, AZURE_ENDPOINT_SUFFIX: az().endpointSuffix, RESTIC_PASSWORD: pw },
    });

  // Shared by the session rows: a Ready Repository and a PVC (neither is the mistake).
  const goodPassword = password();
  const rows: Row[] = [
    // Repository: refused at create.
    {
      kind: "Repository",
      mistake: "two backends (azure and s3)",
      expect: { apply: /set exactly one backend/ },
      objects: (n) => [repository(n, { ...azure("good-secret", n), s3: { bucket: "b", endpoint: "s3.amazonaws.com" } })],
    },
    { kind: "Repository", mistake: "no backend at all", expect: { apply: /set exactly one backend/ }, objects: (n) => [repository(n, { storageSecretName: "good-secret" })] },
    { kind: "Repository", mistake: "azure without storageSecretName", expect: { apply: /storageSecretName is required with the azure backend/ }, objects: (n) => [repository(n, { azure: { container: CONTAINER } })] },
    {
      kind: "Repository",
      mistake: 'storageSecretName "Azure_Secret" (no valid Secret name)',
      expect: { apply: /spec\.backend\.storageSecretName in body should match/ },
      objects: (n) => [repository(n, azure("Azure_Secret", n))],
    },
    { kind: "Repository", mistake: 'container "Stash-Backup" (capitals)', expect: { apply: /spec\.backend\.azure\.container in body should match/ }, objects: (n) => [repository(n, { storageSecretName: "good-secret", azure: { container: "Stash-Backup" } })] },
    { kind: "Repository", mistake: "maxConnections: 0", expect: { apply: /maxConnections.*greater than or equal to 1/ }, objects: (n) => [repository(n, azure("good-secret", n, { maxConnections: 0 }))] },
    { kind: "Repository", mistake: "accountKey under spec.backend.azure", expect: { apply: /unknown field "accountKey" in com\.appscode\.stash\.v1alpha1\.Repository\.spec\.backend\.azure/ }, objects: (n) => [repository(n, azure("good-secret", n, { accountKey: "oops" }))] },
    {
      kind: "Repository",
      mistake: "a 1,000-character prefix (blob names past Azure's 1,024)",
      expect: { apply: /spec\.backend\.azure\.prefix: Too long: may not be (more|longer) than 949/ },
      objects: (n) => [repository(n, azure("good-secret", n, { prefix: "p".repeat(1000) }))],
    },
    {
      kind: "Repository",
      mistake: "a prefix of 252 path segments",
      expect: { apply: /at most 251 path segments/ },
      objects: (n) => [repository(n, azure("good-secret", n, { prefix: Array(252).fill("a").join("/") }))],
    },
    {
      kind: "Repository",
      mistake: "usagePolicy from: Selector without a selector",
      expect: { apply: /selector is required when from is Selector/ },
      objects: (n) => [repository(n, azure("good-secret", n), { usagePolicy: { allowedNamespaces: { from: "Selector" } } })],
    },
    {
      kind: "Repository",
      mistake: "usagePolicy selector: operator In without values",
      expect: { apply: /In and NotIn need at least one value/ },
      objects: (n) => [repository(n, azure("good-secret", n), { usagePolicy: { allowedNamespaces: { from: "Selector", selector: { matchExpressions: [{ key: "team", operator: "In" }] } } } })],
    },
    {
      kind: "Repository",
      mistake: 'usagePolicy selector: label key "team name"',
      expect: { apply: /every key must be a label name/ },
      objects: (n) => [repository(n, azure("good-secret", n), { usagePolicy: { allowedNamespaces: { from: "Selector", selector: { matchLabels: { "team name": "a" } } } } })],
    },
    {
      kind: "Repository",
      mistake: 'usagePolicy from: "Everyone"',
      expect: { apply: /spec\.usagePolicy\.allowedNamespaces\.from: Unsupported value: "Everyone"/ },
      objects: (n) => [repository(n, azure("good-secret", n), { usagePolicy: { allowedNamespaces: { from: "Everyone" } } })],
    },
    // Repository and Secret: a condition with the reason.
    { kind: "Secret", mistake: "the Secret does not exist", expect: { reason: "SecretNotFound", message: /not found in namespace/ }, objects: (n) => [repository(n, azure(`missing-${n}`, n))] },
    {
      kind: "Secret",
      mistake: "no RESTIC_PASSWORD",
      expect: { reason: "SecretKeyMissing", message: /no RESTIC_PASSWORD/ },
      objects: (n) => {
        const { RESTIC_PASSWORD: _omit, ...rest } = keyData();
        return secretRepo(n, rest);
      },
    },
    { kind: "Secret", mistake: "no AZURE_ACCOUNT_NAME", expect: { reason: "SecretKeyMissing", message: /no AZURE_ACCOUNT_NAME/ }, objects: (n) => secretRepo(n, { RESTIC_PASSWORD: password(), AZURE_ACCOUNT_KEY: secret(az().key) }) },
    { kind: "Secret", mistake: "account name in capitals", expect: { reason: "SecretValueMalformed", message: /AZURE_ACCOUNT_NAME must be 3 to 24 lowercase/ }, objects: (n) => secretRepo(n, keyData({ AZURE_ACCOUNT_NAME: "DevStoreAccount1" })) },
    {
      kind: "Secret",
      mistake: "a space after the account name",
      expect: { reason: "SecretValueMalformed", message: /AZURE_ACCOUNT_NAME has whitespace \(a space, tab or line break\) around it/ },
      objects: (n) => secretRepo(n, keyData({ AZURE_ACCOUNT_NAME: `${az().account} ` })),
    },
    { kind: "Secret", mistake: "account key not base64", expect: { reason: "SecretValueMalformed", message: /AZURE_ACCOUNT_KEY is not base64/ }, objects: (n) => secretRepo(n, keyData({ AZURE_ACCOUNT_KEY: "not-base64!" })) },
    {
      kind: "Secret",
      mistake: "account key wrapped over two lines",
      expect: { reason: "SecretValueMalformed", message: /AZURE_ACCOUNT_KEY has whitespace .* inside it/ },
      objects: (n) => secretRepo(n, keyData({ AZURE_ACCOUNT_KEY: `${az().key.slice(0, 40)}\n${az().key.slice(40)}` })),
    },
    {
      kind: "Secret",
      mistake: "account key of another account",
      expect: { reason: "AuthenticationFailed", message: /rejected the account key/ },
      objects: (n) => secretRepo(n, keyData({ AZURE_ACCOUNT_KEY: secret(randomBytes(64).toString("base64")) })),
    },
    { kind: "Secret", mistake: "an account that does not exist", expect: { reason: "AccountNotFound", message: /storage account nosuchaccount not found/ }, objects: (n) => secretRepo(n, keyData({ AZURE_ACCOUNT_NAME: "nosuchaccount" })) },
    {
      kind: "Secret",
      mistake: "endpoint suffix written as a URL",
      expect: { reason: "SecretValueMalformed", message: /AZURE_ENDPOINT_SUFFIX must be a host name such as core\.windows\.net, without https/ },
      objects: (n) => secretRepo(n, keyData({ AZURE_ENDPOINT_SUFFIX: "https://core.windows.net" })),
    },
    {
      kind: "Secret",
      mistake: "endpoint suffix an IP literal (127.0.0.1:<port>)",
      expect: { reason: "SecretValueMalformed", message: /AZURE_ENDPOINT_SUFFIX is an IP address \(127\.0\.0\.1\)/ },
      objects: (n) => secretRepo(n, keyData({ AZURE_ENDPOINT_SUFFIX: `127.0.0.1:${az().endpointSuffix.split(":")[1]}` })),
    },
    {
      kind: "Secret",
      mistake: "an endpoint suffix the admin never approved (the emulator's host, another port)",
      expect: { reason: "EndpointNotAllowed", message: /AZURE_ENDPOINT_SUFFIX "localhost:1" is not an endpoint suffix the cluster admin approved/ },
      objects: (n) => secretRepo(n, keyData({ AZURE_ENDPOINT_SUFFIX: "localhost:1" })),
    },
    {
      kind: "Secret",
      mistake: "no credential at all (only the account name: the operator's identity, which the admin did not lend)",
      expect: { reason: "OperatorIdentityNotAllowed", message: /asks for the operator's own Azure identity, and the cluster admin has not enabled it/ },
      objects: (n) => secretRepo(n, { RESTIC_PASSWORD: password(), AZURE_ACCOUNT_NAME: az().account }),
    },
    {
      kind: "Secret",
      mistake: "RESTIC_PASSWORD of random bytes (not UTF-8)",
      expect: { reason: "PasswordNotText", message: /RESTIC_PASSWORD is not UTF-8 text/ },
      objects: (n) => secretRepo(n, keyData({ RESTIC_PASSWORD: Buffer.from([0x9f, 0x92, 0x96, 0xff, 0x00, 0x41]) })),
    },
    {
      kind: "Secret",
      mistake: "RESTIC_PASSWORD saved as UTF-16 (PowerShell)",
      expect: { reason: "PasswordNotText", message: /UTF-16 text .*save the file as UTF-8/ },
      objects: (n) => secretRepo(n, keyData({ RESTIC_PASSWORD: Buffer.from(`\ufeff${password()}\r\n`, "utf16le") })),
    },
    {
      kind: "Secret",
      mistake: "an expired SAS",
      expect: { reason: "SasExpired", message: /expired at/ },
      objects: (n) => secretRepo(n, { RESTIC_PASSWORD: password(), AZURE_ACCOUNT_NAME: az().account, AZURE_ACCOUNT_SAS: sas("racwdl", -0.5) }),
    },
    {
      kind: "Secret",
      mistake: "a read-only SAS",
      expect: { reason: "PermissionDenied", message: /lacks "acwd"/ },
      objects: (n) => secretRepo(n, { RESTIC_PASSWORD: password(), AZURE_ACCOUNT_NAME: az().account, AZURE_ACCOUNT_SAS: sas("rl", 24) }),
    },
    {
      kind: "Secret",
      mistake: "a SAS signed for another container",
      expect: { reason: "AuthenticationFailed", message: /container SAS \(sr=c\).*does not match container stash-backup, so it was signed for another container/ },
      objects: (n) => secretRepo(n, { RESTIC_PASSWORD: password(), AZURE_ACCOUNT_NAME: az().account, AZURE_ACCOUNT_SAS: sas("racwdl", 24, OTHER_CONTAINER) }),
    },
    {
      kind: "Secret",
      mistake: "a SAS of 5,000 characters (servers answer HTTP 431)",
      expect: { reason: "SecretValueMalformed", message: /AZURE_ACCOUNT_SAS is 5\d{3} characters long.*HTTP 414 or 431/ },
      objects: (n) => {
        const token = sas("racwdl", 24);
        return secretRepo(n, { RESTIC_PASSWORD: password(), AZURE_ACCOUNT_NAME: az().account, AZURE_ACCOUNT_SAS: secret(`${token}&pad=${"x".repeat(5000 - token.length - 5)}`) });
      },
    },
    {
      kind: "Secret",
      mistake: "the SAS pasted as a whole URL",
      expect: { reason: "SecretValueMalformed", message: /AZURE_ACCOUNT_SAS is a URL/ },
      objects: (n) => secretRepo(n, { RESTIC_PASSWORD: password(), AZURE_ACCOUNT_NAME: az().account, AZURE_ACCOUNT_SAS: secret(`https://${az().account}.blob.core.windows.net/${CONTAINER}?${sas("racwdl", 24)}`) }),
    },
    {
      kind: "Secret",
      mistake: "a service principal without its client secret",
      expect: { reason: "SecretKeyMissing", message: /a service principal needs all three/ },
      objects: (n) => secretRepo(n, { RESTIC_PASSWORD: password(), AZURE_ACCOUNT_NAME: az().account, AZURE_TENANT_ID: "contoso.onmicrosoft.com", AZURE_CLIENT_ID: "00000000-1111-2222-3333-444444444444" }),
    },
    {
      kind: "Repository",
      mistake: "a container that does not exist",
      expect: { reason: "ContainerNotFound", message: /container no-such-container-[0-9a-f]+ does not exist/ },
      objects: (n) => secretRepo(n, keyData(), { container: `no-such-container-${id}` }),
    },
    {
      kind: "Secret",
      mistake: "another password than the repository's",
      expect: { reason: "WrongPassword", message: /opens none of the 1 key/ },
      objects: async (n) => {
        await restic(`/e2e/bad-${id}/${n}`, password(), ["init"]);
        return secretRepo(n, keyData());
      },
    },
    {
      kind: "Repository",
      mistake: "a garbage key file listed before the real one",
      expect: { reason: "KeyFileInvalid", message: /keys\/0{64} .*does not hash to its name.*restic tries key files in name order/ },
      objects: async (n) => {
        const pw = password();
        await restic(`/e2e/bad-${id}/${n}`, pw, ["init"]);
        await blob.getContainerClient(CONTAINER).getBlockBlobClient(`e2e/bad-${id}/${n}/keys/${"0".repeat(64)}`).upload("{}", 2);
        return secretRepo(n, keyData({ RESTIC_PASSWORD: pw }));
      },
    },
    {
      kind: "Repository",
      mistake: "a key file whose scrypt parameters node refuses (N=2^17, r=1)",
      expect: { reason: "KeyFileInvalid", message: /keys\/[0-9a-f]{64} .*cannot be used: .*(scrypt|N=131072)/i },
      objects: async (n) => {
        const pw = password();
        const prefix = `e2e/bad-${id}/${n}`;
        await restic(`/${prefix}`, pw, ["init"]);
        const cc = blob.getContainerClient(CONTAINER);
        let real = "";
        for await (const b of cc.listBlobsFlat({ prefix: `${prefix}/keys/` })) real = b.name.slice(prefix.length + 6);
        const key = JSON.parse((await cc.getBlobClient(`${prefix}/keys/${real}`).downloadToBuffer()).toString("utf8")) as Record<string, unknown>;
        for (let i = 0; ; i++) {
          const body = Buffer.from(JSON.stringify({ ...key, N: 2 ** 17, r: 1, p: 1, username: `u${i}` }));
          const name = createHash("sha256").update(body).digest("hex");
          if (name < real) {
            await cc.getBlockBlobClient(`${prefix}/keys/${name}`).upload(body, body.length);
            break;
          }
        }
        return secretRepo(n, keyData({ RESTIC_PASSWORD: pw }));
      },
    },
    // BackupConfiguration.
    { kind: "BackupConfiguration", mistake: 'timeOut "1 hour"', expect: { apply: /spec\.timeOut in body should match/ }, objects: (n) => [config(n, { timeOut: "1 hour" })] },
    {
      kind: "BackupConfiguration",
      mistake: "retentionPolicy keepLast: -1",
      expect: { apply: /spec\.retentionPolicy\.keepLast in body should be greater than or equal to 0/ },
      objects: (n) => [config(n, { retentionPolicy: { name: "keep", keepLast: -1 } })],
    },
    { kind: "BackupConfiguration", mistake: 'driver "Kopia"', expect: { apply: /spec\.driver: Unsupported value: "Kopia"/ }, objects: (n) => [config(n, { driver: "Kopia" })] },
    {
      kind: "BackupConfiguration",
      mistake: 'schedule "* * * * * *" (every second)',
      expect: { reason: "Invalid", message: /runs every 1s, and scheduled backups run at most once every 1m/ },
      objects: (n) => [config(n, { schedule: "* * * * * *" })],
    },
    {
      kind: "BackupConfiguration",
      mistake: 'schedule "@every 1s" (robfig/cron, as Stash reads it)',
      expect: { reason: "Invalid", message: /@every form, which blobstash's cron \(cron-parser\) does not read.*Accepted: five fields/ },
      objects: (n) => [config(n, { schedule: "@every 1s" })],
    },
    { kind: "BackupConfiguration", mistake: 'schedule "every day"', expect: { reason: "Invalid", message: /not a valid cron expression/ }, objects: (n) => [config(n, { schedule: "every day" })] },
    {
      kind: "BackupConfiguration",
      mistake: "a Deployment as target",
      expect: { reason: "Invalid", message: /target kind "Deployment" is not supported/ },
      objects: (n) => [config(n, { target: { ref: { apiVersion: "apps/v1", kind: "Deployment", name: "web" } } })],
    },
    { kind: "BackupConfiguration", mistake: "hooks", expect: { reason: "Invalid", message: /spec\.hooks: hooks are not supported/ }, objects: (n) => [config(n, { hooks: { preBackup: { exec: { command: ["sync"] } } } })] },
    // BackupSession.
    { kind: "BackupSession", mistake: 'invoker kind "BackupConfig" (a typo)', expect: { apply: /spec\.invoker\.kind: Unsupported value: "BackupConfig"/ }, objects: (n) => [backupSession(n, { kind: "BackupConfig", name: "ok" })] },
    { kind: "BackupSession", mistake: "invoker without a name", expect: { apply: /missing required field "name" in com\.appscode\.stash\.v1beta1\.BackupSession\.spec\.invoker/ }, objects: (n) => [backupSession(n, {})] },
    {
      kind: "BackupSession",
      mistake: "invoker names a BackupConfiguration that does not exist",
      expect: { reason: "InvokerNotFound", message: /BackupConfiguration e2e-bad-[0-9a-f]+\/nope named in spec\.invoker does not exist/ },
      objects: (n) => [backupSession(n, { name: "nope" })],
    },
    {
      kind: "BackupSession",
      mistake: "invoker kind BackupBatch",
      expect: { reason: "Unsupported", message: /invoker kind "BackupBatch" is not supported/ },
      objects: (n) => [backupSession(n, { kind: "BackupBatch", name: "ok" })],
    },
    {
      kind: "BackupSession",
      mistake: "its configuration names a Repository that does not exist",
      expect: { reason: "RepositoryNotFound", message: /Repository e2e-bad-[0-9a-f]+\/nope does not exist/ },
      objects: (n) => [config(`${n}-c`, { repository: { name: "nope" } }), backupSession(n, { name: `${n}-c` })],
    },
    {
      kind: "BackupSession",
      mistake: "its configuration's PVC does not exist",
      expect: { reason: "TargetNotFound", message: /PersistentVolumeClaim e2e-bad-[0-9a-f]+\/nope does not exist/ },
      objects: (n) => [config(`${n}-c`, { target: { ref: { apiVersion: "v1", kind: "PersistentVolumeClaim", name: "nope" } } }), backupSession(n, { name: `${n}-c` })],
    },
    {
      kind: "BackupSession",
      mistake: "its Repository is not Ready (its Secret is missing)",
      expect: { reason: "SecretNotFound", message: /is not ready: Secret missing-/ },
      objects: (n) => [repository(`${n}-r`, azure(`missing-${n}`, n)), config(`${n}-c`, { repository: { name: `${n}-r` } }), backupSession(n, { name: `${n}-c` })],
    },
    {
      kind: "BackupSession",
      mistake: "its configuration uses another namespace's Repository, which allows only its own",
      expect: { reason: "RepositoryNotAllowed", message: /allows only its own namespace/ },
      objects: (n) => [
        config(`${n}-c`, { repository: { name: "good", namespace: ns } }, otherNs),
        { ...backupSession(n, { name: `${n}-c` }), metadata: { name: n, namespace: otherNs } },
      ],
      watch: (n) => ({ kind: "BackupSession", name: n, namespace: otherNs }),
    },
    {
      kind: "BackupSession",
      mistake: "a CPU limit of \"lots\" (the API server refuses the Job)",
      expect: { reason: "JobRejected", message: /the API server refused the Job \(HTTP 400\).*quantit/ },
      objects: (n) => [config(`${n}-c`, { runtimeSettings: { container: { resources: { limits: { cpu: "lots" } } } } }), backupSession(n, { name: `${n}-c` })],
    },
    {
      kind: "BackupSession",
      mistake: "its Repository's endpoint never answers (the session waits, then gives up)",
      expect: { reason: "RepositoryNotValidated", message: /gave up after waiting 5s for Repository/ },
      objects: (n) => [
        secretObject(`s-${n}`, keyData({ AZURE_ENDPOINT_SUFFIX: `localhost:${stalledPort}` })),
        repository(`${n}-r`, azure(`s-${n}`, n)),
        config(`${n}-c`, { repository: { name: `${n}-r` } }),
        backupSession(n, { name: `${n}-c` }),
      ],
    },
    // RestoreSession.
    {
      kind: "RestoreSession",
      mistake: 'snapshot "yesterday"',
      expect: { apply: /spec\.target\.rules\[0\]\.snapshots\[0\] in body should match/ },
      objects: (n) => [restoreSession(n, { target: { ref: { apiVersion: "v1", kind: "PersistentVolumeClaim", name: "data" }, rules: [{ snapshots: ["yesterday"] }] } })],
    },
    { kind: "RestoreSession", mistake: "no repository", expect: { apply: /RestoreSession\.spec\): missing required field "repository"/ }, objects: (n) => [{ ...restoreSession(n, {}), spec: { target: { ref: { apiVersion: "v1", kind: "PersistentVolumeClaim", name: "data" } } } }] },
    { kind: "RestoreSession", mistake: "a Repository that does not exist", expect: { reason: "RepositoryNotFound" }, objects: (n) => [restoreSession(n, { repository: { name: "nope" } })] },
    {
      kind: "RestoreSession",
      mistake: "a target PVC that does not exist",
      expect: { reason: "TargetNotFound" },
      objects: (n) => [restoreSession(n, { target: { ref: { apiVersion: "v1", kind: "PersistentVolumeClaim", name: "nope" }, rules: [{ snapshots: ["latest"] }] } })],
    },
    {
      kind: "RestoreSession",
      mistake: "two rules",
      expect: { reason: "Unsupported", message: /only one rule is supported \(found 2\)/ },
      objects: (n) => [restoreSession(n, { target: { ref: { apiVersion: "v1", kind: "PersistentVolumeClaim", name: "data" }, rules: [{ snapshots: ["latest"] }, { paths: ["/a"] }] } })],
    },
    {
      kind: "RestoreSession",
      mistake: "include and exclude in one rule",
      expect: { reason: "Unsupported", message: /cannot combine include patterns .* with exclude patterns/ },
      objects: (n) => [restoreSession(n, { target: { ref: { apiVersion: "v1", kind: "PersistentVolumeClaim", name: "data" }, rules: [{ include: ["/a"], exclude: ["/a/b"] }] } })],
    },
    {
      kind: "RestoreSession",
      mistake: "a target PVC in another namespace",
      expect: { reason: "Unsupported", message: /a Pod cannot mount a claim from/ },
      objects: (n) => [restoreSession(n, { target: { ref: { apiVersion: "v1", kind: "PersistentVolumeClaim", name: "data", namespace: otherNs }, rules: [{ snapshots: ["latest"] }] } })],
    },
  ];

  const kubectlCreate = (objects: K8sObject[]) =>
    execa("kubectl", ["create", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }), reject: false });

  async function statusOf(ref: { kind: string; name: string; namespace?: string }): Promise<{ phase?: string; condition?: Condition } | undefined> {
    const p = PLURALS[ref.kind]!;
    try {
      const o = (await custom.getNamespacedCustomObject({ group: STASH, version: p.version, plural: p.plural, namespace: ref.namespace ?? ns, name: ref.name })) as {
        status?: { phase?: string; conditions?: Condition[] };
      };
      const type = ref.kind === "BackupSession" || ref.kind === "RestoreSession" ? "Completed" : "Ready";
      return { ...(o.status?.phase ? { phase: o.status.phase } : {}), ...(o.status?.conditions ? { condition: o.status.conditions.find((c) => c.type === type)! } : {}) };
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw err;
    }
  }

  before(async function () {
    kc = new KubeConfig();
    kc.loadFromFile(cluster().kubeconfig);
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    await applyCrds(cluster());
    for (const n of [ns, otherNs]) await core.createNamespace({ body: { metadata: { name: n } } });
    blob = new BlobServiceClient(`https://${az().account}.blob.${az().endpointSuffix}`, new StorageSharedKeyCredential(az().account, az().key));
    await blob.getContainerClient(CONTAINER).createIfNotExists();
    await blob.getContainerClient(OTHER_CONTAINER).createIfNotExists();
    // An endpoint that accepts connections and never answers.
    stalled = createServer((s) => {
      stalledSockets.add(s);
      s.on("close", () => stalledSockets.delete(s));
    });
    await new Promise<void>((resolve) => stalled.listen(0, "127.0.0.1", resolve));
    stalledPort = (stalled.address() as { port: number }).port;
    op = await installOperator(cluster(), {
      release: `bad-input-${id}`,
      namespace: `${ns}-operator`,
      // The stalled endpoint is one the admin approved: what is tested there is the wait, not the approval.
      values: { replicaCount: 1, watchNamespaces: [ns, otherNs], operator: { revalidatePeriod: "2s", repositoryWaitLimit: "5s", allowedEndpointSuffixes: [`localhost:${stalledPort}`] } },
    });
    const created = await kubectlCreate([
      secretObject("good-secret", keyData({ RESTIC_PASSWORD: goodPassword })),
      repository("good", azure("good-secret", "good")),
      { apiVersion: "v1", kind: "PersistentVolumeClaim", metadata: { name: "data", namespace: ns }, spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } } },
      { apiVersion: "v1", kind: "PersistentVolumeClaim", metadata: { name: "data", namespace: otherNs }, spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } } },
      config("ok", {}),
    ]);
    assert.equal(created.exitCode, 0, created.stderr);
    await waitFor("Repository good Ready", async () => (await statusOf({ kind: "Repository", name: "good" }))?.condition?.status === "True", { timeoutMs: 30_000, intervalMs: 200 });
  });

  after(async function () {
    await op?.stop().catch(() => undefined);
    for (const s of stalledSockets) s.destroy();
    stalled?.close();
    for (const n of [ns, otherNs, `${ns}-operator`]) await core.deleteNamespace({ name: n }).catch(() => undefined);
    await blob?.getContainerClient(OTHER_CONTAINER).deleteIfExists();
  });

  it(`gives each of ${rows.length} mistakes its refusal or reason within seconds`, async function () {
    assert.ok(rows.length >= 40, `at least 40 rows (${rows.length})`);
    // All rows at once: they are independent, and the operator must cope with all of them together.
    await Promise.all(
      rows.map(async (row, i) => {
        const n = `m${i}`;
        const objects = await row.objects(n);
        if ("apply" in row.expect) {
          const before = objects.slice(0, -1);
          if (before.length) {
            const r = await kubectlCreate(before);
            assert.equal(r.exitCode, 0, r.stderr);
          }
          const r = await kubectlCreate(objects.slice(-1));
          const pattern = row.expect.apply;
          const line = r.stderr.split("\n").find((l) => pattern.test(l)) ?? r.stderr.split("\n")[0] ?? "";
          const field = /(spec\.[^\s:]*.*)$/.exec(line)?.[1] ?? line;
          results.push({ row, observed: r.exitCode === 0 ? "accepted at apply" : `refused at apply: ${field.slice(0, 120)}`, ok: r.exitCode !== 0 && pattern.test(r.stderr) });
          return;
        }
        const r = await kubectlCreate(objects);
        if (r.exitCode !== 0) {
          results.push({ row, observed: `refused at apply: ${r.stderr.split("\n")[0]}`, ok: false });
          return;
        }
        const last = objects[objects.length - 1]!;
        const ref = row.watch?.(n) ?? { kind: last.kind === "Secret" ? "Repository" : last.kind, name: last.metadata.name, ...(last.metadata.namespace ? { namespace: last.metadata.namespace } : {}) };
        const want = row.expect;
        let seen: Awaited<ReturnType<typeof statusOf>>;
        const done = (s: typeof seen) => {
          const c = s?.condition;
          if (c?.reason !== want.reason) return false;
          return ref.kind === "BackupSession" || ref.kind === "RestoreSession" ? s!.phase === "Failed" || s!.phase === "Succeeded" : c.status !== "Unknown";
        };
        // Sessions end once; a Repository's or configuration's reason may pass through others first.
        await waitFor(`${ref.kind} ${ref.name} to say ${want.reason}`, async () => done((seen = await statusOf(ref))), {
          timeoutMs: 45_000,
          intervalMs: 250,
          abortIf: () => ((ref.kind === "BackupSession" || ref.kind === "RestoreSession") && (seen?.phase === "Failed" || seen?.phase === "Succeeded") ? "it ended" : undefined),
        }).catch(() => undefined);
        const c = seen?.condition;
        const observed = c ? `${seen?.phase ? `${seen.phase} ` : ""}${c.reason}: ${c.message.slice(0, 100)}` : "no status";
        results.push({ row, observed, ok: c?.reason === want.reason && (!want.message || want.message.test(c.message)) });
      }),
    );

    const order = new Map(rows.map((r, i) => [r, i]));
    results.sort((a, b) => order.get(a.row)! - order.get(b.row)!);
    const expectText = (r: Row) => ("apply" in r.expect ? "refused at apply" : r.expect.reason);
    const lines = results.map((r, i) => `  ${String(i + 1).padStart(2)} ${r.ok ? "ok  " : "FAIL"} ${r.row.kind.padEnd(19)} ${r.row.mistake.slice(0, 58).padEnd(58)} ${expectText(r.row).padEnd(22)} ${r.observed}`);
    const counts = new Map<string, { rows: number; apply: number; reason: number; ok: number }>();
    for (const r of results) {
      const c = counts.get(r.row.kind) ?? { rows: 0, apply: 0, reason: 0, ok: 0 };
      c.rows++;
      if ("apply" in r.row.expect) c.apply++;
      else c.reason++;
      if (r.ok) c.ok++;
      counts.set(r.row.kind, c);
    }
    console.log(`\n   # ok?  ${"kind".padEnd(19)} ${"mistake".padEnd(58)} ${"expected".padEnd(22)} observed\n${lines.join("\n")}`);
    console.log(`\n  ${"kind".padEnd(20)} rows  refused-at-apply  reason  as-expected`);
    for (const [kind, c] of counts) console.log(`  ${kind.padEnd(20)} ${String(c.rows).padStart(4)}  ${String(c.apply).padStart(16)}  ${String(c.reason).padStart(6)}  ${String(c.ok).padStart(11)}`);
    const total = results.filter((r) => r.ok).length;
    console.log(`  ${"all".padEnd(20)} ${String(results.length).padStart(4)}  ${String(results.filter((r) => "apply" in r.row.expect).length).padStart(16)}  ${String(results.filter((r) => !("apply" in r.row.expect)).length).padStart(6)}  ${String(total).padStart(11)}\n`);
    assert.deepEqual(results.filter((r) => !r.ok).map((r) => `${r.row.kind}: ${r.row.mistake} -> ${r.observed}`), []);
  });

  it("left no Job and no Secret behind for any of them", async function () {
    for (const n of [ns, otherNs]) {
      const jobs = await kc.makeApiClient(BatchV1Api).listNamespacedJob({ namespace: n });
      assert.deepEqual(jobs.items.map((j) => j.metadata?.name), [], `no Job in ${n}`);
      const made = await core.listNamespacedSecret({ namespace: n, labelSelector: "app.kubernetes.io/managed-by=blobstash" });
      assert.deepEqual(made.items.map((s) => s.metadata?.name), [], `no credentials Secret left in ${n}`);
    }
  });

  it("never crashed and never let a secret value into its log, an event or a status", async function () {
    const log = await op.logs();
    assert.ok(!log.includes("unhandled") && !/"level":"error".*uncaught/i.test(log), "no unhandled errors");
    const [pod] = await op.pods();
    const restarts = (await core.readNamespacedPod({ namespace: op.namespace, name: pod! })).status?.containerStatuses?.[0]?.restartCount;
    assert.equal(restarts, 0, "the operator's container never restarted");
    const m = await op.metrics();
    assert.match(m, /blobstash_reconcile_total\{kind="Repository",outcome="success"\} \d+/, "the operator still serves metrics");
    const events = (await Promise.all([ns, otherNs].map((n) => core.listNamespacedEvent({ namespace: n })))).flatMap((l) => l.items);
    const statuses: unknown[] = [];
    for (const [kind, p] of Object.entries(PLURALS)) {
      for (const n of [ns, otherNs]) {
        const list = (await custom.listNamespacedCustomObject({ group: STASH, version: p.version, plural: p.plural, namespace: n })) as { items: Array<{ status?: unknown }> };
        statuses.push(...list.items.map((o) => ({ kind, status: o.status })));
      }
    }
    const haystacks: Array<[string, string]> = [
      ["operator log", log],
      ["events", JSON.stringify(events)],
      ["statuses", JSON.stringify(statuses)],
    ];
    assert.ok(events.length > 20 && secretValues.size > 20);
    for (const [where, text] of haystacks) {
      for (const value of secretValues) {
        for (const form of [value, encodeURIComponent(value)]) assert.ok(!text.includes(form), `${where} contains a secret value`);
      }
    }
  });
});
