// Credentials from exec plugins (kubelogin on AKS, aws eks get-token, gke-gcloud-auth-plugin) and
// auth providers (oidc, and the legacy azure and gcp ones), through @kubernetes/client-node's
// KubeConfig and authenticators. Importing that library costs ~75 MB of resident memory (see
// docs/design.md), so connection.ts imports this module only for a kubeconfig user that needs it.

import type https from "node:https";
import { KubeConfig } from "@kubernetes/client-node";
import type { Authorization } from "./connection.ts";
import type { PluginUser } from "./kubeconfig.ts";

export interface PluginAuthenticator {
  authorize(): Promise<Authorization>;
  /** Forget cached credentials (the API server answered 401), so the next request runs the plugin again. */
  reset(): void;
}

export function pluginAuthenticator(user: PluginUser, server: string): PluginAuthenticator {
  // A KubeConfig of this one user; its cluster only carries the server (TLS is the caller's).
  const make = (): KubeConfig => {
    const kc = new KubeConfig();
    kc.loadFromClusterAndUser(
      // https: the library refuses to build its (unused) agent for an http server.
      { name: "cluster", server: server.replace(/^http:/, "https:"), skipTLSVerify: false },
      { name: user.name, ...(user.exec ? { exec: user.exec } : {}), ...(user.authProvider ? { authProvider: user.authProvider } : {}) },
    );
    return kc;
  };
  let kc = make();
  return {
    async authorize() {
      const opts: https.RequestOptions = {};
      await kc.applyToHTTPSOptions(opts);
      const headers: Record<string, string> = {};
      const auth = (opts.headers as Record<string, unknown> | undefined)?.Authorization;
      if (typeof auth === "string") headers.authorization = auth;
      const out: Authorization = { headers };
      // An exec plugin may answer with a client certificate instead of (or besides) a token.
      if (opts.cert) out.cert = Buffer.from(opts.cert as string | Buffer);
      if (opts.key) out.key = Buffer.from(opts.key as string | Buffer);
      return out;
    },
    reset() {
      kc = make();
    },
  };
}
