import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { nodeHttp } from "../platform/node-builtins.js";
import type { AddressInfo } from "node:net";
import { listenError } from "../service/lifecycle.js";
import { brokerHeaders } from "./broker.js";
import type { MessageFields } from "./received-message.js";

/** The HTTP header carrying a message's own headers, as URI-encoded JSON (HTTP headers would lose case and non-ASCII). */
export const headersHeader = "Micro-Headers";

/** The path a subscription receives on. */
export function subscriptionPath(subscriptionId: string): string {
  return `/broker/${encodeURIComponent(subscriptionId)}`;
}

/** What the receiver does with one message: `accepted`, or why not. */
export type Acceptance = "accepted" | "unknown-subscription" | "overloaded";

/** Options of the receiver. */
export interface ReceiverOptions {
  /** `host:port` to bind; port 0 picks a free one. */
  readonly address: string;
  /** Largest body accepted, in bytes. */
  readonly maxMessageBytes: number;
  /** Hands a message to the subscription with this id. */
  accept(subscriptionId: string, fields: MessageFields): Acceptance;
}

const statusOf: Readonly<Record<Acceptance, number>> = {
  accepted: 202,
  "unknown-subscription": 404,
  overloaded: 503,
};

/**
 * The http broker's receiving side: a node:http server taking
 * `POST /broker/<subscription>` and answering 202 once the message is
 * queued for the handler (not handled: a publisher does not wait for
 * handlers), 404 for a subscription that is gone, 503 when its queue is full.
 */
export class HttpReceiver {
  readonly #server: Server;

  constructor(private readonly options: ReceiverOptions) {
    this.#server = nodeHttp().createServer((request, response) => this.#serve(request, response));
    // Longer than fetch's idle keep-alive (4 s), so the server never closes a socket a publisher is about to reuse.
    this.#server.keepAliveTimeout = 65_000;
  }

  /** Binds; resolves with the bound `host:port`. A port in use is TSM_ERR_ADDRESS_IN_USE naming --broker_address. */
  async listen(): Promise<string> {
    const { address } = this.options;
    const colon = address.lastIndexOf(":");
    const host = address.slice(0, colon).replace(/^\[|\]$/g, "") || "127.0.0.1";
    const port = Number(address.slice(colon + 1));
    await new Promise<void>((resolve, reject) => {
      this.#server.once("error", (error) => reject(listenError(error, "--broker_address", address)));
      this.#server.listen(port, host, () => resolve());
    });
    const bound = this.#server.address() as AddressInfo;
    return bound.family === "IPv6" ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
  }

  /** Stops accepting and closes every connection. */
  async close(): Promise<void> {
    if (!this.#server.listening) return;
    const closed = new Promise((resolve) => this.#server.close(resolve));
    this.#server.closeAllConnections();
    await closed;
  }

  #serve(request: IncomingMessage, response: ServerResponse): void {
    const match = /^\/broker\/([^/?]+)$/.exec(request.url ?? "");
    if (request.method !== "POST" || !match?.[1]) return void response.writeHead(404).end();
    const subscriptionId = decodeURIComponent(match[1]);
    readBody(request, this.options.maxMessageBytes).then(
      (body) => {
        const fields = fieldsOf(request, body);
        if (!fields) return void response.writeHead(400).end("missing Micro-Topic or Micro-Id, or bad Micro-Headers");
        response.writeHead(statusOf[this.options.accept(subscriptionId, fields)]).end();
      },
      () => response.writeHead(413, { connection: "close" }).end(),
    );
  }
}

/** The request body, or a rejection once it passes `limit` bytes. */
function readBody(request: IncomingMessage, limit: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        request.removeAllListeners("data");
        request.resume();
        reject(new RangeError(`message larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    request.once("end", () => resolve(new Uint8Array(Buffer.concat(chunks))));
    request.once("error", reject);
  });
}

/** The message fields a POST carries, or undefined when they are missing or malformed. */
function fieldsOf(request: IncomingMessage, body: Uint8Array): MessageFields | undefined {
  const header = (name: string) => {
    const value = request.headers[name.toLowerCase()];
    return typeof value === "string" ? value : undefined;
  };
  const topic = header(brokerHeaders.topic);
  const id = header(brokerHeaders.id);
  if (!topic || !id) return undefined;
  let headers: Record<string, string> = {};
  const encoded = header(headersHeader);
  if (encoded) {
    try {
      const parsed: unknown = JSON.parse(decodeURIComponent(encoded));
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined;
      headers = Object.fromEntries(Object.entries(parsed).filter(([, v]) => typeof v === "string")) as Record<
        string,
        string
      >;
    } catch {
      return undefined;
    }
  }
  return { topic, body, headers, id, attempt: 1 };
}
