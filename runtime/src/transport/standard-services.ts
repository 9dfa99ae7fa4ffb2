import type { ServiceDefinition } from "../definition/definition.js";
import { HealthDefinition } from "../gen/grpc/health/v1/health.micro.js";
import { HealthService, healthReflected } from "./grpc-health.js";
import { createReflectionService, fileDescriptorProtos } from "./grpc-reflection.js";
import type { Logger } from "../logging/logger.js";
import { CallsInFlight } from "./server-context.js";
import type { ServerHandler } from "./transport.js";

/**
 * What every server transport keeps besides its routes: the services added,
 * their health (grpc.health.v1, when asked for) and what reflection serves.
 * The transport serves `served()` through its own method binding.
 */
export class StandardServices {
  /** The calls the server is running, counted by their contexts. */
  readonly inFlight = new CallsInFlight();
  readonly #services: ServiceDefinition[] = [];
  readonly #reflectedFiles: Uint8Array[] = [];
  readonly #health: HealthService | undefined;
  readonly #reflection: boolean;
  #serving = false;

  constructor(options: { readonly health?: boolean | undefined; readonly reflection?: boolean | undefined }) {
    this.#health = options.health ? new HealthService({ "": "NOT_SERVING" }) : undefined;
    this.#reflection = options.reflection === true;
  }

  /** The health service, to serve at once (before any service is added). */
  health(): [ServiceDefinition, ServerHandler][] {
    return this.#health ? [[HealthDefinition, this.#health.handler]] : [];
  }

  /** Notes an added service: listed by reflection, its health as the server's. */
  added(service: ServiceDefinition): void {
    this.#services.push(service);
    this.#health?.setStatus(service.typeName, this.#serving ? "SERVING" : "NOT_SERVING");
  }

  /** Reflection (v1 and v1alpha) over what was added, to serve at listen; none when not asked for. */
  reflection(): [ServiceDefinition, ServerHandler][] {
    if (!this.#reflection) return [];
    const extra = this.#health ? [healthReflected()] : [];
    const reflection = createReflectionService(this.#services, extra, this.#reflectedFiles);
    return reflection.definitions.map((definition) => [definition, reflection.handler]);
  }

  /** Sets the health of the server ("") and of every added service. */
  setServing(serving: boolean): void {
    this.#serving = serving;
    if (!this.#health) return;
    const status = serving ? "SERVING" : "NOT_SERVING";
    this.#health.setStatus("", status);
    for (const service of this.#services) this.#health.setStatus(service.typeName, status);
  }

  /** The server is stopping: health watches end, so they do not hold the stop for its grace. */
  stopping(): void {
    this.#health?.close();
  }

  /**
   * The grace is over: the calls still running are about to be cancelled, which a warning says,
   * and their handlers' signals say why.
   */
  cutting(graceMs: number, logger: Logger): void {
    const running = this.inFlight.running;
    if (running > 0)
      logger.warn(
        { calls: running },
        "calls still running after the shutdown grace (--shutdown_grace); cancelling them",
      );
    this.inFlight.cut(graceMs);
  }

  /** Adds descriptors reflection serves by file and symbol (a base64 FileDescriptorSet). */
  reflect(fileDescriptorSet: string): void {
    this.#reflectedFiles.push(...fileDescriptorProtos(fileDescriptorSet));
  }
}
