/**
 * Service discovery, after go-micro's registry: services register their
 * nodes with a TTL and keep them alive with heartbeats; callers get, list
 * and watch them. Implementations: memory (tests, one process), local (the
 * default: processes on one machine share a folder, no server), etcd.
 */

/** One running instance of a service. */
export interface Node {
  /** Unique per instance, such as `greeter-7f3c…`. */
  readonly id: string;
  /** `host:port` the instance serves gRPC on. */
  readonly address: string;
  readonly metadata: Readonly<Record<string, string>>;
}

/** One method a service serves, for `tsmicro get service` and gateways. */
export interface Endpoint {
  /** `Service.Method`, as go-micro names endpoints. */
  readonly name: string;
  readonly request: string;
  readonly response: string;
  readonly metadata: Readonly<Record<string, string>>;
}

/** A service at one version with its nodes: go-micro's registry record. */
export interface Service {
  readonly name: string;
  readonly version: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly endpoints: readonly Endpoint[];
  readonly nodes: readonly Node[];
}

/** Options of one registration. */
export interface RegisterOptions {
  /** How long the registration lives without a heartbeat (re-register). */
  readonly ttlMs: number;
}

/** A change seen by a watcher. */
export interface RegistryEvent {
  readonly action: "create" | "update" | "delete";
  /** The service with the node(s) the event is about. */
  readonly service: Service;
}

/** A stream of registry changes; stop it to release its resources. */
export interface Watcher extends AsyncIterable<RegistryEvent> {
  stop(): void;
}

/** Options of a watch. */
export interface WatchOptions {
  /** Only events of this service. */
  readonly service?: string;
}

/** Service discovery. Every method but `watch` fails loudly when the backend cannot be reached. */
export interface Registry {
  /** `memory`, `local` or `etcd`. */
  readonly kind: string;
  /** Connects (and checks the backend is reachable); an unreachable backend rejects, naming the address. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Adds or refreshes the service's nodes; called again as the heartbeat. */
  register(service: Service, options: RegisterOptions): Promise<void>;
  /** Removes the service's nodes. */
  deregister(service: Service): Promise<void>;
  /** The service's versions with their live nodes; empty when none is registered. */
  getService(name: string): Promise<Service[]>;
  /** Every registered service (nodes may be omitted). */
  listServices(): Promise<Service[]>;
  watch(options?: WatchOptions): Watcher;
}

/** Default TTL and heartbeat interval, as go-micro's `--register_ttl` and `--register_interval` (seconds there, ms here). */
export const registryDefaults = { ttlMs: 30_000, intervalMs: 15_000 } as const;
