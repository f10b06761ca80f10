import assert from "node:assert/strict";
import { azuriteHostNames, leafExtensions } from "./certs.ts";

describe("certs: leafExtensions", function () {
  it("makes a serving certificate for the emulator's host names and loopback", function () {
    const ext = leafExtensions({ usage: "serverAuth", dns: azuriteHostNames, ips: ["127.0.0.1"] });
    assert.match(ext, /^basicConstraints=critical,CA:FALSE$/m);
    assert.match(ext, /^extendedKeyUsage=serverAuth$/m);
    assert.match(ext, /^subjectAltName=DNS:\*\.blob\.localhost,DNS:devstoreaccount1\.blob\.localhost,DNS:localhost,IP:127\.0\.0\.1$/m);
  });

  it("gives client certificates no SAN and clientAuth only", function () {
    const ext = leafExtensions({ usage: "clientAuth" });
    assert.match(ext, /^extendedKeyUsage=clientAuth$/m);
    assert.doesNotMatch(ext, /subjectAltName/);
  });
});
