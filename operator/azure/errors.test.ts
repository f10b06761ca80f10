import assert from "node:assert/strict";
import { classifyAzureError } from "./errors.ts";

// Shapes as @azure/core-rest-pipeline's RestError and @azure/identity's errors carry them; the
// probe tests against Azurite check the same mapping with real errors.
const rest = (statusCode: number | undefined, code: string | undefined, message = "") => Object.assign(new Error(message), { name: "RestError", statusCode, code });

describe("classifyAzureError", () => {
  const cases: Array<[string, unknown, string, boolean?]> = [
    ["connection refused", rest(undefined, "ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:1"), "EndpointUnreachable", true],
    ["timeout", Object.assign(new Error("The operation was aborted."), { name: "AbortError" }), "EndpointUnreachable", true],
    ["reset, as a cause", rest(undefined, "REQUEST_SEND_ERROR", "x"), "EndpointUnreachable", true],
    ["DNS: no such account host", rest(undefined, "ENOTFOUND", "getaddrinfo ENOTFOUND x.blob.core.windows.net"), "AccountNotFound", false],
    ["DNS: temporary failure", rest(undefined, "EAI_AGAIN"), "EndpointUnreachable", true],
    ["untrusted certificate", rest(undefined, "SELF_SIGNED_CERT_IN_CHAIN"), "EndpointUnreachable", false],
    ["a proxy that cannot connect", new Error("tunneling socket could not be established"), "EndpointUnreachable", true],
    ["wrong key (Azure)", rest(403, "AuthenticationFailed"), "AuthenticationFailed", false],
    ["wrong key (Azurite)", rest(403, "AuthorizationFailure", "Server failed to authenticate the request."), "AuthenticationFailed", false],
    ["firewall", rest(403, "AuthorizationFailure", "This request is not authorized to perform this operation."), "PermissionDenied", false],
    ["read-only SAS writing", rest(403, "AuthorizationPermissionMismatch"), "PermissionDenied", false],
    ["account SAS without object scope", rest(403, "AuthorizationResourceTypeMismatch"), "PermissionDenied", false],
    ["missing container", rest(404, "ContainerNotFound"), "ContainerNotFound", false],
    ["unknown account (Azurite)", rest(404, "ResourceNotFound"), "AccountNotFound", false],
    ["server busy", rest(503, "ServerBusy"), "BackendError", true],
    ["wrong key (Azurite with OAuth on)", rest(400, "InvalidAuthenticationInfo"), "AuthenticationFailed", false],
    ["a proxy's Bad Gateway (upstream down)", rest(502, undefined), "EndpointUnreachable", true],
    ["AAD refuses the client secret", Object.assign(new Error("AADSTS7000215"), { name: "AuthenticationError", statusCode: 401, errorResponse: { error: "invalid_client" } }), "AuthenticationFailed", false],
    ["no workload identity", Object.assign(new Error("x"), { name: "CredentialUnavailableError" }), "AuthenticationFailed", false],
  ];
  for (const [what, err, reason, transient] of cases) {
    it(`${what} -> ${reason}`, () => {
      const f = classifyAzureError(err);
      assert.equal(f.reason, reason);
      if (transient !== undefined) assert.equal(f.transient, transient);
    });
  }

  it("a bodiless 403 (HEAD) is a permission problem once the credential has been accepted", () => {
    assert.equal(classifyAzureError(rest(403, undefined)).reason, "AuthenticationFailed");
    assert.equal(classifyAzureError(rest(403, undefined), { authenticated: true }).reason, "PermissionDenied");
  });

  it("looks through DefaultAzureCredential's aggregate to the last attempt", () => {
    const agg = Object.assign(new Error("all failed"), {
      name: "AggregateAuthenticationError",
      errors: [Object.assign(new Error("a"), { name: "CredentialUnavailableError" }), Object.assign(new Error("b"), { name: "AuthenticationError", statusCode: 400, errorResponse: { error: "invalid_request" } })],
    });
    const f = classifyAzureError(agg);
    assert.equal(f.reason, "AuthenticationFailed");
    assert.equal(f.identityProvider, true);
    assert.match(f.detail, /invalid_request/);
  });

  it("never copies the server's message into the detail", () => {
    const f = classifyAzureError(rest(403, "AuthenticationFailed", "The MAC signature found in the HTTP request 'c2lnbmF0dXJl' is not the same"));
    assert.ok(!f.detail.includes("c2lnbmF0dXJl"));
  });
});
