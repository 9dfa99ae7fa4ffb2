import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { nodeHttp } from "../platform/node-builtins.js";
import type { AddressInfo } from "node:net";
import { collectDefaultMetricsNow, type MetricsRegistry } from "./process-registry.js";

/**
 * A small HTTP server for Prometheus: `GET /metrics` answers the
 * registry's metrics in the text format; anything else is 404. A service
 * starts it with itself and stops it with itself.
 */
export class MetricsServer {
  #server: Server | undefined;

  constructor(private readonly registry: MetricsRegistry) {}

  /** Listens on `host:port` (port 0 picks a free one); resolves to the bound `host:port`. */
  async listen(address: string): Promise<string> {
    const colon = address.lastIndexOf(":");
    const host = address.slice(0, colon).replace(/^\[|\]$/g, "");
    const port = Number(address.slice(colon + 1));
    const server = nodeHttp().createServer((request, response) => void this.answer(request, response));
    // Prometheus scrapes with keep-alive; idle sockets must not hold stop() up.
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ port, ...(host === "" ? {} : { host }) }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.#server = server;
    const bound = server.address() as AddressInfo;
    return `${bound.family === "IPv6" ? `[${bound.address}]` : bound.address}:${bound.port}`;
  }

  /** Stops listening and closes its connections; scrapes in flight are cut off, as there is nothing to drain. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? "/").split("?")[0];
    if (path !== "/metrics" || (request.method !== "GET" && request.method !== "HEAD")) {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found: metrics are at GET /metrics\n");
      return;
    }
    try {
      collectDefaultMetricsNow(this.registry);
      const body = await this.registry.metrics();
      response.writeHead(200, { "content-type": this.registry.contentType }).end(body);
    } catch (error) {
      response.writeHead(500, { "content-type": "text/plain" }).end(`collecting metrics failed: ${String(error)}\n`);
    }
  }
}
