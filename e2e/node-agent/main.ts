// CLI: node e2e/node-agent/main.ts --kubeconfig K --node-name N --pvc-root DIR --work-dir DIR [--no-scheduler]
// SIGTERM or SIGINT stops it: its container processes are killed, then it exits 0.
import { parseArgs } from "node:util";
import { startNodeAgent } from "./agent.ts";

// The node's network and trust configuration. On a real node these come from the host (proxy
// settings, CA bundle) and the image; here containers are host processes, so they inherit exactly
// these variables from the agent, and nothing else of its environment (no KUBECONFIG, no
// credentials): PATH to find `blobstash`, `restic`, `sh`; the proxy that makes the emulator's host
// names resolve; the CA that makes its certificate trusted; HOME for tools that want one.
const NODE_ENV_KEYS = ["PATH", "HTTPS_PROXY", "NO_PROXY", "SSL_CERT_FILE", "RESTIC_CACERT", "NODE_EXTRA_CA_CERTS", "HOME"];

function log(msg: string): void {
  process.stdout.write(`${new Date().toISOString()} node-agent: ${msg}\n`);
}

const { values } = parseArgs({
  options: {
    kubeconfig: { type: "string" },
    "node-name": { type: "string" },
    "pvc-root": { type: "string" },
    "work-dir": { type: "string" },
    // Only run pods whose spec.nodeName is this node; leave unscheduled pods to another agent.
    "no-scheduler": { type: "boolean" },
  },
  strict: true,
});
const missing = (["kubeconfig", "node-name", "pvc-root", "work-dir"] as const).filter((k) => !values[k]);
if (missing.length > 0) {
  process.stderr.write(`usage: node e2e/node-agent/main.ts --kubeconfig K --node-name N --pvc-root DIR --work-dir DIR [--no-scheduler] (missing: ${missing.join(", ")})\n`);
  process.exit(2);
}

const nodeEnv: Record<string, string> = {};
for (const k of NODE_ENV_KEYS) {
  const v = process.env[k];
  if (v !== undefined) nodeEnv[k] = v;
}

// Odd input must never take the node down; what would have crashed is logged instead.
process.on("uncaughtException", (err) => log(`uncaught: ${err.stack ?? err.message}`));
process.on("unhandledRejection", (err) => log(`unhandled rejection: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`));

let agent: { stop(): Promise<void> } | undefined = undefined;
let stopping = false;
for (const sig of ["SIGTERM", "SIGINT"] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: stopping`);
    // Before the agent is up there are no container processes to stop.
    if (!agent) process.exit(0);
    agent.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log(`stop failed: ${String(err)}`);
        process.exit(1);
      },
    );
  });
}

agent = await startNodeAgent({
  kubeconfig: values.kubeconfig!,
  nodeName: values["node-name"]!,
  pvcRoot: values["pvc-root"]!,
  workDir: values["work-dir"]!,
  nodeEnv,
  log,
  schedule: !values["no-scheduler"],
});
