import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";

/**
 * Distinct ports on 127.0.0.1 free right now: all are held open together,
 * so none is handed out twice. The kernel picks them from its ephemeral
 * range, where any outgoing connection may take one as its local port:
 * fine for a server that starts once and keeps its port. A server that
 * stops and starts again on its port (a killed node, a restarted etcd
 * member) needs `restartable`: ports below that range, which no
 * connection is given while the server is down.
 */
export async function freePorts(count: number, options: { restartable?: boolean } = {}): Promise<number[]> {
  const servers: Server[] = [];
  try {
    while (servers.length < count) {
      const server = await listenOn(options.restartable ? randomStablePort() : 0);
      if (server) servers.push(server);
    }
    return servers.map((server) => {
      const address = server.address();
      if (!address || typeof address === "string") throw new Error("a test port has no address");
      return address.port;
    });
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
export async function freePort(options: { restartable?: boolean } = {}): Promise<number> {
  const [port] = await freePorts(1, options);
  return port!;
}

/** A server listening on `port` (0: one the kernel picks), or undefined when the port is taken. */
function listenOn(port: number): Promise<Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", (error: NodeJS.ErrnoException) =>
      error.code === "EADDRINUSE" || error.code === "EACCES" ? resolve(undefined) : reject(error),
    );
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

/** The first port of the kernel's ephemeral range (Linux's default where /proc does not say). */
const ephemeralFrom = (() => {
  try {
    const first = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(first) && first > 20_000 ? first : 32_768;
  } catch {
    return 32_768;
  }
})();

/** A random port between 20000 and the ephemeral range. */
function randomStablePort(): number {
  return 20_000 + Math.floor(Math.random() * (ephemeralFrom - 20_000));
}
