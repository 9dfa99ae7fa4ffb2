import type { EtcdRegistryOptions } from "./etcd-registry.js";
import type { Registry } from "./registry.js";
import { registryNotStarted } from "./registry-not-started.js";

export type { EtcdRegistryOptions } from "./etcd-registry.js";

/**
 * The etcd registry (see `etcd-registry.ts`), loading etcd3 and its gRPC
 * stack only at `start()`: importing the runtime, or a service on the local
 * registry, never pays for them.
 */
export function createEtcdRegistry(options: EtcdRegistryOptions): Registry {
  let loaded: Registry | undefined;
  let loading: Promise<Registry> | undefined;
  const load = (): Promise<Registry> =>
    (loading ??= import("./etcd-registry.js").then((etcd) => (loaded = etcd.createEtcdRegistry(options))));
  // Before start the real registry would refuse every call the same way.
  const started = (): Registry => {
    if (loaded) return loaded;
    throw registryNotStarted("etcd");
  };
  return {
    kind: "etcd",
    start: async () => (await load()).start(),
    stop: async () => {
      const registry = await loading?.catch(() => undefined);
      await registry?.stop();
    },
    register: async (service, registerOptions) => started().register(service, registerOptions),
    deregister: async (service) => started().deregister(service),
    getService: async (name) => started().getService(name),
    listServices: async () => started().listServices(),
    watch: (watchOptions) => started().watch(watchOptions),
  };
}
