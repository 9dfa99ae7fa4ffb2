import { brokerFlagNames, brokerFlagUsage, brokerSettingsFrom } from "../broker/broker-settings.js";
import { databaseFlagNames, databaseFlagUsage, databaseOptionsFrom } from "../database/database-options.js";
import { breakerFlagNames, breakerFlagUsage, breakerSettingsFrom } from "../middleware/breaker-settings.js";
import { protectionFlagNames, protectionFlagUsage, protectionSettingsFrom } from "../middleware/protection-settings.js";
import { checkFlagSpelling, type FlagUsage } from "./flag-values.js";
import { resolveServiceSettings, serviceFlagNames, serviceFlagUsage } from "./settings.js";

/** Every flag a service reads: its own, the breaker's, server protection's, the broker's and the database's. */
export const runtimeFlagNames: readonly string[] = [
  ...serviceFlagNames,
  ...breakerFlagNames,
  ...protectionFlagNames,
  ...brokerFlagNames,
  ...databaseFlagNames,
];

/** What `--help` says of every flag a service reads, from the tables beside their parsers. */
export const runtimeFlagUsage: Readonly<Record<string, FlagUsage>> = {
  ...serviceFlagUsage,
  ...breakerFlagUsage,
  ...protectionFlagUsage,
  ...brokerFlagUsage,
  ...databaseFlagUsage,
};

/**
 * Reads `args` and `env` with every table a service reads them with, and
 * throws the SetupError a service would: a misspelt flag, or a value a flag
 * or variable refuses (`--migrate user`). For a program that starts services
 * with these flags (`tsmicro run`) to refuse them once, before any starts.
 */
export function checkRuntimeFlags(args: readonly string[], env: Readonly<Record<string, string | undefined>>): void {
  checkFlagSpelling(args, runtimeFlagNames, undefined, { serves: true });
  resolveServiceSettings({}, args, env);
  breakerSettingsFrom(args, env);
  protectionSettingsFrom(args, env);
  brokerSettingsFrom(args, env);
  databaseOptionsFrom(args, env);
}
