// Azurite as the cluster runs it: TLS with our CA, reached as https://<account>.blob.localhost:<port>
// through the CONNECT proxy (HTTPS_PROXY), exactly the way restic and the operator reach Azure.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import {
  AnonymousCredential, BlobServiceClient, ContainerClient, ContainerSASPermissions, RestError, StorageSharedKeyCredential,
  generateBlobSASQueryParameters, type StoragePipelineOptions,
} from "@azure/storage-blob";
import { agentFor } from "../operator/azure/proxy-agent.ts";
import { cluster } from "./fixture.ts";

// Azurite's public, well-known key; the cluster's emulator runs with its own random key instead.
const wellKnownKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
// A refused request must fail now, not after the SDK's retries with backoff.
const noRetry: StoragePipelineOptions = { retryOptions: { maxTries: 1 } };

function serviceUrl(): string {
  const { account, endpointSuffix } = cluster().azurite;
  return `https://${account}.blob.${endpointSuffix}`;
}

function sharedKey(key = cluster().azurite.key): StorageSharedKeyCredential {
  return new StorageSharedKeyCredential(cluster().azurite.account, key);
}

async function errorOf(p: Promise<unknown>): Promise<RestError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RestError) return err;
    throw err;
  }
  assert.fail("the request was expected to be refused");
}

function containerSas(container: string, permissions: string, startsOn: Date, expiresOn: Date): string {
  return generateBlobSASQueryParameters(
    { containerName: container, permissions: ContainerSASPermissions.parse(permissions), startsOn, expiresOn },
    sharedKey(),
  ).toString();
}

describe("local cluster: Azurite over TLS", function () {
  const container = `e2e-az-${randomBytes(4).toString("hex")}`;
  let service: BlobServiceClient;

  before(async function () {
    service = new BlobServiceClient(serviceUrl(), sharedKey());
    await service.createContainer(container);
  });

  it("is served for <account>.blob.localhost with a certificate of the cluster CA, through the proxy", async function () {
    assert.match(serviceUrl(), /^https:\/\/devstoreaccount1\.blob\.localhost:\d+$/);
    assert.equal(cluster().env.HTTPS_PROXY, process.env.HTTPS_PROXY);
    const props = await service.getProperties();
    assert.ok(props._response.status === 200);
    // The SDK took HTTPS_PROXY from the environment: the proxy tunnelled the account host name.
    const proxyLog = await readFile(path.join(cluster().dir, "logs", "proxy.log"), "utf8");
    assert.match(proxyLog, new RegExp(`tunnel ${cluster().azurite.account}\\.blob\\.localhost:${cluster().azurite.port} -> 127\\.0\\.0\\.1:${cluster().azurite.port}`));
  });

  it("creates a container, uploads and lists blobs with the shared key", async function () {
    const cc = service.getContainerClient(container);
    await cc.getBlockBlobClient("dir/a.txt").upload("alpha", 5);
    await cc.getBlockBlobClient("dir/b.bin").upload(randomBytes(4096), 4096);
    const names: string[] = [];
    for await (const b of cc.listBlobsFlat({ prefix: "dir/" })) names.push(b.name);
    assert.deepEqual(names.sort(), ["dir/a.txt", "dir/b.bin"]);
    assert.equal((await cc.getBlobClient("dir/a.txt").downloadToBuffer()).toString(), "alpha");
    const containers: string[] = [];
    for await (const c of service.listContainers({ prefix: container })) containers.push(c.name);
    assert.deepEqual(containers, [container]);
  });

  it("answers a HEAD for a missing blob with a Content-Length, so the connection stays alive (as Azure's does)", async function () {
    // Through a kept-alive tunnel agent: one CONNECT for many "does it exist?" checks.
    const agent = agentFor(serviceUrl());
    const cc = new BlobServiceClient(serviceUrl(), sharedKey(), { agent } as StoragePipelineOptions).getContainerClient(container);
    const tunnels = async () => (await readFile(path.join(cluster().dir, "logs", "proxy.log"), "utf8")).split("\n").filter((l) => l.includes("tunnel ")).length;
    const before = await tunnels();
    for (let i = 0; i < 10; i++) assert.equal(await cc.getBlobClient(`missing/${i}`).exists(), false);
    // Without the shim every check closes its connection: 10 tunnels. Node may open a second one while
    // the first is being returned to the pool.
    assert.ok((await tunnels()) - before <= 2, `${(await tunnels()) - before} tunnels for 10 checks`);
  });

  it("refuses the well-known emulator key: the cluster's own key is really checked", async function () {
    const wrong = new BlobServiceClient(serviceUrl(), sharedKey(wellKnownKey), noRetry);
    const err = await errorOf(wrong.getContainerClient(container).listBlobsFlat().next());
    assert.equal(err.statusCode, 403);
    assert.equal(err.code, "AuthenticationFailed");
  });

  it("lets a read+list container SAS read but answers 403 when it writes", async function () {
    const now = Date.now();
    const sas = containerSas(container, "rl", new Date(now - 5 * 60_000), new Date(now + 60 * 60_000));
    const ro = new ContainerClient(`${serviceUrl()}/${container}?${sas}`, new AnonymousCredential(), noRetry);
    const names: string[] = [];
    for await (const b of ro.listBlobsFlat()) names.push(b.name);
    assert.ok(names.includes("dir/a.txt"), "the SAS can list");
    assert.equal((await ro.getBlobClient("dir/a.txt").downloadToBuffer()).toString(), "alpha", "and read");
    const err = await errorOf(ro.getBlockBlobClient("dir/forbidden.txt").upload("x", 1));
    assert.equal(err.statusCode, 403);
    assert.equal(err.code, "AuthorizationPermissionMismatch");
  });

  it("refuses an expired SAS (and accepts the same SAS while it is valid)", async function () {
    const now = Date.now();
    const client = (sas: string) => new ContainerClient(`${serviceUrl()}/${container}?${sas}`, new AnonymousCredential(), noRetry);
    const valid = client(containerSas(container, "rl", new Date(now - 60 * 60_000), new Date(now + 60 * 60_000)));
    assert.equal((await valid.listBlobsFlat().next()).done, false, "a SAS in its validity window lists");
    const expired = client(containerSas(container, "rl", new Date(now - 2 * 60 * 60_000), new Date(now - 60 * 60_000)));
    // A listing, not a blob read: HEAD/GET-blob errors carry no body, and the error code is in the body.
    const err = await errorOf(expired.listBlobsFlat().next());
    assert.equal(err.statusCode, 403);
    // Azure says AuthenticationFailed ("Signature not valid in the specified time frame"); Azurite says
    // AuthorizationFailure. Code that classifies errors must treat both as a refused credential.
    assert.equal(err.code, "AuthorizationFailure");
  });

  it("keeps its data across stop and start on the same port", async function () {
    this.timeout(60_000);
    const az = cluster().azurite;
    const cc = service.getContainerClient(container);
    await cc.getBlockBlobClient("survives.txt").upload("still here", 10);
    const pidBefore = cluster().pids().azurite;

    await az.stop();
    assert.equal(cluster().pids().azurite, undefined, "no Azurite process is recorded while stopped");
    const offline = new ContainerClient(`${serviceUrl()}/${container}`, sharedKey(), noRetry);
    await assert.rejects(offline.getBlobClient("survives.txt").downloadToBuffer(), "a stopped emulator does not answer");

    await az.start();
    assert.notEqual(cluster().pids().azurite, pidBefore, "a new process");
    assert.equal(cluster().azurite.port, az.port);
    assert.equal((await cc.getBlobClient("survives.txt").downloadToBuffer()).toString(), "still here");
  });
});
