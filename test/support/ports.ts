import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";

/**
 * Distinct ports on 127.0.0.1 free right now, for a server a test starts
 * later (often another process, seconds later): all are held open together,
 * so none is handed out twice. They lie below the kernel's ephemeral range,
 * where no outgoing connection's local port and no server listening on port
 * 0 ever lands: a port from that range, free a moment ago, may be taken by
 * either before the server starts (CI saw a gateway's port so taken), or
 * while a server that stops and starts again on its port is down.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    while (servers.length < count) {
      const server = await listenOn(randomStablePort());
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
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port!;
}

/** A server listening on `port`, or undefined when the port is taken. */
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
