// Prints a container SAS for the emulator of a running local cluster (. .local/env), for
// capture-azure.sh: node mint-sas.ts <container> <permissions> <seconds until expiry> [create]
import { BlobServiceClient, ContainerSASPermissions, generateBlobSASQueryParameters, StorageSharedKeyCredential } from "@azure/storage-blob";

const [container = "", permissions = "rl", seconds = "3600", create] = process.argv.slice(2);
const account = process.env.AZURE_ACCOUNT_NAME ?? "";
const credential = new StorageSharedKeyCredential(account, process.env.AZURE_ACCOUNT_KEY ?? "");
if (create === "create") {
  await new BlobServiceClient(`https://${account}.blob.${process.env.AZURE_ENDPOINT_SUFFIX}`, credential).getContainerClient(container).createIfNotExists();
}
const now = Date.now();
const sas = generateBlobSASQueryParameters(
  {
    containerName: container,
    permissions: ContainerSASPermissions.parse(permissions),
    startsOn: new Date(now - 3_600_000),
    expiresOn: new Date(now + Number(seconds) * 1000),
    version: "2025-11-05",
  },
  credential,
).toString();
process.stdout.write(sas);
