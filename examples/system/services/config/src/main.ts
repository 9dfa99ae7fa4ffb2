/**
 * config: serves the system's settings (src/settings.ts) to the other
 * services. Start it first: auth and user read theirs from it as they start.
 * Flags and TSMICRO_* variables choose the registry and address; see README.md.
 */
import { createService } from "@tsmicro/runtime";
import { ConfigServiceDefinition } from "./gen/config/v1/config.micro.js";
import { createConfigServiceHandler } from "./handler/config-service.js";
import { systemConfig } from "./settings.js";

const service = createService({ name: "config", version: "0.1.0" });
const { logger, fatal } = service;
await service.checkFlags().catch(fatal);
// Settings that do not validate stop the service with one line naming each key.
const settings = systemConfig(service.settings, logger);
await settings.start().catch(fatal);

service.handle(ConfigServiceDefinition, createConfigServiceHandler({ settings }));

await service.run(); // listen, register, heartbeat; on SIGTERM or SIGINT: deregister, drain, stop
await settings.stop();
