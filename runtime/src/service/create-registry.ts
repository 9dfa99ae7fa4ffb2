import { SetupError } from "../errors/setup-error.js";
import type { Logger } from "../logging/logger.js";
import { createEtcdRegistry } from "../registry/lazy-etcd-registry.js";
import { createLocalRegistry } from "../registry/local-registry.js";
import { createMemoryRegistry } from "../registry/memory-registry.js";
import type { Registry } from "../registry/registry.js";
import type { ServiceSettings } from "./settings.js";

/**
 * The registry `--registry` and `--registry_address` name; `logger` hears when etcd goes away and
 * comes back, or when the local registry's folder was removed and made again.
 */
export function createRegistry(
  settings: Pick<ServiceSettings, "registry" | "registryAddress"> & Partial<Pick<ServiceSettings, "registryAuth">>,
  logger?: Logger,
): Registry {
  switch (settings.registry) {
    case "memory":
      return createMemoryRegistry();
    case "local": {
      const [dir] = settings.registryAddress;
      return createLocalRegistry({ ...(dir ? { dir } : {}), ...(logger ? { logger } : {}) });
    }
    case "etcd":
      return createEtcdRegistry({
        addresses: settings.registryAddress.length > 0 ? [...settings.registryAddress] : ["127.0.0.1:2379"],
        ...(settings.registryAuth ? { auth: settings.registryAuth } : {}),
        ...(logger ? { logger } : {}),
      });
    default:
      throw new SetupError(
        "TSM_ERR_FLAG",
        "--registry",
        JSON.stringify(settings.registry),
        "use one of local, etcd, memory",
      );
  }
}
