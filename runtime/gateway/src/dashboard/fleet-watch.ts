import {
  type ClientTransport,
  codeName,
  createClient,
  createDirectCaller,
  isTsmicroError,
  type Logger,
  type Registry,
  type Service,
} from "@tsmicro/runtime";
import {
  HealthCheckResponse_ServingStatus,
  HealthDefinition,
  httpNodeHealth,
  isHttpNode,
  redactValue,
} from "@tsmicro/runtime/internal";
import { onlyBrokerSubscriptions } from "../gateway-backends.js";
import type { FleetEvent, ServiceView } from "./dashboard-api.js";
import { MethodStatsBook } from "./method-stats.js";

/** Options of FleetWatch. */
export interface FleetWatchOptions {
  readonly registry: Registry;
  readonly transport: ClientTransport;
  readonly logger: Logger;
  /** This process's own metrics page (its breakers), when it records metrics. */
  readonly ownMetrics?: () => Promise<string | undefined>;
  /** How often charts and health are read while a page is open. */
  readonly tickMs?: number;
  /** Which registered services the page shows (a gateway's `--namespace`); all without. */
  readonly shows?: (name: string) => boolean;
}

/** A health check waits this long for a node. */
const healthTimeoutMs = 1_000;

/**
 * Follows the registry for the pages that are open: a registry change is sent at once (after a
 * short settling delay, so a burst of changes is one message), and every tick the nodes' health
 * and `/metrics` are read. Nothing is watched or read while no page listens.
 */
export class FleetWatch {
  readonly #options: FleetWatchOptions;
  readonly #listeners = new Set<(event: FleetEvent) => void>();
  readonly #stats = new MethodStatsBook();
  readonly #health = new Map<string, string>();
  #services: readonly Service[] = [];
  #sent = "";
  #watcher: { stop(): void } | undefined;
  #ticker: NodeJS.Timeout | undefined;
  #refresh: Promise<void> | undefined;
  /** A tick is waiting or running: a slow one (nodes that do not answer) makes the next ticks skip, not pile up. */
  #ticking = false;
  /** Why the registry could not be read, while it cannot; told to the log and the page once per outage. */
  #failure: string | undefined;
  #pending: NodeJS.Timeout | undefined;

  constructor(options: FleetWatchOptions) {
    this.#options = options;
  }

  /** Adds a listener, which gets the current services at once; returns its removal. */
  subscribe(listener: (event: FleetEvent) => void): () => void {
    this.#listeners.add(listener);
    if (this.#listeners.size === 1) this.#begin();
    else if (this.#sent !== "") listener({ type: "services", services: JSON.parse(this.#sent) as ServiceView[] });
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#end();
    };
  }

  /** The services as the page shows them, read now. */
  async services(): Promise<ServiceView[]> {
    await this.#load();
    // While a page listens, the ticks keep every node's health fresh; without one, what is known may
    // be from a page closed long ago (a node since killed would still read SERVING): ask them all.
    await this.#checkHealth(this.#listeners.size === 0);
    return this.#views();
  }

  /** Stops following the registry. */
  stop(): void {
    this.#listeners.clear();
    this.#end();
  }

  #begin(): void {
    const watcher = this.#options.registry.watch();
    this.#watcher = watcher;
    void (async () => {
      try {
        for await (const _ of watcher) this.#soon();
      } catch (error) {
        this.#options.logger.warn({ err: error }, "dashboard: the registry watch ended");
      }
    })();
    this.#sent = "";
    this.#failure = undefined;
    void this.#update(true);
    const tickMs = this.#options.tickMs ?? 1_000;
    this.#ticker = setInterval(() => void this.#update(true), tickMs);
    this.#ticker.unref();
  }

  #end(): void {
    this.#watcher?.stop();
    this.#watcher = undefined;
    clearInterval(this.#ticker);
    clearTimeout(this.#pending);
    this.#ticker = undefined;
  }

  /** A registry change: the services are sent shortly, with the health of new nodes. */
  #soon(): void {
    clearTimeout(this.#pending);
    this.#pending = setTimeout(() => void this.#update(false), 50);
    this.#pending.unref();
  }

  /** Reads the registry (and on a tick health and charts), then sends what changed; one at a time. */
  #update(tick: boolean): Promise<void> {
    if (tick && this.#ticking) return this.#refresh ?? Promise.resolve();
    if (tick) this.#ticking = true;
    const run = async () => {
      try {
        await this.#load();
        await this.#checkHealth(tick);
        this.#emitServices();
        if (tick) {
          await this.#stats.read(this.#services, this.#options.ownMetrics ?? (async () => undefined));
          this.#emit({ type: "stats", methods: this.#stats.methods(), breakers: this.#stats.breakers() });
        }
        this.#registryAnswered(undefined);
      } catch (error) {
        // The page's banner says the services below are as last seen: a page opened during the outage
        // gets them too, not an empty list beside the routes they serve.
        this.#emitServices();
        this.#registryAnswered(error instanceof Error ? error.message : String(error));
      } finally {
        if (tick) this.#ticking = false;
      }
    };
    this.#refresh = (this.#refresh ?? Promise.resolve()).then(run);
    return this.#refresh;
  }

  #registryAnswered(failure: string | undefined): void {
    if (failure === this.#failure) return;
    if (failure) this.#options.logger.warn({ reason: failure }, "dashboard: cannot read the registry");
    else this.#options.logger.info({}, "dashboard: the registry answers again");
    this.#failure = failure;
    this.#emit({ type: "registry", error: failure ?? null });
  }

  async #load(): Promise<void> {
    const { registry } = this.#options;
    const shows = this.#options.shows ?? (() => true);
    const names = [...new Set((await registry.listServices()).map((s) => s.name))].filter(shows).sort();
    const versions = await Promise.all(names.map((name) => registry.getService(name)));
    // The http broker's subscriptions show as events of the services that subscribe, not as a service.
    this.#services = versions.flat().filter((service) => service.nodes.length > 0 && !onlyBrokerSubscriptions(service));
  }

  /** Asks each node for its health: new nodes always, every node on a tick. */
  async #checkHealth(all: boolean): Promise<void> {
    const nodes = this.#services.flatMap((service) => service.nodes);
    const live = new Set(nodes.map((node) => node.id));
    for (const id of this.#health.keys()) if (!live.has(id)) this.#health.delete(id);
    await Promise.all(
      nodes
        .filter((node) => all || !this.#health.has(node.id))
        .map(async (node) =>
          this.#health.set(
            node.id,
            isHttpNode(node) ? await httpNodeHealth(node.address, healthTimeoutMs) : await this.#healthOf(node.address),
          ),
        ),
    );
  }

  async #healthOf(address: string): Promise<string> {
    const caller = createDirectCaller({
      transport: this.#options.transport,
      address,
      requestTimeoutMs: healthTimeoutMs,
    });
    try {
      const { status } = await createClient(HealthDefinition, caller).check({ service: "" });
      return HealthCheckResponse_ServingStatus[status] ?? String(status);
    } catch (error) {
      return isTsmicroError(error) ? codeName(error.code) : "UNAVAILABLE";
    }
  }

  #views(): ServiceView[] {
    return this.#services.map((service) => ({
      name: service.name,
      version: service.version,
      nodes: service.nodes.map((node) => ({
        id: node.id,
        address: node.address,
        metadata: redactValue(node.metadata) as Record<string, unknown>,
        health: this.#health.get(node.id) ?? "UNKNOWN",
      })),
      endpoints: service.endpoints.map(({ name, request, response }) => ({ name, request, response })),
    }));
  }

  #emitServices(): void {
    const services = this.#views();
    const text = JSON.stringify(services);
    if (text === this.#sent) return;
    this.#sent = text;
    this.#emit({ type: "services", services });
  }

  #emit(event: FleetEvent): void {
    for (const listener of this.#listeners) listener(event);
  }
}
