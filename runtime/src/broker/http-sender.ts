import { nodeHttp } from "../platform/node-builtins.js";

/**
 * POSTs messages to http broker subscribers over kept-alive connections.
 * node:http with its own Agent rather than fetch: on loopback a fetch costs
 * several times as much per message, and the broker owns (and closes) the sockets.
 */
export class HttpSender {
  readonly #http = nodeHttp();
  readonly #agent = new this.#http.Agent({ keepAlive: true, keepAliveMsecs: 1_000, scheduling: "lifo" });

  constructor(private readonly timeoutMs: number) {}

  /** POSTs `body`; resolves with the response status, rejects on a connection error or after the timeout. */
  post(url: string, headers: Readonly<Record<string, string>>, body: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) => {
      const outgoing = this.#http.request(
        url,
        {
          method: "POST",
          agent: this.#agent,
          headers: { ...headers, "content-length": String(body.byteLength) },
          timeout: this.timeoutMs,
        },
        (response) => {
          response.resume();
          response.once("end", () => resolve(response.statusCode ?? 0));
          response.once("error", reject);
        },
      );
      outgoing.once("timeout", () => outgoing.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      outgoing.once("error", reject);
      outgoing.end(body);
    });
  }

  /** Closes every socket. */
  close(): void {
    this.#agent.destroy();
  }
}
