import type { Broker, Subscription } from "../broker/broker.js";
import type { BrokerSettings } from "../broker/broker-settings.js";
import { createServiceBroker, type ServiceServer } from "../broker/create-broker.js";
import { createPublisher, eventBrokerHandler } from "../broker/typed-events.js";
import type { EventContext, EventsDefinition, PublisherOf } from "../definition/events.js";
import { isSetupError, SetupError } from "../errors/setup-error.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import type { Logger } from "../logging/logger.js";
import type { MetricsRegistry } from "../metrics/process-registry.js";
import type { Endpoint, Registry } from "../registry/registry.js";
import { tracedBroker } from "../broker/traced-broker.js";
import type { Tracing } from "../tracing/tracing.js";
import type { PauseLog } from "./lifecycle.js";

/** Options of `service.subscribe`. */
export interface EventSubscribeOptions {
  /**
   * The queue group: each event goes to one node of the group. Default the
   * service's name, as go-micro does, so each subscribing service handles an
   * event once however many nodes it runs; `false` delivers to every node.
   */
  readonly queue?: string | false;
  /** How many events each subscription handles at once. Default 1: one at a time, in arrival order. */
  readonly concurrency?: number;
  /**
   * `true` subscribes to the events the handler has methods for; default
   * `false`: a missing method is a SetupError (TSM_ERR_EVENT_HANDLER) that start() rejects with.
   */
  readonly partial?: boolean;
}

type EventFunction = (event: unknown, context: EventContext) => Promise<void>;

interface PlannedSubscription {
  readonly definition: EventsDefinition;
  readonly localName: string;
  readonly handle: EventFunction;
  readonly queue: string | undefined;
  readonly concurrency: number | undefined;
}

/** What a service's events need from the service. */
export interface ServiceEventsOptions {
  readonly name: string;
  /** A broker handed to createService: started if needed, never stopped. */
  readonly handed: Broker | undefined;
  readonly settings: BrokerSettings;
  /** The service's server, whose host the http broker's receiver follows. */
  readonly server?: ServiceServer;
  /**
   * The service's `--register_ttl` and `--register_interval`, which the http broker's subscriptions keep
   * too, and the PauseLog its node tells a pause in, which they share.
   */
  readonly registration?: { readonly ttlMs: number; readonly intervalMs: number; readonly pauses?: PauseLog };
  readonly registry: Registry;
  /** Starts the registry (once): the http broker finds subscribers through it. */
  readonly registryReady: () => Promise<void>;
  readonly logger: Logger;
  /** Where the broker it makes records event metrics; undefined with `--metrics_address=off`. */
  readonly metrics: MetricsRegistry | undefined;
  readonly tracing: () => Tracing | undefined;
  /** The signal of the call being handled where a publisher is called, while its caller waits for the answer. */
  readonly callSignal: () => AbortSignal | undefined;
}

/**
 * A service's broker and typed events: the broker it owns (made from
 * `--broker`/`--broker_address`, no I/O until started) or was handed, the
 * subscriptions planned before start, and publishers. Whoever creates the
 * broker owns it: one handed in is started if needed but never stopped;
 * the service only ends its own subscriptions on it.
 */
export class ServiceEvents {
  readonly #options: ServiceEventsOptions;
  readonly #planned: PlannedSubscription[] = [];
  readonly #published = new Map<string, Endpoint>();
  readonly #publishedDefinitions = new Set<EventsDefinition>();
  readonly #subscriptions: Subscription[] = [];
  #broker: Broker | undefined;
  #traced: Broker | undefined;
  #setupError: SetupError | undefined;
  #started: Promise<void> | undefined;
  /** Whether #started has resolved: publishes then go straight to the broker, with no promise of their own. */
  #running = false;

  constructor(options: ServiceEventsOptions) {
    this.#options = options;
    try {
      // createServiceBroker does no I/O (NATS loads only at start), so every service can have one at no cost.
      this.#broker =
        options.handed ??
        createServiceBroker(
          options.settings,
          {
            registry: options.registry,
            logger: options.logger,
            name: options.name,
            ...(options.metrics ? { metrics: options.metrics } : {}),
            ...(options.server ? { server: options.server } : {}),
            ...(options.registration ? { registration: options.registration } : {}),
          },
          options.registration?.pauses,
        );
    } catch (error) {
      if (!isSetupError(error)) throw error;
      this.#setupError = error;
    }
  }

  /** The first setup mistake: a broker flag that could not be used, or a handler missing an event. */
  get setupError(): SetupError | undefined {
    return this.#setupError;
  }

  /** The broker; throws the SetupError of a bad broker flag. */
  get broker(): Broker {
    if (!this.#broker) throw this.#setupError ?? new Error("no broker");
    return this.#broker;
  }

  /** The broker as the service's code gets it (`service.broker`): its publishes and handlers traced. */
  get tracedBroker(): Broker {
    this.#traced ??= tracedBroker(this.#startedWithService(this.broker), this.#options.tracing);
    return this.#traced;
  }

  /**
   * `broker` started by the service: its start() is the service's start of it, and a publish or
   * subscribe before the service started it is refused naming service.start(), which the broker's
   * own "call start()" would not (service.broker's users never call the broker's start).
   */
  #startedWithService(broker: Broker): Broker {
    return {
      kind: broker.kind,
      start: async () => {
        await this.#ready();
      },
      stop: () => broker.stop(),
      publish: (topic, body, options) =>
        this.#running
          ? broker.publish(topic, body, options)
          : this.#startedForUse().then(() => broker.publish(topic, body, options)),
      subscribe: (topic, handler, options) =>
        this.#running
          ? broker.subscribe(topic, handler, options)
          : this.#startedForUse().then(() => broker.subscribe(topic, handler, options)),
    };
  }

  /** Waits for the service's start of the broker once begun; before it, refuses with what to call. */
  async #startedForUse(): Promise<void> {
    if (this.#started) {
      await this.#started;
      return;
    }
    // A broker handed to createService is its owner's, who may have started it already.
    if (this.#options.handed) return;
    throw new TsmicroError(
      Code.FAILED_PRECONDITION,
      "service.broker is not started yet: service.start() starts it (run() calls start()). Publish and subscribe " +
        "after `await service.start()` (with run(): `const running = service.run(); await service.start();`), " +
        "or plan typed subscriptions with service.subscribe(Events, handler), which may come first",
    );
  }

  /** Plans subscriptions to the events `handler` handles; they start with the service. */
  subscribe(definition: EventsDefinition, handler: object, options: EventSubscribeOptions): void {
    const queue = options.queue === false ? undefined : (options.queue ?? this.#options.name);
    for (const [localName, event] of Object.entries(definition.events)) {
      const fn = (handler as Record<string, unknown>)[localName];
      if (typeof fn === "function") {
        const handle = fn.bind(handler) as EventFunction;
        this.#planned.push({ definition, localName, handle, queue, concurrency: options.concurrency });
      } else if (!options.partial) {
        this.#setupError ??= new SetupError("TSM_ERR_EVENT_HANDLER", definition.typeName, localName, event.topic);
      }
    }
  }

  /** A typed publisher; one made before start is listed among the service's endpoints. */
  publisher<E extends EventsDefinition>(definition: E, beforeStart: boolean): PublisherOf<E> {
    if (beforeStart) {
      this.#publishedDefinitions.add(definition);
      for (const [localName, event] of Object.entries(definition.events))
        this.#published.set(event.topic, eventEndpoint(definition, localName, { publisher: "true" }));
    }
    return createPublisher(definition, {
      broker: () => this.#ready(),
      tracing: this.#options.tracing,
      callSignal: this.#options.callSignal,
    });
  }

  /** The events definitions it subscribes to or publishes (before start), each once. */
  definitions(): EventsDefinition[] {
    return [...new Set([...this.#planned.map((p) => p.definition), ...this.#publishedDefinitions])];
  }

  /** The events it subscribes to and publishes, as registry endpoints (go-micro lists subscribers likewise). */
  endpoints(): Endpoint[] {
    const subscribed = this.#planned.map(({ definition, localName, queue }) =>
      eventEndpoint(definition, localName, {
        subscriber: "true",
        ...(queue === undefined ? {} : { queue }),
        // Which broker it listens on: a publisher on another one is told (see UnheardTopics).
        ...(this.#broker ? { broker: this.#broker.kind } : {}),
      }),
    );
    return [...subscribed, ...this.#published.values()];
  }

  /** Starts the broker, so an unreachable one fails the service's start, and subscribes. */
  async start(): Promise<void> {
    await this.#ready();
    const broker = this.broker;
    for (const planned of this.#planned) {
      const event = planned.definition.events[planned.localName]!;
      const handler = eventBrokerHandler(event, planned.handle, {
        logger: this.#options.logger,
        system: broker.kind,
        fileDescriptorSet: planned.definition.fileDescriptorSet,
        tracing: this.#options.tracing,
      });
      this.#subscriptions.push(
        await broker.subscribe(event.topic, handler, {
          ...(planned.queue === undefined ? {} : { queue: planned.queue }),
          ...(planned.concurrency === undefined ? {} : { concurrency: planned.concurrency }),
        }),
      );
    }
  }

  /**
   * Ends the service's subscriptions: with `graceMs` (the service's stop), events received but not
   * started are not, and handlers in flight get that long; without, every event received is handled.
   */
  async unsubscribe(graceMs?: number): Promise<void> {
    const subscriptions = this.#subscriptions.splice(0);
    await Promise.all(subscriptions.map((s) => s.unsubscribe(graceMs === undefined ? {} : { graceMs })));
  }

  /** Stops the broker if the service made it and it was started; a handed-in one keeps running. */
  async release(): Promise<void> {
    await this.unsubscribe();
    if (this.#options.handed || !this.#started || !this.#broker) return;
    await this.#started.catch(() => undefined);
    await this.#broker.stop();
  }

  /** The broker, started once (after the registry the http broker reads). */
  #ready(): Promise<Broker> {
    const broker = this.broker;
    this.#started ??= this.#options
      .registryReady()
      .then(() => broker.start())
      .then(() => {
        this.#running = true;
      });
    return this.#started.then(() => broker);
  }
}

/** One event as a registry endpoint: named `Events.localName`, its message as the request, its topic in the metadata. */
function eventEndpoint(
  definition: EventsDefinition,
  localName: string,
  metadata: Readonly<Record<string, string>>,
): Endpoint {
  const event = definition.events[localName]!;
  const container = definition.typeName.slice(definition.typeName.lastIndexOf(".") + 1);
  return {
    name: `${container}.${localName}`,
    request: event.messageType,
    response: "",
    metadata: { ...metadata, topic: event.topic, events: definition.typeName },
  };
}
