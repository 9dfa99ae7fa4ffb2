/**
 * What the dashboard's server sends its page, as JSON: the types both sides are written
 * against (the page imports them from here, so they cannot drift). No imports: the page's
 * bundle takes nothing else from the server's code.
 */

/** A node as the page shows it: metadata without credentials, and its grpc.health.v1 status. */
export interface NodeView {
  readonly id: string;
  readonly address: string;
  readonly metadata: Readonly<Record<string, unknown>>;
  /** `SERVING`, `NOT_SERVING`, …, or the code (`UNAVAILABLE`) when it could not be asked; `UNKNOWN` until asked. */
  readonly health: string;
}

/** A registered service at one version. */
export interface ServiceView {
  readonly name: string;
  readonly version: string;
  readonly nodes: readonly NodeView[];
  readonly endpoints: readonly { readonly name: string; readonly request: string; readonly response: string }[];
}

/** One point of a method's chart: calls per second, failed calls per second, mean latency. */
export interface StatsPoint {
  /** Epoch milliseconds. */
  readonly t: number;
  readonly rate: number;
  readonly errors: number;
  /** Mean handling time over the interval, in milliseconds; 0 without calls. */
  readonly latencyMs: number;
}

/**
 * A method's traffic over its chart's last minute (or the time it has been charted, when less),
 * which the chart's captions show: one point is a second, too short to read a rate from.
 */
export interface RecentStats {
  /** The seconds these figures cover: 60 once the method has been charted a minute. */
  readonly seconds: number;
  /** Calls per second. */
  readonly rate: number;
  /** Failed calls per second. */
  readonly errors: number;
  /** Mean handling time of those calls in milliseconds; null when there were none. */
  readonly latencyMs: number | null;
}

/** A method's recent points, newest last, and their last minute's figures. */
export interface MethodStats {
  readonly service: string;
  /** `pkg.Service/Method`. */
  readonly method: string;
  readonly points: readonly StatsPoint[];
  readonly recent: RecentStats;
}

/** A circuit breaker some node (or the dashboard's own client) reports. */
export interface BreakerView {
  /** Where the breaker lives: a node id, or `dashboard`. */
  readonly at: string;
  readonly service: string;
  /** `pkg.Service/Method`, as a chart names it. */
  readonly method: string;
  readonly state: "closed" | "half-open" | "open";
}

/**
 * The events of `api/events`: `services` when the fleet changed, `stats` on every tick,
 * `registry` when the registry stops answering (`error` says why) or answers again (null).
 */
export type FleetEvent =
  | { readonly type: "services"; readonly services: readonly ServiceView[] }
  | { readonly type: "registry"; readonly error: string | null }
  | { readonly type: "stats"; readonly methods: readonly MethodStats[]; readonly breakers: readonly BreakerView[] };

/** `api/info`. */
export interface Info {
  /** The registry's kind: `local`, `etcd`, `memory`. */
  readonly registry: string;
  /** `open`, `token` (calls need the token) or `off`. */
  readonly calls: "open" | "token" | "off";
  /** Whether calls meet route rules that may need a JWT, which the page sends as `Authorization: Bearer`. */
  readonly jwt: boolean;
  /** Where the services' merged OpenAPI document is, relative to the page; null when not served. */
  readonly openApi: string | null;
}

/** A method of `api/services/:name`. */
export interface MethodView {
  /** `pkg.Service.Method`. */
  readonly rpc: string;
  readonly kind: "unary" | "server_streaming" | "client_streaming" | "bidi_streaming";
  readonly request: string;
  readonly response: string;
  /** Proto3 JSON examples with every field at its zero value. */
  readonly requestShape: unknown;
  readonly responseShape: unknown;
  /** `METHOD /path` of each google.api.http binding. */
  readonly routes: readonly string[];
}

/** An event a service subscribes to or publishes, as its registry endpoints list it (`tsmicro get service` prints the same). */
export interface EventView {
  /** `Events.localName`, such as `UserEvents.userCreated`. */
  readonly event: string;
  readonly topic: string;
  /** The event's message type, such as `user.v1.UserCreated`. */
  readonly message: string;
  readonly role: "subscribes" | "publishes";
  /** A subscription's queue group (one node of it gets each event); null when every node gets each, or for a publisher. */
  readonly queue: string | null;
  /** The broker a subscription listens on (`http`, `nats`, `memory`); null for a publisher. */
  readonly broker: string | null;
}

/** `api/services/:name`: the methods (by reflection on a node) and the events (from the registry). */
export interface ServiceDetails {
  readonly name: string;
  readonly methods: readonly MethodView[];
  readonly events: readonly EventView[];
  /**
   * Why a registered service shows no methods, as a sentence for the page: a web service (HTTP,
   * no gRPC), or one whose methods could not be read (`failed`); absent when its methods are listed.
   */
  readonly noMethods?: { readonly reason: string; readonly failed: boolean };
}

/** A route of `api/routes`. */
export interface RouteView {
  readonly method: string;
  readonly path: string;
  readonly rpc: string;
  readonly service: string;
}

/** The answer of `POST api/call` (a call that failed with a gRPC status is an answer too). */
export interface CallOutcome {
  /** `OK` or the gRPC code's name. */
  readonly status: string;
  readonly code: number;
  readonly latencyMs: number;
  /** The trace the call is part of; null with tracing off. */
  readonly traceId: string | null;
  readonly response?: unknown;
  readonly message?: string;
  /** A typed error's reason (its google.rpc.ErrorInfo), which `tsmicro call` prints after the message too. */
  readonly reason?: ErrorReasonView;
}

/** The google.rpc.ErrorInfo of a typed error: `USER_NOT_FOUND` of the enum `user.v1.UserErrorReason`, with its metadata. */
export interface ErrorReasonView {
  readonly reason: string;
  readonly domain: string;
  readonly metadata: Readonly<Record<string, string>>;
}
