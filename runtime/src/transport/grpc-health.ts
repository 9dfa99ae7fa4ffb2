import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import {
  type HealthCheckRequest,
  type HealthCheckResponse,
  HealthCheckResponse_ServingStatus as Status,
  type HealthListResponse,
} from "../gen/grpc/health/v1/health.js";
import { HealthDefinition } from "../gen/grpc/health/v1/health.micro.js";
import { fileDescriptorProtos, type ReflectedService } from "./grpc-reflection.js";
import type { ServerHandler } from "./transport.js";

/** A status a server sets; SERVICE_UNKNOWN and UNKNOWN are only ever answered. */
export type ServingStatus = "SERVING" | "NOT_SERVING";

/** List answers RESOURCE_EXHAUSTED beyond this many services, as gRPC's health protocol allows. */
const listLimit = 100;

/**
 * grpc.health.v1.Health (doc/health-checking.md): Check answers a service's
 * status or NOT_FOUND, Watch streams it (SERVICE_UNKNOWN while unknown) and
 * again at each change, List answers them all. "" is the whole server.
 * A handler any server transport serves, on the runtime's own generated
 * messages, so health costs no protobufjs or proto loading at start.
 */
export class HealthService {
  readonly #statuses = new Map<string, Status>();
  readonly #watchers = new Map<string, Set<(status: Status) => void>>();
  /** Wakes each open Watch, to end it once the server stops. */
  readonly #wakers = new Set<() => void>();
  #closed = false;

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

  /**
   * Ends every Watch once it has sent what it has to (the NOT_SERVING of a stopping server): a
   * watch stays open as long as its client, and would hold the server's stop for its whole grace.
   */
  close(): void {
    this.#closed = true;
    for (const wake of this.#wakers) wake();
  }

  /** Serves Check, Watch and List on any server transport: `add(HealthDefinition, health.handler)`. */
  readonly handler: ServerHandler = (call) => {
    const { service } = call.request as HealthCheckRequest;
    switch (call.method.name) {
      case "Check":
        return this.#check(service);
      case "Watch":
        return this.#watch(service, call.context.signal);
      default:
        return this.#list();
    }
  };

  async #check(service: string): Promise<HealthCheckResponse> {
    const status = this.#statuses.get(service);
    if (status === undefined) {
      throw new TsmicroError(Code.NOT_FOUND, `no health status for service ${JSON.stringify(service)}`);
    }
    return { status };
  }

  /** The service's status at once, then at each change, until the watcher goes. */
  async *#watch(service: string, signal: AbortSignal): AsyncIterable<HealthCheckResponse> {
    const changes: Status[] = [this.#statuses.get(service) ?? Status.SERVICE_UNKNOWN];
    let wake: (() => void) | undefined;
    const send = (status: Status) => {
      changes.push(status);
      wake?.();
    };
    const watchers = this.#watchers.get(service) ?? new Set();
    this.#watchers.set(service, watchers);
    watchers.add(send);
    const closed = () => wake?.();
    this.#wakers.add(closed);
    try {
      while (!signal.aborted) {
        for (let status = changes.shift(); status !== undefined; status = changes.shift()) yield { status };
        if (this.#closed) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
          signal.addEventListener("abort", () => resolve(), { once: true });
        });
      }
    } finally {
      this.#wakers.delete(closed);
      watchers.delete(send);
      if (watchers.size === 0 && this.#watchers.get(service) === watchers) this.#watchers.delete(service);
    }
  }

  async #list(): Promise<HealthListResponse> {
    if (this.#statuses.size > listLimit) {
      throw new TsmicroError(Code.RESOURCE_EXHAUSTED, `more than ${listLimit} services to list`);
    }
    const statuses: Record<string, HealthCheckResponse> = {};
    for (const [service, status] of this.#statuses) statuses[service] = { status };
    return { statuses };
  }
}

/** grpc.health.v1.Health's descriptors, so reflection lists it and tools can call it without its proto. */
export function healthReflected(): ReflectedService {
  return {
    typeName: HealthDefinition.typeName,
    fileDescriptorProtos: fileDescriptorProtos(HealthDefinition.fileDescriptorSet),
  };
}
