/**
 * The transports the transport tests run on, every client against every
 * server: grpc-js's and tsmicro's own on node:http2. A suite picks its pair
 * with `use(client, server)` (in beforeAll of a `describe.each(pairs)`) and
 * makes transports through `transports`.
 */
import { createGrpcClientTransport, type GrpcClientTransportOptions } from "../grpc-client.js";
import {
  createGrpcServerTransport,
  type GrpcServerTransport,
  type GrpcServerTransportOptions,
} from "../grpc-server.js";
import { createH2ClientTransport } from "../h2-client.js";
import { createH2ServerTransport } from "../h2-server.js";
import type { ClientTransport } from "../transport.js";

type Kind = "grpc-js" | "h2";

const clients: Record<Kind, (options?: GrpcClientTransportOptions) => ClientTransport> = {
  "grpc-js": createGrpcClientTransport,
  h2: createH2ClientTransport,
};
const servers: Record<Kind, (options?: GrpcServerTransportOptions) => GrpcServerTransport> = {
  "grpc-js": createGrpcServerTransport,
  h2: createH2ServerTransport,
};

/** [client, server] kinds, every one against every other. */
export const pairs = (["grpc-js", "h2"] as const).flatMap((client) =>
  (["grpc-js", "h2"] as const).map((server) => [client, server] as const),
);

/** The pair the running suite uses. */
export const transports = { client: clients["grpc-js"], server: servers["grpc-js"] };

export function use(client: Kind, server: Kind): void {
  transports.client = clients[client];
  transports.server = servers[server];
}
