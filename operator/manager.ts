import { CoreV1Api, CustomObjectsApi, type KubernetesListObject, type KubernetesObject, type V1Secret } from "@kubernetes/client-node";
import { loadKubeConfig, keyOf } from "./kube/client.ts";
import { Controller } from "./kube/controller.ts";
import { InformerSet } from "./kube/informer.ts";
import { LeaderElector } from "./kube/leader.ts";
import { makeEventRecorder } from "./kube/events.ts";
import { logger, setLogLevel } from "./observability/logger.ts";
import { forgetRepository, observeReconcile } from "./observability/metrics.ts";
import { startHttpServer } from "./observability/server.ts";
import { OptionsError, parseOperatorOptions, usage, type OperatorOptions } from "./config/options.ts";
import { RepositoryReconciler } from "./controllers/repository/reconciler.ts";
import { REPOSITORY_GROUP, REPOSITORY_PLURAL, REPOSITORY_VERSION, type Repository } from "./api/repository.ts";

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
  return new Operator(opts).run();
}

class Operator {
  private readonly opts: OperatorOptions;
  private readonly kc;
  private readonly log = logger.child({ component: "operator" });
  private leader: LeaderElector | undefined;
  private leading = false;
  private readonly controllers: Controller[] = [];

  constructor(opts: OperatorOptions) {
    this.opts = opts;
    this.kc = loadKubeConfig(opts.kubeconfig);
  }

  async run(): Promise<number> {
    const { opts, kc, log } = this;
    const custom = kc.makeApiClient(CustomObjectsApi);
    const core = kc.makeApiClient(CoreV1Api);
    const base = { kc, log };
    const ns = opts.watchNamespaces;

    const repositories = new InformerSet<Repository>(
      base,
      ns,
      (n) => `/apis/${REPOSITORY_GROUP}/${REPOSITORY_VERSION}${n ? `/namespaces/${n}` : ""}/${REPOSITORY_PLURAL}`,
      (n) => () =>
        (n
          ? custom.listNamespacedCustomObject({ group: REPOSITORY_GROUP, version: REPOSITORY_VERSION, plural: REPOSITORY_PLURAL, namespace: n })
          : custom.listClusterCustomObject({ group: REPOSITORY_GROUP, version: REPOSITORY_VERSION, plural: REPOSITORY_PLURAL })) as Promise<KubernetesListObject<Repository>>,
    );
    const secrets = new InformerSet<V1Secret>(
      base,
      ns,
      (n) => (n ? `/api/v1/namespaces/${n}/secrets` : "/api/v1/secrets"),
      (n) => () => (n ? core.listNamespacedSecret({ namespace: n }) : core.listSecretForAllNamespaces()) as Promise<KubernetesListObject<V1Secret>>,
    );

    const events = makeEventRecorder(kc, "blobstash-operator", log);
    const repositoryReconciler = new RepositoryReconciler({
      kc,
      clock: () => new Date(),
      revalidateAfterMs: opts.revalidatePeriodMs,
      sasWarnBeforeMs: opts.sasWarnBeforeMs,
      defaultEndpointSuffix: opts.defaultEndpointSuffix,
      log: logger.child({ controller: "repository" }),
      events,
    });
    const repositoryController = this.register(
      new Controller({
        kind: "Repository",
        workers: opts.concurrency,
        reconcile: (k) => repositoryReconciler.reconcile(k.namespace, k.name),
        log,
        observe: observeReconcile,
      }),
    );

    const enqueueRepository = (obj: KubernetesObject): void => {
      if (this.leading) repositoryController.enqueue(keyOf(obj));
    };
    repositories.on("add", enqueueRepository);
    repositories.on("update", enqueueRepository);
    repositories.on("delete", (obj) => forgetRepository(obj.metadata?.namespace ?? "", obj.metadata?.name ?? ""));
    // A Secret edit re-checks, at once, every Repository in its namespace that names it.
    const enqueueRepositoriesOf = (secret: V1Secret): void => {
      if (!this.leading) return;
      const namespace = secret.metadata?.namespace ?? "";
      for (const repo of repositories.list(namespace)) {
        if (repo.spec?.backend?.storageSecretName === secret.metadata?.name) repositoryController.enqueue(keyOf(repo));
      }
    };
    for (const ev of ["add", "update", "delete"] as const) secrets.on(ev, enqueueRepositoriesOf);

    let synced = false;
    const server = await startHttpServer(opts.metricsAddress, { live: () => true, ready: () => synced });
    log.info("serving metrics and probes", { address: opts.metricsAddress });

    let stopping = false;
    const stopped = new Promise<number>((resolve) => {
      const stop = (signal: string, code: number): void => {
        if (stopping) return;
        stopping = true;
        log.info("shutting down", { signal });
        void (async () => {
          await Promise.all(this.controllers.map((c) => c.stop()));
          await Promise.all([repositories.stop(), secrets.stop()]);
          await this.leader?.release();
          server.close();
          resolve(code);
        })();
      };
      process.once("SIGTERM", () => stop("SIGTERM", 0));
      process.once("SIGINT", () => stop("SIGINT", 0));
      this.onLost = () => stop("lost leadership", 1);
    });

    // Standbys keep their caches warm so a takeover starts at once.
    await Promise.all([repositories.start(), secrets.start()]);
    await Promise.all([repositories.synced, secrets.synced]);
    synced = true;
    log.info("caches synced", { repositories: repositories.list().length, secrets: secrets.list().length });

    if (opts.leaderElect) {
      this.leader = new LeaderElector({
        kc,
        namespace: opts.leaderElectionNamespace,
        name: opts.leaderElectionId,
        identity: opts.identity,
        log,
      });
      await Promise.race([this.leader.acquire(() => this.onLost()), stopped]);
    }
    if (!stopping) {
      this.leading = true;
      for (const c of this.controllers) c.start();
      for (const repo of repositories.list()) enqueueRepository(repo);
      log.info("controllers started", { identity: opts.identity, namespaces: ns.length ? ns : "all" });
    }
    return stopped;
  }

  private onLost: () => void = () => undefined;

  private register(c: Controller): Controller {
    this.controllers.push(c);
    return c;
  }
}
