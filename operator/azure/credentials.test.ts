import assert from "node:assert/strict";
import { adminPolicy } from "./admin-policy.ts";
import { decodeSecretData, parseStorageSecret, readStorageSecret, sensitiveValues } from "./credentials.ts";

const KEY = Buffer.alloc(64, 9).toString("base64");
const SAS = "sv=2025-11-05&sr=c&sp=racwdl&se=2030-01-01T00:00:00Z&sig=c2lnbmF0dXJl";
const base = { RESTIC_PASSWORD: "pw", AZURE_ACCOUNT_NAME: "myaccount" };
const opts = { secretName: "azure-secret", policy: adminPolicy({ defaultEndpointSuffix: "core.windows.net", extraEndpointSuffixes: ["localhost:10000"] }) };
const SECRET_VALUES = ["pw", KEY, SAS, "client-secret-value"];

function assertNoSecretIn(text: string): void {
  for (const v of SECRET_VALUES) assert.ok(!text.includes(v), `message leaks a secret value: ${text}`);
}

describe("parseStorageSecret", () => {
  it("recognizes Stash's account key Secret", () => {
    const r = parseStorageSecret({ ...base, AZURE_ACCOUNT_KEY: KEY }, opts);
    assert.ok(r.ok);
    assert.equal(r.credentials.mode, "accountKey");
    assert.equal(r.credentials.accountName, "myaccount");
    assert.equal(r.credentials.endpointSuffix, "core.windows.net");
    assert.equal(r.resticPassword, "pw");
    assert.deepEqual(r.notes, []);
  });

  it("recognizes a SAS Secret and parses its expiry", () => {
    const r = parseStorageSecret({ ...base, AZURE_ACCOUNT_SAS: SAS }, opts);
    assert.ok(r.ok && r.credentials.mode === "sas");
    assert.equal(r.credentials.sas.expiresOn.toISOString(), "2030-01-01T00:00:00.000Z");
  });

  it("recognizes a service principal", () => {
    const r = parseStorageSecret(
      { ...base, AZURE_TENANT_ID: "contoso.onmicrosoft.com", AZURE_CLIENT_ID: "00000000-1111-2222-3333-444444444444", AZURE_CLIENT_SECRET: "client-secret-value" },
      opts,
    );
    assert.ok(r.ok && r.credentials.mode === "servicePrincipal");
  });

  it("falls back to workload identity when only the account is named", () => {
    const r = parseStorageSecret(base, opts);
    assert.ok(r.ok && r.credentials.mode === "workloadIdentity");
  });

  it("prefers the account key like restic, and says which keys it ignores", () => {
    const r = parseStorageSecret({ ...base, AZURE_ACCOUNT_KEY: KEY, AZURE_ACCOUNT_SAS: SAS }, opts);
    assert.ok(r.ok && r.credentials.mode === "accountKey");
    assert.match(r.notes.join(" "), /AZURE_ACCOUNT_SAS ignored because AZURE_ACCOUNT_KEY is set/);
  });

  it("trims trailing newlines (kubectl --from-file of an echo'd file) and says so", () => {
    const r = parseStorageSecret({ RESTIC_PASSWORD: "pw\n", AZURE_ACCOUNT_NAME: "myaccount\r\n", AZURE_ACCOUNT_KEY: `${KEY}\n` }, opts);
    assert.ok(r.ok && r.credentials.mode === "accountKey");
    assert.equal(r.resticPassword, "pw");
    assert.equal(r.credentials.accountKey, KEY);
    assert.equal(r.credentials.accountName, "myaccount");
    assert.match(r.notes[0]!, /trailing newline was removed from RESTIC_PASSWORD, AZURE_ACCOUNT_NAME and AZURE_ACCOUNT_KEY/);
  });

  it("keeps spaces that may belong to a password", () => {
    const r = parseStorageSecret({ ...base, RESTIC_PASSWORD: " pw ", AZURE_ACCOUNT_KEY: KEY }, opts);
    assert.ok(r.ok);
    assert.equal(r.resticPassword, " pw ");
  });

  it("takes the endpoint suffix from the Secret, else the operator default", () => {
    const own = parseStorageSecret({ ...base, AZURE_ACCOUNT_KEY: KEY, AZURE_ENDPOINT_SUFFIX: "localhost:10000" }, opts);
    assert.ok(own.ok && own.credentials.endpointSuffix === "localhost:10000");
    const def = parseStorageSecret({ ...base, AZURE_ACCOUNT_KEY: KEY }, { secretName: "s", policy: adminPolicy({ defaultEndpointSuffix: "core.chinacloudapi.cn" }) });
    assert.ok(def.ok && def.credentials.endpointSuffix === "core.chinacloudapi.cn");
    const none = parseStorageSecret({ ...base, AZURE_ACCOUNT_KEY: KEY }, { secretName: "s" });
    assert.ok(none.ok && none.credentials.endpointSuffix === "core.windows.net");
  });

  const failures: Array<[string, Record<string, string>, string, RegExp]> = [
    ["RESTIC_PASSWORD missing", { AZURE_ACCOUNT_NAME: "myaccount", AZURE_ACCOUNT_KEY: KEY }, "SecretKeyMissing", /no RESTIC_PASSWORD .*it has AZURE_ACCOUNT_KEY and AZURE_ACCOUNT_NAME/],
    ["RESTIC_PASSWORD empty", { ...base, RESTIC_PASSWORD: "\n", AZURE_ACCOUNT_KEY: KEY }, "SecretKeyMissing", /RESTIC_PASSWORD/],
    ["account name missing", { RESTIC_PASSWORD: "pw", AZURE_ACCOUNT_KEY: KEY }, "SecretKeyMissing", /no AZURE_ACCOUNT_NAME/],
    ["everything missing", {}, "SecretKeyMissing", /no RESTIC_PASSWORD and AZURE_ACCOUNT_NAME .*no keys/],
    ["account name with capitals", { ...base, AZURE_ACCOUNT_NAME: "MyAccount", AZURE_ACCOUNT_KEY: KEY }, "SecretValueMalformed", /AZURE_ACCOUNT_NAME must be 3 to 24 lowercase/],
    ["key not base64", { ...base, AZURE_ACCOUNT_KEY: "not-base64!" }, "SecretValueMalformed", /AZURE_ACCOUNT_KEY is not base64/],
    ["key empty", { ...base, AZURE_ACCOUNT_KEY: "" }, "SecretValueMalformed", /AZURE_ACCOUNT_KEY is empty/],
    ["SAS without sig", { ...base, AZURE_ACCOUNT_SAS: "sp=r&se=2030-01-01" }, "SecretValueMalformed", /AZURE_ACCOUNT_SAS lacks "sig"/],
    ["partial service principal", { ...base, AZURE_CLIENT_ID: "00000000-1111-2222-3333-444444444444" }, "SecretKeyMissing", /no AZURE_TENANT_ID and AZURE_CLIENT_SECRET/],
    ["client id not a GUID", { ...base, AZURE_TENANT_ID: "t.example.com", AZURE_CLIENT_ID: "app", AZURE_CLIENT_SECRET: "client-secret-value" }, "SecretValueMalformed", /AZURE_CLIENT_ID must be/],
    ["suffix given as a URL", { ...base, AZURE_ACCOUNT_KEY: KEY, AZURE_ENDPOINT_SUFFIX: "https://core.windows.net" }, "SecretValueMalformed", /AZURE_ENDPOINT_SUFFIX must be a host name/],
    ["suffix an IPv4 literal", { ...base, AZURE_ACCOUNT_KEY: KEY, AZURE_ENDPOINT_SUFFIX: "127.0.0.1:10000" }, "SecretValueMalformed", /AZURE_ENDPOINT_SUFFIX is an IP address \(127\.0\.0\.1\).*needs a host name/],
    ["suffix an IPv6 literal", { ...base, AZURE_ACCOUNT_KEY: KEY, AZURE_ENDPOINT_SUFFIX: "[::1]:10000" }, "SecretValueMalformed", /AZURE_ENDPOINT_SUFFIX is an IPv6 address/],
    ["suffix with port 0", { ...base, AZURE_ACCOUNT_KEY: KEY, AZURE_ENDPOINT_SUFFIX: "localhost:0" }, "SecretValueMalformed", /port 0, outside 1-65535/],
    ["a space after the account name", { ...base, AZURE_ACCOUNT_NAME: "myaccount ", AZURE_ACCOUNT_KEY: KEY }, "SecretValueMalformed", /AZURE_ACCOUNT_NAME has whitespace \(a space, tab or line break\) around it/],
    ["a tab before the key", { ...base, AZURE_ACCOUNT_KEY: `\t${KEY}` }, "SecretValueMalformed", /AZURE_ACCOUNT_KEY has whitespace .* around it/],
    ["a key wrapped over two lines", { ...base, AZURE_ACCOUNT_KEY: `${KEY.slice(0, 40)}\n${KEY.slice(40)}` }, "SecretValueMalformed", /AZURE_ACCOUNT_KEY has whitespace .* inside it/],
    ["an endpoint the admin did not approve", { ...base, AZURE_ACCOUNT_KEY: KEY, AZURE_ENDPOINT_SUFFIX: "attacker.example" }, "EndpointNotAllowed", /"attacker\.example" is not an endpoint suffix the cluster admin approved \(approved: core\.windows\.net, .*\), so the operator makes no connection/],
    ["a subdomain of an approved suffix", { ...base, AZURE_ACCOUNT_KEY: KEY, AZURE_ENDPOINT_SUFFIX: "evil.core.windows.net" }, "EndpointNotAllowed", /not an endpoint suffix the cluster admin approved/],
    ["an approved host on another port", { ...base, AZURE_ACCOUNT_KEY: KEY, AZURE_ENDPOINT_SUFFIX: "localhost:10001" }, "EndpointNotAllowed", /operator\.allowedEndpointSuffixes/],
    ["a password with a NUL byte", { ...base, RESTIC_PASSWORD: "p\0w", AZURE_ACCOUNT_KEY: KEY }, "PasswordNotText", /RESTIC_PASSWORD contains a NUL byte/],
  ];
  for (const [what, data, reason, message] of failures) {
    it(`reports ${what} as ${reason}, naming the key and not the value`, () => {
      const r = parseStorageSecret(data, opts);
      assert.ok(!r.ok, "expected a problem");
      assert.equal(r.reason, reason);
      assert.match(r.message, message);
      assert.match(r.message, /Secret azure-secret/);
      assertNoSecretIn(r.message);
    });
  }
});

describe("readStorageSecret: the Secret's bytes", () => {
  const b64 = (v: string | Buffer) => Buffer.from(v).toString("base64");
  const data = (password: Buffer | string, extra: Record<string, string> = {}) => ({
    RESTIC_PASSWORD: b64(password),
    AZURE_ACCOUNT_NAME: b64("myaccount"),
    AZURE_ACCOUNT_KEY: b64(KEY),
    ...extra,
  });

  it("refuses a RESTIC_PASSWORD that is not UTF-8, before anything could use it", () => {
    const registered: string[] = [];
    const r = readStorageSecret(data(Buffer.from([0x70, 0xff, 0xfe, 0x77, 0x80])), { ...opts, register: (v) => registered.push(v) });
    assert.ok(!r.ok);
    assert.equal(r.reason, "PasswordNotText");
    assert.match(r.message, /RESTIC_PASSWORD is not UTF-8 text .*restic would be given other bytes .*restic key add/);
    assert.ok(registered.length >= 2, "the values were registered for redaction all the same");
  });

  it("names UTF-16 (a byte order mark) as what it is", () => {
    const r = readStorageSecret(data(Buffer.from("\ufeffpw", "utf16le")), opts);
    assert.ok(!r.ok && r.reason === "PasswordNotText");
    assert.match(r.message, /UTF-16 text .*save the file as UTF-8/);
  });

  it("carries every byte of a UTF-8 password, spaces and a byte order mark included", () => {
    for (const pw of ["pässwörd ✓ ", " x\ty ", "\ufeffbom"]) {
      const r = readStorageSecret(data(pw), opts);
      assert.ok(r.ok, pw);
      assert.deepEqual(Buffer.from(r.resticPassword, "utf8"), Buffer.from(pw, "utf8"));
    }
  });

  it("refuses other values that are not text as malformed, naming the key", () => {
    const r = readStorageSecret(data("pw", { AZURE_ACCOUNT_KEY: b64(Buffer.from([0xc3, 0x28])) }), opts);
    assert.ok(!r.ok);
    assert.equal(r.reason, "SecretValueMalformed");
    assert.match(r.message, /AZURE_ACCOUNT_KEY is not UTF-8 text/);
  });
});

describe("decodeSecretData / sensitiveValues", () => {
  it("decodes V1Secret.data and lists the values to redact", () => {
    const data = decodeSecretData({ RESTIC_PASSWORD: Buffer.from("pw\n").toString("base64"), AZURE_ACCOUNT_NAME: Buffer.from("acct").toString("base64") });
    assert.deepEqual(data, { RESTIC_PASSWORD: "pw\n", AZURE_ACCOUNT_NAME: "acct" });
    assert.deepEqual(sensitiveValues({ ...data, AZURE_ACCOUNT_KEY: KEY }), ["pw\n", KEY]);
  });
});
