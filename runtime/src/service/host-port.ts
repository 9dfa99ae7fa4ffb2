import { SetupError } from "../errors/setup-error.js";

/** What an address flag accepts, beside `host:port`. */
export interface HostPortRule {
  /** What a good value looks like, ending the refusal: `such as 127.0.0.1:0 or 0.0.0.0:8080`. */
  readonly example: string;
  /** Added after the example when the value is no `host:port`: `, or off`. */
  readonly otherwise?: string;
  /** The port of an address without one (go-micro's etcd rule); without it, `:port` is required. */
  readonly defaultPort?: number;
  /** Whether the host may be empty (`:8080`, every interface, for an address to listen on). */
  readonly emptyHost?: boolean;
  /** Whether `http://` or `https://` may come first, as before an etcd endpoint. */
  readonly scheme?: boolean;
}

/** An address split by hostPort. */
export interface HostPort {
  /** The host, without an IPv6 literal's brackets; empty for every interface. */
  readonly host: string;
  readonly port: number;
  /** Whether the address named its port, or `defaultPort` stands in. */
  readonly portGiven: boolean;
}

/**
 * Splits `address` (`host:port`, `[v6]:port`) as `rule` allows, or throws a
 * SetupError (TSM_ERR_FLAG) naming `flag`: `use host:port, <example>` when it
 * is none (no port, a port that is no number, no host), `port N is past
 * 65535` when the port cannot be one. The one check of every flag that names
 * an address: `--server_address`, `--metrics_address`, `--server_advertise`,
 * the gateway's `--address`, each etcd endpoint of `--registry_address`.
 */
export function hostPort(address: string, flag: string, rule: HostPortRule): HostPort {
  const refuse = (why: string) => new SetupError("TSM_ERR_FLAG", flag, JSON.stringify(address), why);
  const malformed = () => refuse(`use host:port, ${rule.example}${rule.otherwise ?? ""}`);
  const rest = rule.scheme ? address.replace(/^https?:\/\//i, "") : address;
  let host: string;
  let portText: string | undefined;
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close < 0) throw malformed();
    host = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after !== "" && !after.startsWith(":")) throw malformed();
    portText = after === "" ? undefined : after.slice(1);
  } else {
    const colon = rest.lastIndexOf(":");
    host = colon < 0 ? rest : rest.slice(0, colon);
    portText = colon < 0 ? undefined : rest.slice(colon + 1);
  }
  if ((host === "" && !rule.emptyHost) || /[\s/]/.test(host)) throw malformed();
  if (portText === undefined) {
    if (rule.defaultPort === undefined) throw malformed();
    return { host, port: rule.defaultPort, portGiven: false };
  }
  if (!/^\d+$/.test(portText)) throw malformed();
  const port = Number(portText);
  if (port > 65_535) throw refuse(`port ${port} is past 65535; ${rule.example}`);
  return { host, port, portGiven: true };
}

/**
 * The rule of an address a service listens on (`--server_address`,
 * `--metrics_address`): an empty host is every interface, port 0 a free one.
 */
export const listenRule: HostPortRule = { example: "such as 127.0.0.1:0 or 0.0.0.0:8080", emptyHost: true };

/**
 * Splits `--server_advertise`'s `address`, the `host:port` callers reach a
 * node by, or throws a SetupError (TSM_ERR_FLAG) naming `flag`: a host name
 * or IP with a port, an IPv6 literal in brackets. Port 0 is refused, as no
 * caller can dial it: it only means "a free one" to a listener.
 */
export function advertiseAddress(address: string, flag: string): HostPort {
  const example = "such as 10.0.0.5:9000, user.internal:9000 or [fd00::5]:9000";
  const split = hostPort(address, flag, { example });
  // Unbracketed, `fd00::5:9000` would pass as host `fd00::5`, and callers would read it differently.
  if (split.host.includes(":") && !address.startsWith("["))
    throw new SetupError("TSM_ERR_FLAG", flag, JSON.stringify(address), `write an IPv6 host in brackets, ${example}`);
  if (split.port === 0)
    throw new SetupError(
      "TSM_ERR_FLAG",
      flag,
      JSON.stringify(address),
      `callers cannot dial port 0; advertise the port they reach this node on, ${example}`,
    );
  return split;
}

/** `host:port`, with an IPv6 host in brackets (`[::1]:9000`). */
export function joinHostPort(host: string, port: number | string): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
