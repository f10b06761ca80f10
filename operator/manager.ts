import { hostname } from "node:os";
import { describeProxySettings, ProxySettingsError } from "./azure/proxy-agent.ts";
import { connectKube } from "./kube/client.ts";
import { LeaderElector } from "./kube/leader.ts";
import { makeEventRecorder } from "./kube/events.ts";
import { logger, setLogLevel } from "./observability/logger.ts";
import { startHttpServer } from "./observability/server.ts";
import { OptionsError, parseOperatorOptions, usage, type OperatorOptions } from "./config/options.ts";
import { buildControllers } from "./controllers/register.ts";

/** `blobstash operator`: parses flags, then runs until SIGTERM. Returns the exit code. */
export async function runOperator(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`usage: blobstash operator [flags]\n\n${usage()}\n`);
    return 0;
  }
  let opts: OperatorOptions;
  try {
    opts = parseOperatorOptions(argv);
  } catch (err) {
    if (err instanceof OptionsError || err instanceof TypeError) {
      process.stderr.write(`blobstash operator: ${err.message}\n\n${usage()}\n`);
      return 2;
    }
    throw err;
  }
  setLogLevel(opts.logLevel);
  try {
    logger.child({ component: "manager" }).info("Azure requests", describeProxySettings());
  } catch (err) {
    if (err instanceof ProxySettingsError) {
      process.stderr.write(`blobstash operator: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  return runManager(opts);
}

/**
 * Lifecycle: serve probes and metrics, sync caches (standbys too, so a takeover starts warm), win
 * the Lease, start the controllers; on SIGTERM stop them, release the Lease for a fast handover.
 * Losing the Lease ends the process: two leaders must never act.
 */
async function runManager(opts: OperatorOptions): Promise<number> {
  const log = logger.child({ component: "manager" });
  const kube = connectKube(opts.kubeconfig);
  log.info("Kubernetes API", { credentials: kube.source });
  for (const note of kube.notes) log.warn(`kubeconfig: ${note}`);
  let leading = false;
  let leader: LeaderElector | undefined;
  // Acting means writing: no write leaves this process unless it leads and its Lease is current.
  const acting = (): boolean => leading && (leader?.isLeader ?? true);
  const fence = kube.fenceWrites(acting);
  const events = makeEventRecorder(kube, "blobstash-operator", log);
  const { informers, controllers, enqueueAll } = buildControllers(kube, opts, events, acting);

  let synced = false;
  const server = await startHttpServer(opts.metricsAddress, { live: () => true, ready: () => synced });
  log.info("serving metrics and probes", { address: opts.metricsAddress });

  let stopping = false;
  let lost = (): void => undefined;
  const stopped = new Promise<number>((resolve) => {
    const stop = (why: string, code: number): void => {
      if (stopping) return;
      stopping = true;
      leading = false;
      log.info("shutting down", { why });
      void (async () => {
        // The fence is shut (leading is false): once the writes already sent have landed, the Lease
        // can go, and a standby may start while slow reconciles (an Azure probe, a key check) wind
        // down here without being able to write.
        await fence.drain();
        await leader?.release();
        await Promise.all(controllers.map((c) => c.stop()));
        await Promise.all(informers.map((i) => i.stop()));
        server.close();
        kube.close();
        resolve(code);
      })();
    };
    process.once("SIGTERM", () => stop("SIGTERM", 0));
    process.once("SIGINT", () => stop("SIGINT", 0));
    lost = () => {
      leading = false;
      fence.revoke();
      stop("lost leadership", 1);
    };
  });

  await Promise.all(informers.map((i) => i.start()));
  await Promise.race([Promise.all(informers.map((i) => i.synced)), stopped]);
  synced = true;
  log.info("caches synced");

  if (opts.leaderElect && !stopping) {
    leader = new LeaderElector({
      kube,
      namespace: opts.leaderElectionNamespace,
      name: opts.leaderElectionId,
      identity: opts.identity || `${hostname()}-${process.pid}`,
      leaseDurationMs: opts.leaseDurationMs,
      renewDeadlineMs: opts.renewDeadlineMs,
      retryPeriodMs: opts.retryPeriodMs,
      log,
    });
    await Promise.race([leader.acquire(lost), stopped]);
  }
  if (!stopping) {
    leading = true;
    for (const c of controllers) c.start();
    enqueueAll();
    log.info("controllers started", { identity: opts.identity, namespaces: opts.watchNamespaces.length ? opts.watchNamespaces : "all" });
  }
  return stopped;
}
