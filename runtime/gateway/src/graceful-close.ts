import type { Server } from "node:http";
import type { Socket } from "node:net";
import type { FastifyInstance } from "fastify";

/** How often a closing app closes the connections whose requests have finished. */
const idleReapMs = 50;

/** How long the requests cancelled at the end of the grace have to send their answers before their connections are cut. */
const cancelledAnswersMs = 1_000;

/**
 * The sockets `server` has open, upgraded ones (WebSocket tunnels) included, which the server's
 * closeAllConnections leaves out: what a close cuts once its grace is over.
 */
export function openSockets(server: Server): ReadonlySet<Socket> {
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  return sockets;
}

/**
 * Closes `app` as a service's server stops: it takes no new connection (fastify answers 503 to a
 * request on one still open), gives the requests in flight `graceMs` to finish, then calls
 * `cancel` to end what is left; their answers have a moment to go out before every socket still
 * open is cut. A connection is closed as soon as its request has finished: fastify would keep it
 * alive (for 72 s), and the server would wait for it.
 */
export async function closeWithinGrace(
  app: FastifyInstance,
  sockets: ReadonlySet<Socket>,
  graceMs: number,
  cancel: () => void,
): Promise<void> {
  const closed = app.close();
  const reaping = setInterval(() => app.server.closeIdleConnections(), idleReapMs);
  try {
    if (await settlesWithin(closed, graceMs)) return;
    cancel();
    if (await settlesWithin(closed, cancelledAnswersMs)) return;
    for (const socket of sockets) socket.destroy();
    await closed;
  } finally {
    clearInterval(reaping);
  }
}

/** Whether `promise` resolves within `ms`; its rejection, within them, rejects this too. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(resolve, ms, false);
  });
  try {
    return await Promise.race([promise.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}
