import { CommandError } from "./command-error.js";

/** The yes/no flags of tsmicro's and create-tsmicro's own commands (yargs booleans). */
const switchFlags = new Set([
  "strict_routes",
  "strict-routes",
  "json",
  "watch",
  "show_secrets",
  "show-secrets",
  "replace",
  "install",
  "workspace",
]);

/**
 * Sets each yes/no flag written `--name=VALUE` in `args` as the runtime's flags read switches: on,
 * true or 1; off, false or 0. A yargs middleware, run before the command: yargs reads any value
 * but `true` as false, so `--strict_routes=on` was not strict and `--workspace=on` made a service.
 * Another value is refused.
 */
export function readSwitches(argv: Record<string, unknown>, args: readonly string[]): void {
  for (const arg of args) {
    if (arg === "--") return;
    const given = /^--([\w-]+)=(.*)$/s.exec(arg);
    if (!given || !switchFlags.has(given[1]!) || !(given[1]! in argv)) continue;
    const [, name, value] = given;
    const v = value!.toLowerCase();
    if (["on", "true", "1"].includes(v)) argv[name!] = true;
    else if (["off", "false", "0"].includes(v)) argv[name!] = false;
    else
      throw new CommandError(
        `--${name} has an invalid value ${JSON.stringify(value)}: use on or off, or --${name} alone`,
      );
  }
}
