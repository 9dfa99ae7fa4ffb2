import { Socket } from "node:net";
import { Code, TsmicroError } from "@tsmicro/runtime";

/**
 * One AbortSignal per HTTP connection, aborted when the connection closes, for the backend calls
 * made for its requests: a client that goes away cancels them instead of leaving them to their
 * deadlines. One per connection, made at its first call, rather than one per request: the
 * requests of a keep-alive connection share it, so a request costs a map lookup, not a controller
 * and a `close` listener of its own.
 */
export class ConnectionSignals {
  readonly #controllers = new Map<Socket, AbortController>();
  /** Why every call is cancelled, once cancelAll was called: connections used after are cancelled at once. */
  #cancelled: unknown;

  /**
   * The signal of the connection `socket`. Undefined for what is no socket (fastify's `inject`),
   * which never closes and would never leave the map.
   */
  of(socket: Socket): AbortSignal | undefined {
    return this.#controllers.get(socket)?.signal ?? this.#watch(socket);
  }

  /** Aborts the calls of every connection with `reason` (the gateway stopping), and of any used after. */
  cancelAll(reason: unknown): void {
    this.#cancelled ??= reason;
    for (const controller of this.#controllers.values()) controller.abort(reason);
  }

  #watch(socket: Socket): AbortSignal | undefined {
    if (!(socket instanceof Socket)) return undefined;
    const controller = new AbortController();
    if (this.#cancelled !== undefined) controller.abort(this.#cancelled);
    // Closed already, while its request was read: its calls are cancelled before they start.
    if (socket.destroyed) controller.abort(wentAway());
    if (controller.signal.aborted) return controller.signal;
    this.#controllers.set(socket, controller);
    socket.once("close", () => {
      this.#controllers.delete(socket);
      controller.abort(wentAway());
    });
    return controller.signal;
  }
}

function wentAway(): TsmicroError {
  return new TsmicroError(Code.CANCELLED, "the HTTP client closed its connection");
}
