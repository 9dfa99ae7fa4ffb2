import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "@tsmicro/runtime";
import { type AccessTokens, jwtSettingsOf } from "./domain/service/access-tokens.js";
import type { ConfigServiceClient } from "./gen/config/v1/config.micro.js";

/**
 * Keeps `tokens` on the config service's "auth.jwt" as it changes (a new
 * key, another lifetime), until `signal` aborts: new tokens follow a change
 * without a restart. A change that is not valid settings is logged and the
 * previous ones stay; a watch that breaks (the config service restarting)
 * is opened again after a pause.
 */
export async function followJwtSettings(
  config: ConfigServiceClient,
  tokens: AccessTokens,
  logger: Logger,
  signal: AbortSignal,
): Promise<void> {
  while (!signal.aborted) {
    try {
      // The first answer is the settings as they are now, which tokens already use.
      let first = true;
      for await (const change of config.watch({ path: "auth.jwt" }, { signal })) {
        if (first) {
          first = false;
          continue;
        }
        try {
          const settings = jwtSettingsOf(change.value);
          tokens.use(settings);
          logger.info({ ttl: settings.ttl, issuer: settings.issuer }, "auth.jwt changed: new tokens use it");
        } catch (error) {
          logger.warn({ err: error }, "auth.jwt changed to settings that are not valid: the previous ones stay");
        }
      }
    } catch (error) {
      if (signal.aborted) return;
      logger.warn({ err: error }, "following auth.jwt from the config service failed: trying again in 5 s");
    }
    await sleep(5_000, undefined, { signal }).catch(() => undefined);
  }
}
