import { createFileRegistry, fromBinary, type FileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import {
  type ClientTransport,
  Code,
  createReflectionClient,
  type HttpRule,
  isTsmicroError,
  type Logger,
  type Node,
  type Registry,
  type Service,
  type ServiceDefinition,
  TsmicroError,
} from "@tsmicro/runtime";
import { isRoutable } from "./http-methods.js";
import {
  createRouter,
  isAnswerTooLarge,
  endpointsFingerprint,
  endpointsSignature,
  type RouteConflict,
  type RouteDefinition,
  type Router,
} from "@tsmicro/runtime/internal";
import { gatewayMethods, type GatewayMethod } from "./gateway-method.js";

/** A route of the table: one `google.api.http` binding of one method. */
export interface GatewayRoute extends RouteDefinition {
  readonly target: GatewayMethod;
  readonly rule: HttpRule;
}

/** A registered service as the gateway knows it: its RPCs, with descriptors. */
export interface BackendService {
  readonly name: string;
  /** The proto services it serves. */
  readonly typeNames: readonly string[];
  readonly methods: readonly GatewayMethod[];
  /** The descriptors of each proto service, by type name. */
  readonly descriptors: ReadonlyMap<string, FileRegistry>;
}

/** Options of createBackendCatalogue. */
export interface BackendCatalogueOptions {
  readonly registry: Registry;
  readonly transport: ClientTransport;
  readonly logger: Logger;
  /** Definitions known at build time: their embedded descriptors are used instead of asking a node. */
  readonly definitions?: readonly ServiceDefinition[];
  /** Refuse a service whose routes collide with others (`--strict_routes`) instead of warning. */
  readonly strictRoutes?: boolean;
  /** Registry services the gateway never routes to (itself, web services). */
  readonly ignore?: (service: Service) => boolean;
}

/** The services behind the gateway and their route table, kept current by a registry watch. */
export interface BackendCatalogue {
  /** Loads every registered service, then follows the registry. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The current route table of `google.api.http` bindings. */
  readonly router: Router<GatewayRoute>;
  /** A service by registry name, loading it now if the watch has not brought it yet. */
  service(name: string): Promise<BackendService | undefined>;
  /** Every loaded service. */
  services(): BackendService[];
  /** Registered services whose routes could not be loaded (no node answered reflection), with why. */
  unloaded(): ReadonlyMap<string, string>;
  /** Whether `name` is registered with HTTP nodes only (a web service, for `--handler web`), as last read. */
  isWebService(name: string): boolean;
}

/**
 * Discovers backends: for each registered gRPC service it learns the proto services from the
 * registry's endpoints (or server reflection) and their descriptors from the generated
 * definitions it was given or, failing that, from a node's server reflection. A service that
 * registers later is loaded when the watch reports it, so the gateway routes it without a
 * restart. A service whose nodes all leave keeps its routes, which then answer 503, unless
 * a live service's route claims the same request: that one serves it until the nodes come back.
 */
class RegistryBackendCatalogue implements BackendCatalogue {
  readonly #registry: Registry;
  readonly #transport: ClientTransport;
  readonly #logger: Logger;
  readonly #strictRoutes: boolean;
  readonly #ignore: ((service: Service) => boolean) | undefined;
  readonly #known: Map<string, ServiceDefinition>;
  readonly #services = new Map<string, BackendService & { signature: string }>();
  readonly #loading = new Map<string, Promise<void>>();
  /** The load that follows the running one of a service, for what changed while that one ran. */
  readonly #reloadAfter = new Map<string, Promise<void>>();
  /** How many loads in a row failed, per loaded service, for the wait before the next one. */
  readonly #failedLoads = new Map<string, number>();
  readonly #missing = new Map<string, number>();
  /** Why each registered service that has no routes could not be loaded. */
  readonly #unloaded = new Map<string, string>();
  /** Loaded services whose nodes have all left: their routes stay (answering 503) but yield to a live service's. */
  readonly #down = new Set<string>();
  /** Registered services whose nodes all serve HTTP: not routed, but named so in a 404 (see isWebService). */
  readonly #web = new Set<string>();
  #router = createRouter<GatewayRoute>([]);
  #watcher: ReturnType<Registry["watch"]> | undefined;
  #stopped = false;

  constructor(options: BackendCatalogueOptions) {
    this.#registry = options.registry;
    this.#transport = options.transport;
    this.#logger = options.logger;
    this.#strictRoutes = options.strictRoutes ?? false;
    this.#ignore = options.ignore;
    this.#known = new Map(options.definitions?.map((d) => [d.typeName, d]));
  }

  get router(): Router<GatewayRoute> {
    return this.#router;
  }

  start(): Promise<void> {
    return this.#watchAndLoad();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#watcher?.stop();
    await Promise.allSettled([...this.#loading.values(), ...this.#reloadAfter.values()]);
  }

  async service(name: string): Promise<BackendService | undefined> {
    // A name seen missing is not looked up again for a second, so requests for unknown
    // services cost no registry round trip each (the watch still brings it when it comes).
    if (!this.#services.has(name) && (this.#missing.get(name) ?? 0) <= Date.now()) {
      await this.#reload(name);
      if (!this.#services.has(name)) {
        if (this.#missing.size >= 10_000) this.#missing.clear();
        this.#missing.set(name, Date.now() + 1_000);
      }
    }
    return this.#services.get(name);
  }

  services(): BackendService[] {
    return [...this.#services.values()];
  }

  unloaded(): ReadonlyMap<string, string> {
    return this.#unloaded;
  }

  isWebService(name: string): boolean {
    return this.#web.has(name);
  }

  #routesOf(list: Iterable<BackendService>): GatewayRoute[] {
    // The last route registered that matches wins: live services after those whose nodes all left.
    return [...list]
      .sort((a, b) => Number(this.#down.has(b.name)) - Number(this.#down.has(a.name)) || a.name.localeCompare(b.name))
      .flatMap((service) =>
        service.methods.flatMap((target) =>
          target.definition.http.map((rule) => ({
            method: rule.method,
            path: rule.path,
            // Two services may serve one proto (two versions of one): a conflict names the service too.
            name: `${target.rpc} of service ${service.name}`,
            target,
            rule,
          })),
        ),
      );
  }

  #rebuild(candidate: BackendService & { signature: string }): void {
    const next = new Map(this.#services);
    next.set(candidate.name, candidate);
    const table = createRouter(this.#routesOf(next.values()));
    const fresh = table.conflicts.filter((c) => !this.#router.conflicts.some((old) => sameConflict(old, c)));
    if (this.#strictRoutes && fresh.length > 0) {
      // Every conflict in one line, so one restart after fixing them all, not one per conflict.
      const conflicts = fresh.length === 1 ? "route conflict" : `${fresh.length} route conflicts`;
      this.#logger.error(
        { backend: candidate.name },
        `${conflicts}, service not routed (--strict_routes): ${numbered(fresh.map((c) => c.message))}`,
      );
      return;
    }
    for (const conflict of fresh) this.#logger.warn({ backend: candidate.name }, `route conflict: ${conflict.message}`);
    this.#services.set(candidate.name, candidate);
    this.#router = table;
  }

  /** Notes whether a loaded service has live nodes, and re-orders the routes when that changed. */
  async #checkLive(name: string): Promise<void> {
    if (!this.#services.has(name)) return;
    const merged = mergeVersions(name, await this.#registry.getService(name).catch(() => []));
    const live = merged !== undefined && grpcNodes(merged).length > 0;
    if (live !== this.#down.has(name)) return;
    if (live) this.#down.delete(name);
    else this.#down.add(name);
    if (!this.#stopped) this.#router = createRouter(this.#routesOf(this.#services.values()));
  }

  /** The descriptors of `typeName`, from this process's own definitions or by reflection from the first of `nodes` that answers (named). */
  async #descriptorsFor(typeName: string, nodes: readonly Node[]): Promise<{ files: FileRegistry; node?: Node }> {
    const definition = this.#known.get(typeName);
    if (definition) {
      const bytes = Buffer.from(definition.fileDescriptorSet, "base64");
      return { files: createFileRegistry(fromBinary(FileDescriptorSetSchema, bytes)) };
    }
    let lastError: unknown;
    for (const node of nodes) {
      try {
        return { files: await createReflectionClient(this.#transport, node.address).descriptorsOf(typeName), node };
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError ?? new Error(`no node to ask for ${typeName}`);
  }

  async #typeNamesOf(service: Service): Promise<string[]> {
    const fromEndpoints = [...new Set(service.endpoints.map((e) => e.metadata.service).filter(isString))];
    if (fromEndpoints.length > 0) return fromEndpoints.sort();
    let lastError: unknown;
    for (const node of grpcNodes(service)) {
      try {
        const listed = await createReflectionClient(this.#transport, node.address).listServices();
        return listed.filter((name) => !name.startsWith("grpc.")).sort();
      } catch (error) {
        lastError = error;
      }
    }
    // No node answered: the service is not loaded (rather than loaded with no routes).
    throw lastError ?? new Error(`no node of ${service.name} to list its services`);
  }

  async #load(name: string): Promise<void> {
    const versions = await this.#registry.getService(name);
    const merged = mergeVersions(name, versions);
    this.#web.delete(name);
    if (!merged || merged.nodes.length === 0 || this.#ignore?.(merged)) return;
    if (grpcNodes(merged).length === 0) {
      if (merged.nodes.some((node) => node.metadata.protocol === "http")) this.#web.add(name);
      return;
    }
    // The descriptor's fingerprint changes with any edit of the proto, such as a route or a field.
    const listed = endpointsSignature(merged.endpoints);
    const current = this.#services.get(name);
    if (current && current.signature === listed && listed !== "") return;
    const typeNames = await this.#typeNamesOf(merged);
    const descriptors = new Map<string, FileRegistry>();
    // A rolling deploy runs two builds under one listing, that of the node registered last: the
    // descriptors come from a node of that build, so none of the other is taken for it.
    const fingerprint = endpointsFingerprint(merged.endpoints);
    const nodes = [...grpcNodes(merged)].sort(
      (a, b) => Number(b.metadata.descriptors === fingerprint) - Number(a.metadata.descriptors === fingerprint),
    );
    let answered: Node | undefined;
    for (const typeName of typeNames) {
      const { files, node } = await this.#descriptorsFor(typeName, nodes);
      descriptors.set(typeName, files);
      answered ??= node;
    }
    const methods = typeNames.flatMap((typeName) => gatewayMethods(name, typeName, descriptors.get(typeName)!));
    if (this.#stopped) return;
    // Descriptors from a node of another build are what it serves, not what is listed: kept until
    // the next change of the listing or of its nodes, which loads again.
    const other = answered?.metadata.descriptors;
    const signature = other === undefined || other === fingerprint ? listed : `build ${other}`;
    this.#rebuild({ name, typeNames, methods, descriptors, signature });
    this.#logger.info({ backend: name, methods: methods.length }, `gateway routes ${name}`);
    for (const method of methods)
      for (const rule of method.definition.http.filter((r) => !isRoutable(r.method)))
        this.#logger.warn(
          { backend: name, rpc: method.rpc },
          `route ${rule.method} ${rule.path} of ${method.rpc} is never served: Node's HTTP server takes no ${rule.method} ` +
            "requests (only the methods of http.METHODS); bind the method with another one, such as POST with a custom verb",
        );
  }

  #reload(name: string): Promise<void> {
    const running = this.#loading.get(name);
    if (running) {
      // What changed since that load read the registry (a node that left as it loaded) is read
      // by one more load after it, never by none.
      let again = this.#reloadAfter.get(name);
      if (!again) {
        again = running.then(() => {
          this.#reloadAfter.delete(name);
          return this.#stopped ? undefined : this.#reload(name);
        });
        this.#reloadAfter.set(name, again);
      }
      return again;
    }
    const task = this.#load(name)
      .then(
        () => {
          this.#unloaded.delete(name);
          this.#failedLoads.delete(name);
        },
        (error: unknown) => {
          // A node that is down is no bug: its reason in one line, no stack.
          const reason = error instanceof Error ? error.message : String(error);
          // One loaded before keeps its routes, and is loaded again shortly: no registry event may
          // come to bring the build the registry lists (a reflection that timed out under load).
          if (!this.#services.has(name)) this.#unloaded.set(name, reason);
          else this.#retryLoad(name);
          if (isAnswerTooLarge(error))
            this.#logger.warn(
              { backend: name },
              `could not load service ${name}: ${reason}; its descriptors come by server reflection, in one message: ` +
                "raise --client_max_recv_msg_size above their size to route it",
            );
          else if (isTsmicroError(error))
            this.#logger.warn({ backend: name }, `could not load service ${name}: ${reason}`);
          else this.#logger.warn({ err: error, backend: name }, `could not load service ${name}`);
        },
      )
      .finally(() => this.#loading.delete(name));
    this.#loading.set(name, task);
    return task;
  }

  /** Loads a loaded service again after a failed load: 1 s, then twice as long each time, at most 30 s. */
  #retryLoad(name: string): void {
    const failures = (this.#failedLoads.get(name) ?? 0) + 1;
    this.#failedLoads.set(name, failures);
    const delayMs = Math.min(1_000 * 2 ** (failures - 1), 30_000);
    setTimeout(() => {
      if (!this.#stopped) void this.#reload(name);
    }, delayMs).unref();
  }

  async #follow(): Promise<void> {
    if (!this.#watcher) return;
    try {
      for await (const event of this.#watcher) {
        // A node leaving keeps the routes (once none is left); the nodes left may list another build,
        // as the old nodes of a rolling deploy leave, which is loaded then.
        const name = event.service.name;
        void this.#reload(name).then(() => this.#checkLive(name));
      }
    } catch (error) {
      if (!this.#stopped) this.#logger.warn({ err: error }, "registry watch ended");
    }
    // The registry ended the watch (etcd came back empty): watch again and read every service afresh.
    if (!this.#stopped) setTimeout(() => void this.#watchAndLoad().catch(() => undefined), 1_000).unref();
  }

  /** Watches the registry and loads every service it lists. */
  async #watchAndLoad(): Promise<void> {
    if (this.#stopped) return;
    this.#watcher = this.#registry.watch();
    void this.#follow();
    const listed = await this.#registry.listServices();
    await Promise.all(
      [...new Set([...listed.map((service) => service.name), ...this.#services.keys()])].map((name) =>
        this.#reload(name),
      ),
    );
  }
}

/** The catalogue of the services `options.registry` lists (see RegistryBackendCatalogue); start() loads them. */
export function createBackendCatalogue(options: BackendCatalogueOptions): BackendCatalogue {
  return new RegistryBackendCatalogue(options);
}

/** One message, `(1) a; (2) b` for several. */
function numbered(messages: readonly string[]): string {
  return messages.length === 1 ? messages[0]! : messages.map((m, i) => `(${i + 1}) ${m}`).join("; ");
}

function sameConflict(a: RouteConflict<GatewayRoute>, b: RouteConflict<GatewayRoute>): boolean {
  return a.method === b.method && a.shape === b.shape && a.serving.name === b.serving.name;
}

function grpcNodes(service: Service): Service["nodes"] {
  return service.nodes.filter((node) => (node.metadata.protocol ?? "grpc") === "grpc");
}

function mergeVersions(name: string, versions: readonly Service[]): Service | undefined {
  const [first] = versions;
  if (!first) return undefined;
  return {
    name,
    version: first.version,
    metadata: first.metadata,
    endpoints: versions.flatMap((v) => v.endpoints),
    nodes: versions.flatMap((v) => v.nodes),
  };
}

function isString(value: string | undefined): value is string {
  return value !== undefined && value !== "";
}

/**
 * Finds a method of a service by `Method`, `Service.Method` or `pkg.Service.Method`; the method
 * part also matches in lowerCamel or snake_case (`say_hello`, `sayHello`), as `micro api` paths do.
 */
export function findMethod(backend: BackendService, spec: string): GatewayMethod | undefined {
  const parts = spec.replace(/^\//, "").replace(/\//g, ".").split(".");
  const methodName = fold(parts.at(-1) ?? "");
  const serviceName = parts.slice(0, -1).join(".");
  const found = backend.methods.filter(
    (m) => fold(m.desc.name) === methodName && (serviceName === "" || isOfService(m, serviceName)),
  );
  // Two packages' services of one name (or a bare method two services have): which one is not ours to guess.
  if (found.length > 1)
    throw new TsmicroError(
      Code.INVALID_ARGUMENT,
      `${spec} is ambiguous on ${backend.name}: ${found.map((m) => m.rpc).join(" and ")} both match; name one in full, such as ${found[0]!.rpc}`,
    );
  return found[0];
}

/** Whether a method is of the proto service `name` names: its full name, or its own in any case, `_` or `-` aside. */
export function isOfService(method: GatewayMethod, name: string): boolean {
  return method.desc.parent.typeName === name || fold(method.desc.parent.name) === fold(name);
}

function fold(name: string): string {
  return name.toLowerCase().replace(/[_-]/g, "");
}
