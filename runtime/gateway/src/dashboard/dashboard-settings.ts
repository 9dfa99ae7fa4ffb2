import { isIPv4 } from "node:net";
import { onOff, readFlags, type FlagParser } from "@tsmicro/runtime/internal";

/** What `tsmicro web` (and `tsmicro api --dashboard`) read from flags and environment. */
export interface DashboardSettings {
  /** `host:port` of `tsmicro web`; loopback by default, as `micro web` listened on :8082. */
  readonly address: string;
  /**
   * Whether the page may call methods: undefined means only while bound to loopback. A token
   * allows calls from anywhere that sends it.
   */
  readonly calls: boolean | undefined;
  /** Calls from the page must send this as `Authorization: Bearer …` (asked for once by the page). */
  readonly token: string | undefined;
}

const defaultDashboardSettings: DashboardSettings = {
  address: "127.0.0.1:8082",
  calls: undefined,
  token: undefined,
};

type Parser = FlagParser<Partial<DashboardSettings>>;

/** The flags both commands share; `tsmicro web` also reads `--address`. */
const dashboardFlags: Record<string, Parser> = {
  dashboard_calls: (v, s) => ({ calls: onOff(v, s) }),
  dashboard_token: (v) => ({ token: v === "" ? undefined : v }),
};

const webFlags: Record<string, Parser> = { ...dashboardFlags, address: (v) => ({ address: v }) };

/** The flag names `tsmicro web` and the gateway's dashboard read. */
export const dashboardFlagNames: readonly string[] = Object.keys(webFlags);

/** Resolves dashboard settings: defaults, code, `MICRO_*`, `TSMICRO_*`, then flags. */
export function resolveDashboardSettings(
  overrides: Partial<DashboardSettings>,
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  options: { readonly withAddress: boolean } = { withAddress: true },
): DashboardSettings {
  const table = options.withAddress ? webFlags : dashboardFlags;
  const given = readFlags(table, args, env, {} as Partial<DashboardSettings>, (base, over) => ({ ...base, ...over }));
  return { ...defaultDashboardSettings, ...overrides, ...given };
}

/**
 * Whether `host` (of a listen address, or a request's Host) is loopback only: `localhost`, `::1`
 * or an IPv4 address in 127.0.0.0/8. A name such as `127.attacker.example` is a name, which DNS
 * may point anywhere.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "");
  return bare === "localhost" || bare === "::1" || (isIPv4(bare) && bare.startsWith("127."));
}
