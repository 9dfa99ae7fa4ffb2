import type { sendUnaryData, Server, ServerUnaryCall, ServerWritableStream } from "@grpc/grpc-js";
import { Code } from "../errors/tsmicro-error.js";
import { HealthDefinition } from "../gen/grpc/health/v1/health.micro.js";
import {
  type HealthCheckRequest,
  HealthCheckResponse,
  HealthCheckResponse_ServingStatus as Status,
  type HealthListResponse,
} from "../gen/grpc/health/v1/health.js";
import { grpcCodec } from "./grpc-wire.js";

/** A status a server sets; SERVICE_UNKNOWN and UNKNOWN are only ever answered. */
export type ServingStatus = "SERVING" | "NOT_SERVING";

/** List answers RESOURCE_EXHAUSTED beyond this many services, as gRPC's health protocol allows. */
const listLimit = 100;

/**
 * grpc.health.v1.Health (doc/health-checking.md): Check answers a service's
 * status or NOT_FOUND, Watch streams it (SERVICE_UNKNOWN while unknown) and
 * again at each change, List answers them all. "" is the whole server.
 * Served on grpc-js with the runtime's own generated messages, so health
 * costs no protobufjs or proto loading at start.
 */
export class HealthService {
  readonly #statuses = new Map<string, Status>();
  readonly #watchers = new Map<string, Set<(status: Status) => void>>();

  constructor(initial: Readonly<Record<string, ServingStatus>> = {}) {
    for (const [service, status] of Object.entries(initial)) this.setStatus(service, status);
  }

  /** Sets `service`'s status; its watchers hear of a change. */
  setStatus(service: string, status: ServingStatus): void {
    const value = Status[status];
    if (this.#statuses.get(service) === value) return;
    this.#statuses.set(service, value);
    for (const watcher of this.#watchers.get(service) ?? []) watcher(value);
  }

  addToServer(server: Server): void {
    const { check, watch, list } = HealthDefinition.methods;
    const answer = grpcCodec(HealthCheckResponse).serialize;
    server.register(check.path, this.#check, answer, grpcCodec(check.input).deserialize, "unary");
    server.register(watch.path, this.#watch, answer, grpcCodec(watch.input).deserialize, "serverStream");
    server.register(
      list.path,
      this.#list,
      grpcCodec(list.output).serialize,
      grpcCodec(list.input).deserialize,
      "unary",
    );
  }

  readonly #check = (
    call: ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>,
    callback: sendUnaryData<HealthCheckResponse>,
  ): void => {
    const { service } = call.request;
    const status = this.#statuses.get(service);
    if (status === undefined)
      callback({ code: Code.NOT_FOUND, details: `no health status for service ${JSON.stringify(service)}` });
    else callback(null, { status });
  };

  readonly #watch = (call: ServerWritableStream<HealthCheckRequest, HealthCheckResponse>): void => {
    const { service } = call.request;
    const send = (status: Status) => call.write({ status });
    const watchers = this.#watchers.get(service) ?? new Set();
    this.#watchers.set(service, watchers);
    watchers.add(send);
    call.once("cancelled", () => {
      watchers.delete(send);
      if (watchers.size === 0 && this.#watchers.get(service) === watchers) this.#watchers.delete(service);
    });
    send(this.#statuses.get(service) ?? Status.SERVICE_UNKNOWN);
  };

  readonly #list = (_call: unknown, callback: sendUnaryData<HealthListResponse>): void => {
    if (this.#statuses.size > listLimit) {
      callback({ code: Code.RESOURCE_EXHAUSTED, details: `more than ${listLimit} services to list` });
      return;
    }
    const statuses: Record<string, HealthCheckResponse> = {};
    for (const [service, status] of this.#statuses) statuses[service] = { status };
    callback(null, { statuses });
  };
}
