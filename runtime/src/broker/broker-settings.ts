import { SetupError } from "../errors/setup-error.js";
import { oneOf, onOff, readFlags, type FlagParser, type FlagUsage } from "../service/flag-values.js";
import { natsBrokerDefaults } from "./nats-broker.js";

/** The broker a process uses, as flags and environment choose it. */
export interface BrokerSettings {
  /** `http` (default: the embedded broker), `nats` or `memory`. */
  readonly broker: "http" | "nats" | "memory";
  /** `--broker_address`: NATS server URLs for `nats`; for `http`, the `host:port` its receiving server binds. */
  readonly brokerAddress: readonly string[];
  /** `--broker_jetstream`: NATS JetStream (at least once, redelivery, dead letters) instead of core NATS. */
  readonly brokerJetstream: boolean;
}

/** Defaults, applied here and nowhere else. */
export const defaultBrokerSettings: BrokerSettings = { broker: "http", brokerAddress: [], brokerJetstream: false };

/** The broker names `--broker` accepts. */
export const brokerKinds = ["http", "nats", "memory"] as const;

type Parser = FlagParser<Partial<BrokerSettings>>;

/** The flags, by go-micro's names; each also reads `TSMICRO_<NAME>` and, as an alias, `MICRO_<NAME>`. */
const flags = {
  broker: (v, s) => ({ broker: oneOf(v, s, brokerKinds) as BrokerSettings["broker"] }),
  broker_address: (v) => ({
    brokerAddress: v
      .split(",")
      .map((a) => a.trim())
      .filter(Boolean),
  }),
  broker_jetstream: (v, s) => ({ brokerJetstream: onOff(v, s) }),
} satisfies Record<string, Parser>;

/** The flag names the broker understands. */
export const brokerFlagNames: readonly string[] = Object.keys(flags);

/** What `--help` says of each flag above; typed by their table, so a flag without one does not compile. */
export const brokerFlagUsage: Readonly<Record<keyof typeof flags, FlagUsage>> = {
  broker: {
    usage: "what carries events: http (embedded, no server), nats, or memory (one process)",
    default: defaultBrokerSettings.broker,
  },
  broker_address: {
    usage:
      `NATS server URLs, comma-separated (default ${natsBrokerDefaults.servers.join(",")}); ` +
      "for http, the host:port subscribers listen on (default: a free port on --server_address's host)",
  },
  broker_jetstream: {
    usage: "on: NATS JetStream (at least once, redelivery, dead letters); with --broker nats only",
    default: defaultBrokerSettings.brokerJetstream ? "on" : "off",
  },
};

/**
 * Resolves the broker settings: defaults, then the code's `overrides`, then
 * `MICRO_*`, `TSMICRO_*` variables, then flags (`--broker`,
 * `--broker_address`, `--broker_jetstream`). A bad value is a SetupError
 * (TSM_ERR_FLAG) naming the flag or variable, and so are settings that do not
 * go together (checkBrokerSettings); other flags are left alone.
 */
export function brokerSettingsFrom(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  overrides: Partial<BrokerSettings> = {},
): BrokerSettings {
  const given = readFlags<Partial<BrokerSettings>>(flags, args, env, {}, (base, over) => ({ ...base, ...over }));
  return checkBrokerSettings({ ...defaultBrokerSettings, ...overrides, ...given });
}

/**
 * Refuses settings that each read well but do not go together, as a
 * SetupError (TSM_ERR_FLAG): `--broker_jetstream on` with a broker other than
 * `nats`, and a `--broker_address` the http broker cannot listen on (a NATS
 * URL, with the default broker). Run when the settings are read (so
 * `service.checkFlags()` and `tsmicro run` refuse them before anything
 * opens) and again by createBroker, for settings code built itself. Returns
 * `settings`.
 */
export function checkBrokerSettings(settings: BrokerSettings): BrokerSettings {
  // Left on with another broker, it would promise at-least-once delivery that nothing gives.
  if (settings.brokerJetstream && settings.broker !== "nats")
    throw new SetupError(
      "TSM_ERR_FLAG",
      "--broker_jetstream",
      "on",
      `JetStream is NATS's, and the broker is ${settings.broker} (at most once): add --broker nats, or turn --broker_jetstream off`,
    );
  const [listenAt] = settings.brokerAddress;
  if (settings.broker === "http" && listenAt !== undefined) checkListenAddress(listenAt);
  return settings;
}

/** The http broker's `--broker_address` is where it listens: `host:port`, not a URL (a NATS address there is a common slip). */
function checkListenAddress(address: string): void {
  const match = /^(\[[^\]]*\]|[^:/\s]+):(\d{1,5})$/.exec(address);
  if (!match || Number(match[2]) > 65_535)
    throw new SetupError(
      "TSM_ERR_FLAG",
      "--broker_address",
      JSON.stringify(address),
      "the http broker listens there: use host:port, such as 127.0.0.1:0 (NATS URLs go with --broker nats)",
    );
}
