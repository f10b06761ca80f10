import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { renderEnvFile, shellQuote } from "./env-file.ts";

describe("env-file", function () {
  it("quotes values so a shell reads them back unchanged", function () {
    for (const value of ["plain", "with space", "it's", "a'b'c", "$HOME `x` \\n \"q\"", "key+/==", ""]) {
      assert.equal(execFileSync("bash", ["--norc", "-c", `printf %s ${shellQuote(value)}`], { encoding: "utf8" }), value);
    }
  });

  it("renders a file that exports every variable and puts the tools in front of the sourcing shell's PATH", function () {
    const file = renderEnvFile(
      { KUBECONFIG: "/s/kubeconfig", PATH: "ignored", AZURE_ACCOUNT_KEY: "k'ey+/==", NO_PROXY: "127.0.0.1" },
      ["/tools/bin", "/repo/bin"],
    );
    const out = execFileSync("bash", ["--norc", "-c", `printf '%s\\n' "$PATH"\n${file}\nprintf '%s\\n' "$KUBECONFIG" "$PATH" "$AZURE_ACCOUNT_KEY" "$NO_PROXY"`], {
      encoding: "utf8", env: { PATH: "/usr/bin:/bin" },
    });
    const [before, ...after] = out.trimEnd().split("\n");
    assert.deepEqual(after, ["/s/kubeconfig", `/tools/bin:/repo/bin:${before}`, "k'ey+/==", "127.0.0.1"]);
  });
});
