import type { Http2Session } from "node:http2";

/** How a connection is kept alive: grpc's keepalive time, timeout and permit-without-calls, in milliseconds. */
export interface Keepalive {
  /** Pings the peer this often. */
  readonly intervalMs: number;
  /** Drops the connection when a ping has no answer after this long. */
  readonly timeoutMs: number;
  /**
   * Whether to ping while the connection carries no call. gRPC servers count
   * pings on an idle connection as abuse (grpc-go and grpcio answer more than
   * one in five minutes with GOAWAY `too_many_pings`), so clients ping only
   * during calls by default; a server pings its clients either way.
   */
  readonly whenIdle: boolean;
}

/** A client's keepalive, as both client transports take it. */
export interface ClientKeepaliveOptions {
  /**
   * Pings the server this often while a connection carries calls (grpc's
   * keepalive time), dropping the connection when a ping goes unanswered for
   * `keepaliveTimeoutMs`: its calls fail UNAVAILABLE rather than wait out
   * their deadlines on a frozen server or a dead link. Default off.
   */
  readonly keepaliveMs?: number;
  /** How long a keepalive ping may go unanswered. Default 20 s, as grpc's. */
  readonly keepaliveTimeoutMs?: number;
  /** Pings idle connections too (grpc's permit-without-calls); servers may take that as abuse. Default false. */
  readonly keepaliveWithoutCalls?: boolean;
}

/** A server's keepalive, as both server transports take it. */
export interface ServerKeepaliveOptions {
  /**
   * Pings each client connection this often, dropping it (and cancelling its
   * calls) when a ping goes unanswered for `keepaliveTimeoutMs`: the calls of
   * a client that vanished without closing its connection end. Default 2 h,
   * as grpc-go's; 0 for never.
   */
  readonly keepaliveMs?: number;
  /** How long a keepalive ping may go unanswered. Default 20 s, as grpc's. */
  readonly keepaliveTimeoutMs?: number;
}

/** grpc-go's default server keepalive time: two hours. */
const defaultServerKeepaliveMs = 2 * 60 * 60 * 1000;

/** A server's keepalive settings, or undefined when it does not ping. */
export function serverKeepalive(options: ServerKeepaliveOptions): Keepalive | undefined {
  const intervalMs = options.keepaliveMs ?? defaultServerKeepaliveMs;
  if (!(intervalMs > 0)) return undefined;
  return { intervalMs, timeoutMs: options.keepaliveTimeoutMs ?? defaultKeepaliveTimeoutMs, whenIdle: true };
}

/** gRPC's default keepalive timeout: a ping unanswered for 20 s means the peer is gone. */
export const defaultKeepaliveTimeoutMs = 20_000;

/** A client's keepalive settings, or undefined when it does not ping. */
export function clientKeepalive(options: ClientKeepaliveOptions): Keepalive | undefined {
  if (!options.keepaliveMs || !(options.keepaliveMs > 0)) return undefined;
  return {
    intervalMs: options.keepaliveMs,
    timeoutMs: options.keepaliveTimeoutMs ?? defaultKeepaliveTimeoutMs,
    whenIdle: options.keepaliveWithoutCalls ?? false,
  };
}

/**
 * Pings `session`'s peer every `keepalive.intervalMs` (while `busy()` says it
 * carries calls, unless `whenIdle`) and destroys the session with an error
 * naming the silence when an answer takes longer than `keepalive.timeoutMs`:
 * a frozen peer or a connection that died without a FIN (half-open TCP)
 * fails its calls with UNAVAILABLE instead of holding them until their
 * deadlines. The timers stop with the session and never hold the process.
 */
export function keepAlive(session: Http2Session, keepalive: Keepalive, busy: () => boolean): void {
  let waiting: NodeJS.Timeout | undefined;
  const silent = () => {
    session.destroy(
      new Error(`the peer did not answer a keepalive ping within ${keepalive.timeoutMs} ms: connection dropped`),
    );
  };
  const ping = () => {
    if (waiting || session.connecting || session.destroyed || session.closed) return;
    if (!keepalive.whenIdle && !busy()) return;
    waiting = setTimeout(silent, keepalive.timeoutMs);
    waiting.unref();
    const sent = session.ping((error) => {
      clearTimeout(waiting);
      waiting = undefined;
      // A ping fails when its session closes, which has already failed its calls.
      if (error && !session.destroyed) session.destroy(error);
    });
    if (!sent) {
      clearTimeout(waiting);
      waiting = undefined;
    }
  };
  const timer = setInterval(ping, keepalive.intervalMs);
  timer.unref();
  session.once("close", () => {
    clearInterval(timer);
    clearTimeout(waiting);
  });
}
