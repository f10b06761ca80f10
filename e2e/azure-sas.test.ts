// SAS minting (operator/azure/mint.ts) against Azurite, which checks signatures, permissions and
// expiry: the container SAS an account key signs, and the user delegation SAS an Azure AD identity
// gets (Azurite's basic OAuth accepts an unsigned token with a storage audience and an AAD issuer).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { AccessToken, TokenCredential } from "@azure/identity";
import { AnonymousCredential, BlobServiceClient, RestError, StorageSharedKeyCredential } from "@azure/storage-blob";
import type { AzureClient } from "../operator/azure/clients.ts";
import { mintContainerSas, mintUserDelegationSas, sasForJob, UserDelegationKeyCache } from "../operator/azure/mint.ts";
import { probeBackend } from "../operator/azure/probe.ts";
import { BACKUP_PERMISSIONS, parseSas, RESTORE_PERMISSIONS } from "../operator/azure/sas.ts";
import { cluster } from "./fixture.ts";

const serviceUrl = () => `https://${cluster().azurite.account}.blob.${cluster().azurite.endpointSuffix}`;

/** What Azure AD would issue for storage; Azurite (--oauth basic) checks claims, not the signature. */
class FakeAadCredential implements TokenCredential {
  requests = 0;
  async getToken(): Promise<AccessToken> {
    this.requests++;
    const now = Math.floor(Date.now() / 1000);
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const token = `${b64({ alg: "RS256", typ: "JWT" })}.${b64({
      aud: "https://storage.azure.com",
      iss: `https://sts.windows.net/${tenant}/`,
      iat: now - 60,
      nbf: now - 60,
      exp: now + 3600,
      oid: "11059fcc-5514-4800-b5f8-49808b9cfab6",
      tid: tenant,
    })}.c2lnbmF0dXJl`;
    return { token, expiresOnTimestamp: (now + 3600) * 1000 };
  }
}

async function refused(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    if (err instanceof RestError) return err.statusCode;
    throw err;
  }
}

describe("SAS minting against Azurite", function () {
  this.timeout(60_000);
  const container = `e2e-sas-${randomBytes(4).toString("hex")}`;
  const other = `${container}-other`;
  const account = () => ({ accountName: cluster().azurite.account, accountKey: cluster().azurite.key });
  const withSas = (token: string) => new BlobServiceClient(`${serviceUrl()}?${token}`, new AnonymousCredential(), { retryOptions: { maxTries: 1 } });

  before(async function () {
    const admin = new BlobServiceClient(serviceUrl(), new StorageSharedKeyCredential(account().accountName, account().accountKey));
    await admin.createContainer(container);
    await admin.createContainer(other);
  });

  it("mints a container SAS from an account key that backs up, and is scoped to its container", async function () {
    const sas = mintContainerSas(account(), { container, permissions: BACKUP_PERMISSIONS, expiresOn: new Date(Date.now() + 3600_000) });
    assert.equal(sas.kind, "service");
    const parsed = parseSas(sas.token);
    assert.ok(parsed.ok && parsed.sas.resource === "c" && parsed.sas.permissions === BACKUP_PERMISSIONS);
    const svc = withSas(sas.token);
    const blob = svc.getContainerClient(container).getBlockBlobClient("repo/data/00/x");
    await blob.upload("data", 4);
    assert.equal((await blob.downloadToBuffer()).toString(), "data");
    await blob.delete();
    assert.equal(await refused(svc.getContainerClient(other).getBlockBlobClient("x").upload("x", 1)), 403, "another container is out of scope");
  });

  it("mints a restore SAS that reads and lists but cannot write or delete", async function () {
    const sas = mintContainerSas(account(), { container, permissions: RESTORE_PERMISSIONS, expiresOn: new Date(Date.now() + 3600_000) });
    const cc = withSas(sas.token).getContainerClient(container);
    await cc.listBlobsFlat().byPage({ maxPageSize: 1 }).next();
    assert.equal(await refused(cc.getBlockBlobClient("nope").upload("x", 1)), 403);
  });

  it("mints a SAS that stops working when it expires", async function () {
    const sas = mintContainerSas(account(), { container, permissions: "rl", startsOn: new Date(Date.now() - 7200_000), expiresOn: new Date(Date.now() - 3600_000) });
    assert.equal(await refused(withSas(sas.token).getContainerClient(container).listBlobsFlat().byPage({ maxPageSize: 1 }).next()), 403);
  });

  it("mints a user delegation SAS through an Azure AD identity, reusing the delegation key", async function () {
    const credential = new FakeAadCredential();
    const client: AzureClient = {
      credentials: { mode: "workloadIdentity", accountName: account().accountName, endpointSuffix: cluster().azurite.endpointSuffix },
      serviceUrl: serviceUrl(),
      service: new BlobServiceClient(serviceUrl(), credential),
      tokenCredential: credential,
    };
    // The identity itself passes the same probe the Repository controller runs.
    assert.deepEqual(await probeBackend(client, { container, prefix: "/ud" }), { ok: true, initialized: false });

    let delegationKeyRequests = 0;
    const fetchKey = client.service.getUserDelegationKey.bind(client.service) as (s: Date, e: Date) => ReturnType<BlobServiceClient["getUserDelegationKey"]>;
    client.service.getUserDelegationKey = ((startsOn: Date, expiresOn: Date) => {
      delegationKeyRequests++;
      return fetchKey(startsOn, expiresOn);
    }) as BlobServiceClient["getUserDelegationKey"];
    const keys = new UserDelegationKeyCache();
    const backup = await mintUserDelegationSas(client, { container, permissions: BACKUP_PERMISSIONS, expiresOn: new Date(Date.now() + 3600_000) }, keys);
    assert.equal(backup.kind, "userDelegation");
    const parsed = parseSas(backup.token);
    assert.ok(parsed.ok && parsed.sas.kind === "userDelegation");
    const cc = withSas(backup.token).getContainerClient(container);
    await cc.getBlockBlobClient("ud/config").upload("cfg", 3);
    assert.equal((await cc.getBlobClient("ud/config").downloadToBuffer()).toString(), "cfg");

    const restore = await mintUserDelegationSas(client, { container, permissions: RESTORE_PERMISSIONS, expiresOn: new Date(Date.now() + 3600_000) }, keys);
    const rc = withSas(restore.token).getContainerClient(container);
    assert.equal((await rc.getBlobClient("ud/config").downloadToBuffer()).toString(), "cfg");
    assert.equal(await refused(rc.getBlockBlobClient("ud/other").upload("x", 1)), 403);
    await mintUserDelegationSas(client, { container, permissions: RESTORE_PERMISSIONS, expiresOn: new Date(Date.now() + 7200_000) }, keys);
    assert.equal(delegationKeyRequests, 1, "one delegation key served three SAS tokens");
    assert.ok(credential.requests >= 1);
  });

  it("sasForJob hands a SAS Secret's own token through unchanged", async function () {
    const own = mintContainerSas(account(), { container, permissions: BACKUP_PERMISSIONS, expiresOn: new Date(Date.now() + 3600_000) });
    const parsed = parseSas(own.token);
    assert.ok(parsed.ok);
    const client: AzureClient = {
      credentials: { mode: "sas", accountName: account().accountName, endpointSuffix: cluster().azurite.endpointSuffix, sas: parsed.sas },
      serviceUrl: serviceUrl(),
      service: withSas(own.token),
    };
    const job = await sasForJob(client, { container, permissions: RESTORE_PERMISSIONS, expiresOn: new Date(Date.now() + 600_000) });
    assert.equal(job.kind, "provided");
    assert.equal(job.token, own.token);
  });
});
