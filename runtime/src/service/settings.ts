import { parseArgs } from "node:util";
import { SetupError } from "../errors/setup-error.js";
import { registryDefaults } from "../registry/registry.js";

/** Everything a service reads from flags and environment, resolved. */
export interface ServiceSettings {
  /** `local` (default), `etcd` or `memory`. */
  readonly registry: string;
  /** Registry addresses: etcd endpoints, or the local registry's folder. */
  readonly registryAddress: readonly string[];
  readonly registerTtlMs: number;
  readonly registerIntervalMs: number;
  /** Where the gRPC server binds. */
  readonly serverAddress: string;
  /** The address registered for callers, when it differs from the bound one. */
  readonly serverAdvertise: string | undefined;
  readonly clientRetries: number;
  readonly clientRequestTimeoutMs: number;
  readonly clientPoolSize: number;
  /** `roundrobin` (default), `random` or `leastinflight`. */
  readonly selector: string;
  /** How long shutdown waits for calls in flight. */
  readonly shutdownGraceMs: number;
  readonly logLevel: string;
}

/** Defaults, applied here and nowhere else. */
export const defaultServiceSettings: ServiceSettings = {
  registry: "local",
  registryAddress: [],
  registerTtlMs: registryDefaults.ttlMs,
  registerIntervalMs: registryDefaults.intervalMs,
  serverAddress: "127.0.0.1:0",
  serverAdvertise: undefined,
  clientRetries: 1,
  clientRequestTimeoutMs: 5_000,
  clientPoolSize: 1,
  selector: "roundrobin",
  shutdownGraceMs: 10_000,
  logLevel: "info",
};

type Parser = (value: string, source: string) => Partial<Record<keyof ServiceSettings, unknown>>;

const registries = ["local", "etcd", "memory"];
const selectors = ["roundrobin", "round_robin", "random", "leastinflight", "least_inflight", "p2c"];

/** The flags, by go-micro's names; each also reads `TSMICRO_<NAME>` and, as an alias, `MICRO_<NAME>`. */
const flags: Record<string, Parser> = {
  registry: (v, s) => ({ registry: oneOf(v, s, registries) }),
  registry_address: (v) => ({
    registryAddress: v
      .split(",")
      .map((a) => a.trim())
      .filter(Boolean),
  }),
  register_ttl: (v, s) => ({ registerTtlMs: duration(v, s, 1000) }),
  register_interval: (v, s) => ({ registerIntervalMs: duration(v, s, 1000) }),
  server_address: (v) => ({ serverAddress: v }),
  server_advertise: (v) => ({ serverAdvertise: v }),
  client_retries: (v, s) => ({ clientRetries: count(v, s, 0) }),
  client_request_timeout: (v, s) => ({ clientRequestTimeoutMs: duration(v, s, 1000) }),
  client_pool_size: (v, s) => ({ clientPoolSize: count(v, s, 1) }),
  selector: (v, s) => ({ selector: oneOf(v, s, selectors) }),
  shutdown_grace: (v, s) => ({ shutdownGraceMs: duration(v, s, 1000) }),
  log_level: (v, s) => ({ logLevel: oneOf(v, s, ["trace", "debug", "info", "warn", "error", "fatal", "silent"]) }),
};

/** The flag names a service understands. */
export const serviceFlagNames: readonly string[] = Object.keys(flags);

/**
 * Resolves settings: defaults, then the code's options, then `MICRO_*`,
 * then `TSMICRO_*` variables, then flags. Flags a service does not know are
 * left for the program; a known flag with a bad value is a SetupError
 * naming the flag or variable.
 */
export function resolveServiceSettings(
  overrides: Partial<ServiceSettings>,
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ServiceSettings {
  const settings: Record<string, unknown> = { ...defaultServiceSettings, ...overrides };
  for (const prefix of ["MICRO_", "TSMICRO_"]) {
    for (const [name, parse] of Object.entries(flags)) {
      const variable = `${prefix}${name.toUpperCase()}`;
      const value = env[variable];
      if (value !== undefined && value !== "") Object.assign(settings, parse(value, variable));
    }
  }
  const { values } = parseArgs({
    args: [...args],
    options: Object.fromEntries(serviceFlagNames.map((name) => [name, { type: "string" as const }])),
    strict: false,
    allowPositionals: true,
  });
  for (const [name, parse] of Object.entries(flags)) {
    const value = values[name];
    if (value === true) throw new SetupError("TSM_ERR_FLAG", `--${name}`, "(none)", "give it a value, as --name=value");
    if (typeof value === "string") Object.assign(settings, parse(value, `--${name}`));
  }
  return settings as unknown as ServiceSettings;
}

function oneOf(value: string, source: string, allowed: readonly string[]): string {
  const v = value.toLowerCase();
  if (!allowed.includes(v))
    throw new SetupError("TSM_ERR_FLAG", source, JSON.stringify(value), `use one of ${allowed.join(", ")}`);
  return v;
}

function count(value: string, source: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new SetupError("TSM_ERR_FLAG", source, JSON.stringify(value), `expected a whole number >= ${min}`);
  return n;
}

/** Milliseconds from `500ms`, `5s`, `1m`, `1h`, or a bare number in `bareUnitMs` (seconds for go-micro's flags). */
function duration(value: string, source: string, bareUnitMs: number): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!match) {
    throw new SetupError(
      "TSM_ERR_FLAG",
      source,
      JSON.stringify(value),
      "expected a duration such as 500ms, 5s or 1m (a bare number is seconds)",
    );
  }
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  return Number(match[1]) * (match[2] ? units[match[2]]! : bareUnitMs);
}
