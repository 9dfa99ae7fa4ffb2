import type { Logger } from "@tsmicro/runtime";
import { brokerFlagNames, databaseFlagNames, protectionFlagNames, serviceFlagNames } from "@tsmicro/runtime/internal";

/**
 * Flags `tsmicro api` and `tsmicro web` accept because every tsmicro program takes a service's
 * flags (one set, shared by a compose file or a demo that starts them all), but never read. A
 * go-micro user who gives the gateway `--rate_limit` expects a limit; a warning at start names the
 * flag and what reads it, where it was ignored without a word.
 */

/** A flag given on the command line that the program does not read, and what does. */
export interface UnreadFlag {
  /** As given: `--rate_limit`. */
  readonly flag: string;
  /** What reads it, and what the program has instead: `a service's server protection reads it; …`. */
  readonly readBy: string;
}

/** The program that took the flags: `tsmicro api` with its `--handler`, or `tsmicro web` (no handler). */
export interface FlagReader {
  readonly program: string;
  readonly handler?: string;
}

/** The flags in `args` (up to `--`) that `reader` ignores, each once, in the order given. */
export function unreadFlags(args: readonly string[], reader: FlagReader): UnreadFlag[] {
  const unread: UnreadFlag[] = [];
  const seen = new Set<string>();
  for (const arg of args) {
    if (arg === "--") break;
    const name = /^--?([^=]+)/.exec(arg)?.[1];
    if (name === undefined || seen.has(name)) continue;
    seen.add(name);
    const readBy = whoReads(name, reader);
    if (readBy !== undefined) unread.push({ flag: `--${name}`, readBy });
  }
  return unread;
}

/** One warning line per flag the program ignores. */
export function warnUnreadFlags(logger: Logger, unread: readonly UnreadFlag[], program: string): void {
  for (const { flag, readBy } of unread) logger.warn({ flag }, `${program} does not read ${flag}: ${readBy}`);
}

/** The gRPC server's own flags; a gateway calls services and serves HTTP. */
const serverFlags = new Set(serviceFlagNames.filter((name) => name.startsWith("server_")));
/** A service's registration of itself; neither the gateway nor the dashboard registers. */
const registrationFlags = new Set(["register_ttl", "register_interval"]);
const protection = new Set(protectionFlagNames);
const database = new Set(databaseFlagNames);
const broker = new Set(brokerFlagNames);

/** What reads flag `name` when `reader` does not; undefined when it does (or the name is not a service's). */
function whoReads(name: string, reader: FlagReader): string | undefined {
  const { program, handler } = reader;
  const gateway = handler !== undefined;
  if (serverFlags.has(name)) return `a service's gRPC server reads it; ${program} serves HTTP at --address`;
  if (registrationFlags.has(name)) return `a service reads it to register itself; ${program} registers nothing`;
  if (protection.has(name))
    return gateway
      ? `a service's server protection reads it; ${program} limits requests per route, with rateLimit in --config's rules (docs/gateway.md)`
      : "a service's server protection reads it";
  if (database.has(name)) return "a service's database reads it";
  if (broker.has(name)) {
    if (!gateway) return `a service's broker reads it; ${program} publishes no events`;
    if (handler !== "event")
      return `a service's broker reads it, and ${program} only with --handler event, which publishes to it`;
  }
  return undefined;
}
