import { oneOf, onOff, readFlags, type FlagParser } from "../service/flag-values.js";

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
const flags: Record<string, Parser> = {
  broker: (v, s) => ({ broker: oneOf(v, s, brokerKinds) as BrokerSettings["broker"] }),
  broker_address: (v) => ({
    brokerAddress: v
      .split(",")
      .map((a) => a.trim())
      .filter(Boolean),
  }),
  broker_jetstream: (v, s) => ({ brokerJetstream: onOff(v, s) }),
};

/** The flag names the broker understands. */
export const brokerFlagNames: readonly string[] = Object.keys(flags);

/**
 * Resolves the broker settings: defaults, then the code's `overrides`, then
 * `MICRO_*`, `TSMICRO_*` variables, then flags (`--broker`,
 * `--broker_address`, `--broker_jetstream`). A bad value is a SetupError
 * (TSM_ERR_FLAG) naming the flag or variable; other flags are left alone.
 */
export function brokerSettingsFrom(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  overrides: Partial<BrokerSettings> = {},
): BrokerSettings {
  const given = readFlags(flags, args, env, {} as Partial<BrokerSettings>, (base, over) => ({ ...base, ...over }));
  return { ...defaultBrokerSettings, ...overrides, ...given };
}
