/**
 * A TCP proxy on loopback for fault tests (this kernel has no netem): it
 * relays bytes both ways between its callers and `target`, and on demand
 * delays them, resets every connection, or black-holes them as a frozen peer
 * or a link that died without a FIN would (connections stay open and
 * nothing arrives either way).
 */
import { connect, createServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

export interface FaultProxy {
  /** `127.0.0.1:port` to call instead of the target. */
  readonly address: string;
  /** How many connections it has taken so far (refused ones not counted). */
  readonly accepted: number;
  /** From now on, bytes either way are dropped. */
  freeze(): void;
  /** Holds every chunk this long before passing it on (0: none); order is kept. */
  delay(ms: number): void;
  /** Resets every open connection (RST), both sides; new ones are relayed as before. */
  reset(): void;
  /** While on, a new connection is closed at once, as by a server not (yet) there; open ones are left alone. */
  refuse(on: boolean): void;
  /**
   * While on, a PostgreSQL CancelRequest is closed unread, as by a proxy that passes none on: the
   * query it was to stop runs on. How many were: `cancelsDropped`.
   */
  dropCancels(on: boolean): void;
  readonly cancelsDropped: number;
  close(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const colon = target.lastIndexOf(":");
  const host = target.slice(0, colon).replace(/^\[|\]$/g, "");
  const port = Number(target.slice(colon + 1));
  const sockets = new Set<Socket>();
  let frozen = false;
  let delayMs = 0;
  let refusing = false;
  let accepted = 0;
  let droppingCancels = false;
  let cancelsDropped = 0;
  const relay = (from: Socket, to: Socket) => {
    // A chunk never overtakes one held before it, whatever the delay is now.
    let heldUntil = 0;
    from.on("data", (chunk: Buffer) => {
      // Destroyed: a cancel request dropped, in this same emit.
      if (frozen || from.destroyed) return;
      const now = performance.now();
      heldUntil = Math.max(heldUntil, now + delayMs);
      if (heldUntil <= now) to.write(chunk);
      else setTimeout(() => to.destroyed || to.write(chunk), heldUntil - now);
    });
  };
  const server = createServer((inbound) => {
    if (refusing) {
      inbound.destroy();
      return;
    }
    accepted++;
    const outbound = connect(port, host);
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on("error", () => undefined);
      socket.once("close", () => {
        sockets.delete(socket);
        inbound.destroy();
        outbound.destroy();
      });
    }
    if (droppingCancels) inbound.once("data", (chunk: Buffer) => isCancelRequest(chunk) && dropCancel(inbound));
    relay(inbound, outbound);
    relay(outbound, inbound);
  });
  const dropCancel = (inbound: Socket) => {
    cancelsDropped++;
    inbound.destroy();
  };
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    get accepted() {
      return accepted;
    },
    freeze: () => {
      frozen = true;
    },
    delay: (ms) => {
      delayMs = ms;
    },
    refuse: (on) => {
      refusing = on;
    },
    dropCancels: (on) => {
      droppingCancels = on;
    },
    get cancelsDropped() {
      return cancelsDropped;
    },
    reset: () => {
      for (const socket of sockets) socket.resetAndDestroy();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Whether a connection's first bytes are a PostgreSQL CancelRequest: 16 bytes, code 80877102. */
function isCancelRequest(chunk: Buffer): boolean {
  return chunk.length >= 8 && chunk.readInt32BE(0) === 16 && chunk.readInt32BE(4) === 80877102;
}
