import { brokerFlagNames } from "../broker/broker-settings.js";
import { databaseFlagNames } from "../database/database-options.js";
import { breakerFlagNames } from "../middleware/breaker-settings.js";
import { protectionFlagNames } from "../middleware/protection-settings.js";
import { serviceFlagNames } from "./settings.js";

/** Every flag a service reads: its own, the breaker's, server protection's, the broker's and the database's. */
export const runtimeFlagNames: readonly string[] = [
  ...serviceFlagNames,
  ...breakerFlagNames,
  ...protectionFlagNames,
  ...brokerFlagNames,
  ...databaseFlagNames,
];
