import { createGrpcClientTransport } from "./grpc-client.js";
import { createH2ClientTransport } from "./h2-client.js";
import type { ClientTransport } from "./transport.js";

/** The `--client_*` settings that shape a client transport. */
export interface ClientWireSettings {
  /** `grpc` for @grpc/grpc-js; tsmicro's own gRPC on node:http2 otherwise (the default). */
  readonly clientTransport?: "grpc" | "h2";
  readonly clientPoolSize?: number;
  readonly clientCompression?: "gzip" | "identity";
  /** Message size limits in bytes, -1 for none. */
  readonly clientMaxRecvMsgSize?: number;
  readonly clientMaxSendMsgSize?: number;
  /** Keepalive pings while a connection carries calls; undefined for none. */
  readonly clientKeepaliveMs?: number | undefined;
  readonly clientKeepaliveTimeoutMs?: number;
}

/** The client transport `settings` select, as services, the gateway and the CLI make it. */
export function clientTransportOf(settings: ClientWireSettings): ClientTransport {
  const create = settings.clientTransport === "grpc" ? createGrpcClientTransport : createH2ClientTransport;
  return create({
    ...(settings.clientPoolSize === undefined ? {} : { poolSize: settings.clientPoolSize }),
    ...(settings.clientCompression ? { compression: settings.clientCompression } : {}),
    ...(settings.clientMaxRecvMsgSize === undefined ? {} : { maxReceiveMessageBytes: settings.clientMaxRecvMsgSize }),
    ...(settings.clientMaxSendMsgSize === undefined ? {} : { maxSendMessageBytes: settings.clientMaxSendMsgSize }),
    ...(settings.clientKeepaliveMs === undefined ? {} : { keepaliveMs: settings.clientKeepaliveMs }),
    ...(settings.clientKeepaliveTimeoutMs === undefined
      ? {}
      : { keepaliveTimeoutMs: settings.clientKeepaliveTimeoutMs }),
  });
}
