import { fileURLToPath } from "node:url";
import { type Config, type ServiceSettings, createConfig, serviceConfigSources } from "@tsmicro/runtime";
import type { Logger } from "@tsmicro/runtime";
import { z } from "zod";

/** What the system's settings must hold; the config service refuses to start on anything else. */
export const systemSettings = z.looseObject({
  auth: z.object({
    jwt: z.object({
      secret: z.string().min(32, "must be at least 32 characters"),
      issuer: z.string().min(1),
      ttl: z.number().int().positive(),
    }),
  }),
  user: z.object({
    database: z.object({ url: z.string() }),
  }),
});

/** The system's settings as the config service serves them. */
export type SystemSettings = z.infer<typeof systemSettings>;

/**
 * config.yaml beside src/ (and dist/), then CONFIG_* variables, then with
 * `--registry etcd` the keys under /micro/config/config/ in that etcd,
 * watched: a change reaches Watch callers without a restart.
 */
export function systemConfig(settings: ServiceSettings, logger: Logger): Config<SystemSettings> {
  const etcd = settings.registryAddress.length > 0 ? settings.registryAddress : ["127.0.0.1:2379"];
  return createConfig({
    schema: systemSettings,
    sources: serviceConfigSources({
      service: "config",
      file: fileURLToPath(new URL("../config.yaml", import.meta.url)),
      watchFile: true,
      etcdAddresses: settings.registry === "etcd" ? etcd : undefined,
    }),
    secrets: ["auth.jwt.secret"],
    logger,
  });
}
