import { SetupError } from "../errors/setup-error.js";
import { hostPort } from "../service/host-port.js";

/** etcd's client port, for an endpoint that names none (go-micro's rule). */
export const etcdDefaultPort = 2379;

/** A user of an etcd with authentication enabled. */
export interface EtcdCredentials {
  readonly username: string;
  readonly password: string;
}

/** Where and as whom to dial etcd: what etcdTarget makes of a list of addresses. */
export interface EtcdTarget {
  /** The endpoints as the client dials them, without credentials: safe to print. */
  readonly endpoints: string[];
  /** The user the addresses name, else the one given beside them; undefined for none. */
  readonly auth: EtcdCredentials | undefined;
}

/**
 * etcd endpoints as the client dials them: each checked (`host:port`,
 * `http://host:port`, or a host alone for port 2379) and given its port. A
 * malformed one (a port that is no number or past 65535, no host) is a
 * SetupError (TSM_ERR_FLAG) naming `flag` and that endpoint, rather than a
 * name grpc-js fails to resolve at start. Credentials (`user:password@`)
 * are taken off; etcdTarget keeps them.
 */
export function etcdEndpoints(addresses: readonly string[], flag = "--registry_address"): string[] {
  return etcdTarget(addresses, flag).endpoints;
}

/**
 * The endpoints of etcdEndpoints and the user to authenticate as: an
 * endpoint may carry one as a URL does (`http://app:pw@etcd-1:2379` or
 * `app:pw@etcd-1:2379`, percent-encoded where the password holds `@`, `:`
 * or `/`), else `fallback` (go-micro's ETCD_USERNAME and ETCD_PASSWORD)
 * applies. Endpoints that name different users, or a user without a
 * password, are a SetupError (TSM_ERR_FLAG) naming `flag`, never showing
 * the password.
 */
export function etcdTarget(
  addresses: readonly string[],
  flag = "--registry_address",
  fallback?: EtcdCredentials,
): EtcdTarget {
  let auth: EtcdCredentials | undefined;
  const endpoints = addresses.map((address) => {
    const { endpoint, credentials } = splitCredentials(address, flag);
    if (credentials) {
      if (auth && (auth.username !== credentials.username || auth.password !== credentials.password))
        throw new SetupError(
          "TSM_ERR_FLAG",
          flag,
          JSON.stringify(addresses.map(withoutPassword).join(",")),
          "its endpoints name different users or passwords; etcd has one per client: give the same user:password@ on each, or on none and set ETCD_USERNAME and ETCD_PASSWORD",
        );
      auth = credentials;
    }
    const { portGiven } = hostPort(endpoint, flag, {
      example: `such as 127.0.0.1:${etcdDefaultPort} or http://etcd-1:${etcdDefaultPort}`,
      otherwise: `, or a host alone for port ${etcdDefaultPort}`,
      defaultPort: etcdDefaultPort,
      scheme: true,
    });
    return portGiven ? endpoint : `${endpoint}:${etcdDefaultPort}`;
  });
  return { endpoints, auth: auth ?? fallback };
}

/**
 * go-micro's etcd registry reads its user from ETCD_USERNAME and
 * ETCD_PASSWORD, used when both are set; undefined otherwise.
 */
export function etcdCredentialsFromEnv(env: Readonly<Record<string, string | undefined>>): EtcdCredentials | undefined {
  const username = env.ETCD_USERNAME;
  const password = env.ETCD_PASSWORD;
  return username && password ? { username, password } : undefined;
}

/** `app:[redacted]@host`: an address as a message may show it. */
function withoutPassword(address: string): string {
  const at = address.lastIndexOf("@");
  if (at < 0) return address;
  const scheme = /^https?:\/\//i.exec(address)?.[0] ?? "";
  const userinfo = address.slice(scheme.length, at);
  const colon = userinfo.indexOf(":");
  return `${scheme}${colon < 0 ? userinfo : `${userinfo.slice(0, colon)}:[redacted]`}${address.slice(at)}`;
}

/** An address's `user:password@`, decoded, and the endpoint without it. */
function splitCredentials(
  address: string,
  flag: string,
): { endpoint: string; credentials: EtcdCredentials | undefined } {
  const at = address.lastIndexOf("@");
  if (at < 0) return { endpoint: address, credentials: undefined };
  const scheme = /^https?:\/\//i.exec(address)?.[0] ?? "";
  const endpoint = `${scheme}${address.slice(at + 1)}`;
  const userinfo = address.slice(scheme.length, at);
  const colon = userinfo.indexOf(":");
  const refuse = (why: string) => new SetupError("TSM_ERR_FLAG", flag, JSON.stringify(withoutPassword(address)), why);
  if (colon <= 0) throw refuse(`give the user and the password, as user:password@${address.slice(at + 1)}`);
  try {
    return {
      endpoint,
      credentials: {
        username: decodeURIComponent(userinfo.slice(0, colon)),
        password: decodeURIComponent(userinfo.slice(colon + 1)),
      },
    };
  } catch {
    throw refuse("its user or password has a % not followed by two hex digits; write a % in them as %25");
  }
}
