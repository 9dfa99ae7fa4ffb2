import { hostPort } from "../service/host-port.js";

/** etcd's client port, for an endpoint that names none (go-micro's rule). */
export const etcdDefaultPort = 2379;

/**
 * etcd endpoints as the client dials them: each checked (`host:port`,
 * `http://host:port`, or a host alone for port 2379) and given its port. A
 * malformed one (a port that is no number or past 65535, no host) is a
 * SetupError (TSM_ERR_FLAG) naming `flag` and that endpoint, rather than a
 * name grpc-js fails to resolve at start.
 */
export function etcdEndpoints(addresses: readonly string[], flag = "--registry_address"): string[] {
  return addresses.map((address) => {
    const { portGiven } = hostPort(address, flag, {
      example: `such as 127.0.0.1:${etcdDefaultPort} or http://etcd-1:${etcdDefaultPort}`,
      otherwise: `, or a host alone for port ${etcdDefaultPort}`,
      defaultPort: etcdDefaultPort,
      scheme: true,
    });
    return portGiven ? address : `${address}:${etcdDefaultPort}`;
  });
}
