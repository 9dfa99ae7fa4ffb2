import {
  Agent,
  request as httpRequest,
  STATUS_CODES,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from "node:http";
import { connect, type Socket } from "node:net";
import { type Duplex, pipeline, Transform, type TransformCallback } from "node:stream";
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import {
  Code,
  createLogger,
  httpStatusOf,
  isTsmicroError,
  type Logger,
  type Node,
  type Registry,
  type Selector,
  type Service,
  type Strategy,
  TsmicroError,
  type Watcher,
} from "@tsmicro/runtime";
import { claimsMetadataKeys, createRegistrySelector } from "@tsmicro/runtime/internal";
import { type ErrorBody, errorResponse } from "./http-mapping.js";
import type { GuardedReply, GuardedRequest } from "./route-guard.js";
import { clientAddressOf, type ProxyTrust } from "./trusted-proxies.js";

/** Options of createWebProxy. */
export interface WebProxyOptions {
  /** Where services are found; the proxy starts it if needed and never stops it. */
  readonly registry: Registry;
  /** Prefix of service names: with `go.micro.web`, `/hello/...` goes to `go.micro.web.hello`. */
  readonly namespace?: string;
  /** How nodes of a service share requests; default round robin. */
  readonly strategy?: Strategy;
  /** How long to wait for a node's response head (or a WebSocket node's connection); then 504. Default 30 s. */
  readonly timeoutMs?: number;
  /** How many other nodes to try when a node refuses the connection (nothing was sent, so any request may go again). Default 2. */
  readonly retries?: number;
  /** How long a node that refused a connection is left out. Default 5 s. */
  readonly ejectMs?: number;
  /** The largest request body passed on, in bytes (`--body_limit`); a larger one is answered 413. Default: no limit. */
  readonly bodyLimit?: number;
  readonly logger?: Logger;
}

/** A reverse proxy from the gateway to web services, for HTTP and WebSocket; go-micro's `micro api --handler=web`. */
export interface WebProxy {
  /** Connects to the registry; handle and upgrade also do it on first use. */
  start(): Promise<void>;
  /**
   * Proxies one request to a node of the service its first path segment
   * names; resolves when the exchange is over, never rejects. An error it
   * answers itself (no node, none reachable) has its body passed through `details`. `named`
   * hears the route template of a request whose first segment names a registered web service,
   * `/{segment}/*`: a bounded set of names to count and trace requests under. `headers` go to
   * the node with the request (the verified claims, see claimsHeaders).
   */
  handle(
    request: IncomingMessage,
    response: ServerResponse,
    details?: ErrorBodyDetails,
    named?: (template: string) => void,
    headers?: ClaimsHeaders,
  ): Promise<void>;
  /** Tunnels a WebSocket (any `Upgrade`) request to a node the same way: the server's `upgrade` listener. */
  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer, headers?: ClaimsHeaders): void;
  /** Closes pooled connections and cuts open tunnels. */
  stop(): Promise<void>;
}

/**
 * Headers the gateway itself sets on a proxied request: the verified claims of its token,
 * `x-jwt-sub` and `x-jwt-claims`, as the rpc handler forwards them as metadata. A client's own
 * headers of those names are dropped, with or without them.
 */
export type ClaimsHeaders = Readonly<Record<string, string>>;

/** The request headers only the gateway sets (see ClaimsHeaders). */
const claimsHeaderNames = new Set<string>(Object.values(claimsMetadataKeys));

/** What the gateway adds to an error body it answers with (the trace's `RequestInfo`). */
export type ErrorBodyDetails = (body: ErrorBody) => ErrorBody;

/** Headers meaningful only to one connection (RFC 9110 section 7.6.1), never forwarded. */
const hopByHop = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** Set by the proxy itself, so a client's own values are replaced (X-Forwarded-For is appended to). */
const forwardedHeaders = new Set(["x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"]);

/** A service name a path segment may give: letters, digits, `.`, `_`, `-`, not starting with a dot. */
const serviceSegment = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/**
 * The service a request path names, as go-micro's path resolver: the first
 * segment, prefixed with `namespace.` when a namespace is set. Undefined
 * when the path names none (`/`, an empty or malformed segment). The path
 * itself is proxied unchanged, as go-micro's web handler does.
 */
export function serviceFromPath(url: string, namespace?: string): string | undefined {
  let path = url.split("?", 1)[0] ?? "";
  if (!path.startsWith("/")) {
    try {
      path = new URL(url).pathname;
    } catch {
      return undefined;
    }
  }
  const raw = path.slice(1).split("/", 1)[0] ?? "";
  let segment: string;
  try {
    segment = decodeURIComponent(raw);
  } catch {
    return undefined;
  }
  if (!serviceSegment.test(segment)) return undefined;
  return namespace ? `${namespace}.${segment}` : segment;
}

/**
 * Creates the web proxy: the first path segment names the service, a node
 * serving HTTP (`metadata.protocol === "http"`) is picked by the registry
 * selector, and method, path, query, headers and body stream through.
 * Failures answer JSON `{code, message, details}` with the gRPC code:
 * unknown service 404, no HTTP node or every node refusing 503, no
 * response head within `timeoutMs` 504.
 */
class RegistryWebProxy implements WebProxy {
  readonly #registry: Registry;
  readonly #namespace: string | undefined;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #bodyLimit: number;
  readonly #logger: Logger;
  readonly #selector: Selector;
  readonly #agent = new Agent({ keepAlive: true });
  readonly #tunnels = new Set<Duplex>();
  // Services seen with an HTTP node: once known, having no node is 503 (it may come back), not 404.
  readonly #known = new Set<string>();
  // Services seen with gRPC nodes only, whose 404 was logged once.
  readonly #grpcOnly = new Set<string>();
  #ready: Promise<void> | undefined;
  /** The listing of web services under way, shared by the 404s waiting for it (see #webServices). */
  #listing: Promise<readonly string[]> | undefined;

  constructor(options: WebProxyOptions) {
    this.#registry = options.registry;
    this.#namespace = options.namespace;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#retries = options.retries ?? 2;
    this.#bodyLimit = options.bodyLimit ?? Infinity;
    this.#logger = options.logger ?? createLogger({ service: "web-proxy" });
    this.#selector = createRegistrySelector({
      registry: httpNodesOnly(options.registry),
      ...(options.strategy ? { strategy: options.strategy } : {}),
      ...(options.ejectMs !== undefined ? { ejectMs: options.ejectMs } : {}),
    });
  }

  start(): Promise<void> {
    this.#ready ??= Promise.all([this.#registry.start(), this.#selector.start()]).then(() => undefined);
    return this.#ready;
  }

  handle(
    request: IncomingMessage,
    response: ServerResponse,
    details: ErrorBodyDetails = asIs,
    named?: (template: string) => void,
    headers: ClaimsHeaders = {},
  ): Promise<void> {
    return this.#route(request, response, details, named, headers).catch((error: unknown) => {
      this.#logger.error({ err: error, url: request.url }, "web proxy failed");
      const failed = new TsmicroError(Code.INTERNAL, "the gateway failed to proxy the request; see its log");
      answer(response, failed, details);
    });
  }

  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer, headers: ClaimsHeaders = {}): void {
    // An unhandled error on a raw socket would end the process.
    socket.on("error", () => socket.destroy());
    this.#tunnels.add(socket);
    socket.once("close", () => this.#tunnels.delete(socket));
    this.#tunnel(request, socket, head, headers).catch((error: unknown) => {
      this.#logger.error({ err: error, url: request.url }, "web proxy tunnel failed");
      answerRaw(socket, new TsmicroError(Code.INTERNAL, "the gateway failed to proxy the request; see its log"));
    });
  }

  async stop(): Promise<void> {
    for (const socket of this.#tunnels) socket.destroy();
    this.#tunnels.clear();
    this.#agent.destroy();
    await this.#selector.stop();
  }

  /** The service a request goes to, or the error to answer with. */
  async #serviceOf(request: IncomingMessage): Promise<string | TsmicroError> {
    const url = request.url ?? "/";
    const service = serviceFromPath(url, this.#namespace);
    if (service === undefined) {
      return new TsmicroError(
        Code.NOT_FOUND,
        `no service named in path ${url.split("?", 1)[0]}: the first path segment names the service, as /{service}/...` +
          webServicesHint(await this.#webServices(), this.#namespace ?? ""),
      );
    }
    if (this.#known.has(service)) return service;
    let nodes: Node[];
    try {
      await this.start();
      nodes = (await this.#registry.getService(service)).flatMap((s) => s.nodes);
    } catch (error) {
      this.#logger.warn({ err: error, backend: service }, "registry lookup failed");
      return new TsmicroError(Code.UNAVAILABLE, `cannot look up service ${service}: the registry is unreachable`);
    }
    // A service registered with gRPC nodes only is said alike (what runs behind the gateway is not the client's to learn), and logged.
    // The broker's subscriptions are no service of anyone's to route: answered as not registered, unlogged.
    const served = nodes.filter((node) => !isBrokerSubscription(node));
    if (served.length > 0 && !served.some(servesHttp) && !this.#grpcOnly.has(service)) {
      if (this.#grpcOnly.size >= 10_000) this.#grpcOnly.clear();
      this.#grpcOnly.add(service);
      const protocols = [...new Set(served.map((n) => n.metadata.protocol ?? "grpc"))].join(", ");
      this.#logger.warn(
        { backend: service },
        `requests for ${service} are answered 404: its nodes serve ${protocols}, not HTTP; the rpc handler (tsmicro api) serves it`,
      );
    }
    if (!nodes.some(servesHttp))
      return new TsmicroError(
        Code.NOT_FOUND,
        `no web service named ${service} is registered${this.#namespace ? ` (namespace ${this.#namespace})` : ""}` +
          webServicesHint(await this.#webServices(), this.#namespace ?? "", service),
      );
    this.#known.add(service);
    return service;
  }

  /**
   * The names of the registered services with a node serving HTTP, for a 404's hint; none when
   * the registry cannot list them. Requests that miss while a listing runs share it, so a flood
   * of requests for no service lists the registry once at a time, not once each.
   */
  #webServices(): Promise<readonly string[]> {
    this.#listing ??= this.#registry
      .listServices()
      .then(
        (services) => [...new Set(services.filter((s) => s.nodes.some(servesHttp)).map((s) => s.name))].sort(),
        // The hint is left out; the lookup before it says when the registry is unreachable.
        () => [],
      )
      .finally(() => {
        this.#listing = undefined;
      });
    return this.#listing;
  }

  /** The next node to try, or the error to answer with when none is left. */
  async #pick(service: string, tried: ReadonlySet<string>): Promise<Node | TsmicroError> {
    try {
      const node = (await this.#selector.select(service, { exclude: tried }))();
      if (!tried.has(node.id)) return node;
      this.#selector.mark(service, node, undefined);
    } catch (error) {
      if (!isTsmicroError(error) || error.code !== Code.UNAVAILABLE) throw error;
    }
    return new TsmicroError(
      Code.UNAVAILABLE,
      tried.size === 0
        ? `no HTTP node of service ${service} is available; start one, or wait for it to register`
        : `no node of service ${service} accepted the connection (${tried.size} tried); try again shortly`,
    );
  }

  /** Sends the request to one node; resolves with how it went. */
  #forward(
    request: IncomingMessage,
    response: ServerResponse,
    service: string,
    node: Node,
    claims: ClaimsHeaders,
  ): Promise<Attempt> {
    return new Promise<Attempt>((resolve) => {
      const target = hostPort(node.address);
      const upstream = httpRequest({
        agent: this.#agent,
        host: target.host,
        port: target.port,
        method: request.method,
        path: request.url,
        headers: requestHeaders(request, claims),
      });
      let connected = false;
      let timedOut = false;
      let responded = false;
      let clientGone = false;
      let overLimit = false;
      const timer = setTimeout(() => {
        timedOut = true;
        upstream.destroy();
      }, this.#timeoutMs);
      const sendBody = () => {
        connected = true;
        // The body is read only now: until the node accepted the connection it can still go to another node.
        // Piped, not pipeline(): a node that stops reading (it answered early) must not cut the client's connection.
        const meter = new BodyMeter(this.#bodyLimit, () => {
          overLimit = true;
          upstream.destroy();
        });
        request.pipe(meter).pipe(upstream);
        // Whatever the node did not take is read and dropped, so the answer reaches the client.
        upstream.once("close", () => {
          if (!request.readableEnded) discardRest(request, response, this.#bodyLimit);
        });
      };
      upstream.on("socket", (socket: Socket) => {
        if (socket.connecting) socket.once("connect", sendBody);
        else sendBody();
      });
      // A client that gives up cancels the request to the node.
      response.once("close", () => {
        if (response.writableFinished) return;
        clientGone = true;
        upstream.destroy();
      });
      upstream.on("response", (incoming) => {
        responded = true;
        clearTimeout(timer);
        if (response.destroyed) {
          incoming.destroy();
          this.#selector.mark(service, node, undefined);
          resolve({ kind: "done" });
          return;
        }
        const head = withGatewayHeaders(withoutHopByHop(incoming.headers), response.getHeaders());
        response.writeHead(incoming.statusCode ?? 502, incoming.statusMessage, head);
        pipeline(incoming, response, () => {
          this.#selector.mark(service, node, undefined);
          resolve({ kind: "done" });
        });
      });
      upstream.on("error", (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (responded) return;
        if (overLimit) {
          // The client's doing: the node is not marked.
          this.#selector.mark(service, node, undefined);
          resolve({ kind: "done", refusal: bodyTooLarge(this.#bodyLimit) });
          return;
        }
        if (clientGone) {
          // Not the node's fault: nothing to answer, nothing to eject.
          this.#selector.mark(service, node, undefined);
          resolve({ kind: "done" });
          return;
        }
        if (timedOut) {
          resolve({
            kind: "failed",
            retry: false,
            error: new TsmicroError(
              Code.DEADLINE_EXCEEDED,
              `service ${service} did not answer within ${this.#timeoutMs} ms`,
            ),
          });
          return;
        }
        // A pooled connection the node had just closed fails the same way; a bodiless request may go again.
        const retry = !connected || (upstream.reusedSocket && error.code === "ECONNRESET" && !hasBody(request));
        resolve({
          kind: "failed",
          retry,
          cause: error,
          error: new TsmicroError(
            Code.UNAVAILABLE,
            retry
              ? `no node of service ${service} accepted the connection; try again shortly`
              : `service ${service} closed the connection before answering`,
          ),
        });
      });
    });
  }

  async #route(
    request: IncomingMessage,
    response: ServerResponse,
    details: ErrorBodyDetails,
    named: ((template: string) => void) | undefined,
    claims: ClaimsHeaders,
  ): Promise<void> {
    const service = await this.#serviceOf(request);
    if (typeof service !== "string") return answer(response, service, details);
    // A body said to be too large is refused before any node sees it (and left unread, as fastify does).
    if (Number(request.headers["content-length"] ?? 0) > this.#bodyLimit) {
      response.setHeader("connection", "close");
      return answer(response, bodyTooLarge(this.#bodyLimit), details, 413);
    }
    named?.(`/${this.#namespace ? service.slice(this.#namespace.length + 1) : service}/*`);
    const tried = new Set<string>();
    for (;;) {
      const node = await this.#pick(service, tried);
      if (isTsmicroError(node)) return answer(response, node, details);
      tried.add(node.id);
      const attempt = await this.#forward(request, response, service, node, claims);
      if (attempt.kind === "done") {
        if (!attempt.refusal) return;
        // What is left of the body is not read: the connection closes once the answer is out.
        if (!response.headersSent) response.setHeader("connection", "close");
        return answer(response, attempt.refusal, details, 413);
      }
      this.#selector.mark(service, node, attempt.error);
      this.#logger.warn(
        { backend: service, node: node.id, address: node.address, err: attempt.cause ?? attempt.error },
        attempt.retry ? "node refused the connection; trying another" : "proxied request failed",
      );
      if (!attempt.retry || tried.size > this.#retries) return answer(response, attempt.error, details);
    }
  }

  /** Connects to one node for a tunnel; resolves with the socket or how it failed. */
  #dial(service: string, node: Node): Promise<Socket | FailedAttempt> {
    return new Promise((resolve) => {
      const target = hostPort(node.address);
      const socket = connect({ host: target.host, port: target.port });
      const timer = setTimeout(() => {
        socket.destroy();
        resolve({
          kind: "failed",
          retry: false,
          error: new TsmicroError(
            Code.DEADLINE_EXCEEDED,
            `service ${service} did not accept within ${this.#timeoutMs} ms`,
          ),
        });
      }, this.#timeoutMs);
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.removeAllListeners("error");
        resolve(socket);
      });
      socket.once("error", (error) => {
        clearTimeout(timer);
        resolve({
          kind: "failed",
          retry: true,
          cause: error,
          error: new TsmicroError(
            Code.UNAVAILABLE,
            `no node of service ${service} accepted the connection; try again shortly`,
          ),
        });
      });
    });
  }

  async #tunnel(request: IncomingMessage, client: Duplex, head: Buffer, claims: ClaimsHeaders): Promise<void> {
    const service = await this.#serviceOf(request);
    if (typeof service !== "string") return answerRaw(client, service);
    const tried = new Set<string>();
    for (;;) {
      if (client.destroyed) return;
      const node = await this.#pick(service, tried);
      if (isTsmicroError(node)) return answerRaw(client, node);
      tried.add(node.id);
      const dialed = await this.#dial(service, node);
      if ("kind" in dialed) {
        this.#selector.mark(service, node, dialed.error);
        this.#logger.warn(
          { backend: service, node: node.id, address: node.address, err: dialed.cause ?? dialed.error },
          "tunnel failed",
        );
        if (!dialed.retry || tried.size > this.#retries) return answerRaw(client, dialed.error);
        continue;
      }
      const upstream = dialed;
      this.#tunnels.add(upstream);
      const close = () => {
        client.destroy();
        upstream.destroy();
      };
      upstream.once("close", () => {
        this.#tunnels.delete(upstream);
        this.#selector.mark(service, node, undefined);
        close();
      });
      upstream.on("error", close);
      client.once("close", close);
      upstream.setNoDelay(true);
      upstream.write(requestHead(request, claims));
      if (head.length > 0) upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
      return;
    }
  }
}

/** The proxy to the web services `options.registry` lists (see RegistryWebProxy); start() connects. */
export function createWebProxy(options: WebProxyOptions): WebProxy {
  return new RegistryWebProxy(options);
}

/**
 * A fastify plugin sending every request no other route matches (and every
 * `Upgrade` request) through `proxy`. Bodies are left unread for the proxy
 * to stream: the plugin's scope has a pass-through content-type parser.
 */
export const webProxyRoutes: FastifyPluginAsync<{
  readonly proxy: WebProxy;
  /** What the gateway adds to the error bodies the proxy answers with itself: the request's trace. */
  readonly details?: (request: FastifyRequest, body: ErrorBody) => ErrorBody;
  /** Names the route a request is counted and traced under, once its service is known (`/{service}/*`). */
  readonly nameRoute?: (request: FastifyRequest, template: string) => void;
  /**
   * The gateway's route rules, met before anything is proxied: the claims' headers of the token
   * checked, or a refusal thrown (401, 429) with its headers set through the reply. Undefined: none.
   */
  readonly admit?: (request: GuardedRequest, reply: GuardedReply) => Promise<ClaimsHeaders | undefined>;
  /** The proxies believed about the client of an upgrade, as the app's `trustProxy` for other requests. */
  readonly trust?: ProxyTrust | undefined;
}> = async (scope, { proxy, details, nameRoute, admit, trust }) => {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser("*", (_request, _payload, done) => done(null));
  scope.server.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!admit) return proxy.upgrade(request, socket, head);
    socket.on("error", () => socket.destroy());
    const refusal: Record<string, string> = {};
    const guarded = {
      url: request.url ?? "/",
      method: request.method ?? "GET",
      headers: request.headers,
      ip: clientAddressOf(request, trust),
    };
    admit(guarded, { header: (name, value) => (refusal[name] = value) }).then(
      (claims) => proxy.upgrade(request, socket, head, claims),
      (error: unknown) => refuseRaw(socket, error, refusal),
    );
  });
  scope.all("/*", async (request, reply) => {
    // A refusal thrown here is answered by the gateway's error handler, as the rpc handler's are.
    const claims = admit ? await admit(request, reply) : undefined;
    reply.hijack();
    // What hooks set on the reply (the trace's traceresponse, CORS' headers) goes out with whatever answers.
    for (const [name, value] of Object.entries(reply.getHeaders()))
      if (value !== undefined) reply.raw.setHeader(name, value);
    await proxy.handle(
      request.raw,
      reply.raw,
      details && ((body) => details(request, body)),
      nameRoute && ((template) => nameRoute(request, template)),
      claims,
    );
  });
};

/** How one try at a node went: answered (or to be answered with `refusal`, 413), or failed. */
type Attempt = { readonly kind: "done"; readonly refusal?: TsmicroError } | FailedAttempt;

/**
 * Passes a request body on, counting it: past `limit` bytes it stops and calls `over`. Each
 * chunk goes on after the event loop's next turn, so a node's early answer (a 413 for a body it
 * will not read, then its connection closed) is read before the next write to that closed
 * connection fails, which would lose the answer with the socket.
 */
class BodyMeter extends Transform {
  #bytes = 0;
  constructor(
    readonly limit: number,
    readonly over: () => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#bytes += chunk.length;
    if (this.#bytes <= this.limit) {
      setImmediate(done, null, chunk);
      return;
    }
    if (this.#bytes - chunk.length <= this.limit) this.over();
    done();
  }
}

/** The refusal of a request body over `--body_limit`, worded as the rpc handler's. */
function bodyTooLarge(limit: number): TsmicroError {
  return new TsmicroError(
    Code.OUT_OF_RANGE,
    `the request body is over the gateway's limit of ${limit} bytes (--body_limit)`,
  );
}

/**
 * Reads and drops what is left of a request body no node takes any more, so the client gets the
 * answer; past `limit` bytes the connection is closed once the answer is out.
 */
function discardRest(request: IncomingMessage, response: ServerResponse, limit: number): void {
  request.unpipe();
  let dropped = 0;
  request.on("data", (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped <= limit) return;
    request.pause();
    if (response.writableFinished || response.destroyed) request.socket.destroy();
    else response.once("finish", () => request.socket.destroy());
  });
  request.resume();
}

/** A try that failed: whether another node may take the request, and what to answer if not. */
interface FailedAttempt {
  readonly kind: "failed";
  readonly retry: boolean;
  readonly error: TsmicroError;
  readonly cause?: unknown;
}

/** How many web services a 404's hint names at most. */
const hintedServices = 10;

/**
 * What a 404 of the web handler adds, so a go-micro user learns the `--namespace` they left out:
 * a web service registered as `NS.segment` for the path's segment (`shop.web.site` for
 * `/site/…`), with the flag that reaches it; else the web services this gateway reaches, by
 * path, and the namespaces of the others. `wanted` is the name the path asked for (with this
 * gateway's namespace), undefined for a path naming none.
 */
export function webServicesHint(registered: readonly string[], namespace: string, wanted?: string): string {
  // A gateway kept to a namespace names nothing outside it: what runs there is not its clients' to learn.
  const webServices = namespace === "" ? registered : registered.filter((name) => name.startsWith(`${namespace}.`));
  if (webServices.length === 0) return "; no web service is registered so far (is it running?)";
  const segment = wanted === undefined ? undefined : withoutNamespace(wanted, namespace);
  const meant =
    segment === undefined
      ? undefined
      : webServices.find((name) => name !== wanted && (name === segment || name.endsWith(`.${segment}`)));
  if (meant !== undefined && segment !== undefined) {
    const other = meant.slice(0, -segment.length - 1);
    const flag = other === "" ? "without --namespace" : `with --namespace=${other}`;
    return `; ${meant} is, which a gateway started ${flag} reaches by /${segment}/…`;
  }
  const reached = webServices.filter((name) => namespace === "" || name.startsWith(`${namespace}.`));
  const elsewhere = webServices.filter((name) => !reached.includes(name));
  const parts: string[] = [];
  if (reached.length > 0)
    parts.push(
      `the web services this gateway reaches are ${listed(reached.map((n) => `/${withoutNamespace(n, namespace)}/`))}`,
    );
  if (elsewhere.length > 0) {
    const namespaces = [...new Set(elsewhere.map((name) => name.slice(0, Math.max(0, name.lastIndexOf(".")))))];
    const flags = namespaces.map((ns) => (ns === "" ? "no --namespace" : `--namespace=${ns}`));
    parts.push(
      `web services are registered ${namespace === "" ? "" : "outside this namespace "}under ${listed(flags)} (${listed(elsewhere)})`,
    );
  }
  return `; ${parts.join("; ")}`;
}

/** `name` without `namespace.` in front, when it has it. */
function withoutNamespace(name: string, namespace: string): string {
  return namespace !== "" && name.startsWith(`${namespace}.`) ? name.slice(namespace.length + 1) : name;
}

/** Names joined by commas, the first few only. */
function listed(names: readonly string[]): string {
  const shown = names.slice(0, hintedServices).join(", ");
  return names.length > hintedServices ? `${shown}, … (${names.length - hintedServices} more)` : shown;
}

/**
 * True for a node that serves plain HTTP: a web service, not a gRPC one of the same name, nor
 * a subscription of the embedded http broker (`tsmicro.broker`), which is HTTP too but the
 * services' own: a public gateway proxying to it, or naming it, would show what runs behind it.
 */
function servesHttp(node: Node): boolean {
  return node.metadata.protocol === "http" && !isBrokerSubscription(node);
}

/** True for a node the http broker registers for a subscription (metadata `broker`; docs/broker.md). */
function isBrokerSubscription(node: Node): boolean {
  return node.metadata["broker"] !== undefined;
}

function withHttpNodes(service: Service): Service {
  return { ...service, nodes: service.nodes.filter(servesHttp) };
}

/** The registry as the proxy's selector sees it: only nodes that serve HTTP. */
function httpNodesOnly(registry: Registry): Registry {
  return {
    kind: registry.kind,
    start: () => registry.start(),
    stop: () => registry.stop(),
    register: (service, options) => registry.register(service, options),
    deregister: (service) => registry.deregister(service),
    getService: async (name) => (await registry.getService(name)).map(withHttpNodes),
    listServices: () => registry.listServices(),
    watch(options): Watcher {
      const inner = registry.watch(options);
      return {
        stop: () => inner.stop(),
        async *[Symbol.asyncIterator]() {
          for await (const event of inner) yield { ...event, service: withHttpNodes(event.service) };
        },
      };
    },
  };
}

/** `host:port` or `[v6]:port` of a registered node. */
function hostPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(":");
  return { host: address.slice(0, colon).replace(/^\[|\]$/g, ""), port: Number(address.slice(colon + 1)) };
}

function hasBody(request: IncomingMessage): boolean {
  const length = request.headers["content-length"];
  return request.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
}

/** Headers minus hop-by-hop ones, including those the Connection header names. */
function withoutHopByHop(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = new Set(
    String(headers.connection ?? "")
      .split(",")
      .map((name) => name.trim().toLowerCase()),
  );
  const kept: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !hopByHop.has(name) && !named.has(name)) kept[name] = value;
  }
  return kept;
}

/**
 * A node's response headers with those the gateway's hooks set on the answer already (CORS', the
 * trace's), which the node's would otherwise replace: `Vary` and `Access-Control-Expose-Headers`
 * list the names of both, so a cache keeps answers to different origins apart whatever the node
 * varies on; the gateway's other `Access-Control-*` headers win, as the gateway answers the
 * preflights; any other header the node sends wins.
 */
function withGatewayHeaders(node: OutgoingHttpHeaders, gateway: OutgoingHttpHeaders): OutgoingHttpHeaders {
  const merged = { ...node };
  for (const [name, value] of Object.entries(gateway)) {
    if (value === undefined) continue;
    if (name === "vary" || name === "access-control-expose-headers") merged[name] = nameList(value, node[name]);
    else if (name.startsWith("access-control-")) merged[name] = value;
  }
  return merged;
}

/** The header names of two lists (`Origin, Accept-Encoding`), each once, whatever its case; `*` when either is. */
function nameList(...lists: OutgoingHttpHeaders[string][]): string {
  const names = new Map<string, string>();
  for (const list of lists)
    for (const name of String(Array.isArray(list) ? list.join(",") : (list ?? "")).split(",")) {
      const trimmed = name.trim();
      if (trimmed !== "" && !names.has(trimmed.toLowerCase())) names.set(trimmed.toLowerCase(), trimmed);
    }
  return names.has("*") ? "*" : [...names.values()].join(", ");
}

/** X-Forwarded-* for a request, as Go's ReverseProxy sets them: For appended to, Host and Proto replaced. */
function forwardedFor(request: IncomingMessage): Record<string, string> {
  const prior = request.headers["x-forwarded-for"];
  const client = request.socket.remoteAddress ?? "";
  const encrypted = (request.socket as Socket & { encrypted?: boolean }).encrypted === true;
  return {
    "x-forwarded-for": prior ? `${String(prior)}, ${client}` : client,
    "x-forwarded-host": request.headers.host ?? "",
    "x-forwarded-proto": encrypted ? "https" : "http",
  };
}

/**
 * The headers sent to the node: the client's (Host kept), minus hop-by-hop and Expect (answered
 * here) and those only the gateway sets, plus X-Forwarded-* and the verified claims.
 */
function requestHeaders(request: IncomingMessage, claims: ClaimsHeaders): OutgoingHttpHeaders {
  const headers = withoutHopByHop(request.headers);
  delete headers.expect;
  for (const name of [...forwardedHeaders, ...claimsHeaderNames]) delete headers[name];
  return { ...headers, ...forwardedFor(request), ...claims };
}

/** The request line and headers of an upgrade request, written raw to the node: Connection and Upgrade kept. */
function requestHead(request: IncomingMessage, claims: ClaimsHeaders): string {
  let head = `${request.method ?? "GET"} ${request.url ?? "/"} HTTP/1.1\r\n`;
  const raw = request.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] ?? "").toLowerCase();
    if (!forwardedHeaders.has(name) && !claimsHeaderNames.has(name)) head += `${raw[i]}: ${raw[i + 1] ?? ""}\r\n`;
  }
  for (const [name, value] of Object.entries({ ...forwardedFor(request), ...claims })) head += `${name}: ${value}\r\n`;
  return `${head}\r\n`;
}

/** The JSON body of a proxy error: gRPC code, message, no stack. */
export function webProxyErrorBody(error: TsmicroError): ErrorBody {
  return { code: error.code, message: error.message, details: [] };
}

function asIs(body: ErrorBody): ErrorBody {
  return body;
}

function answer(response: ServerResponse, error: TsmicroError, details: ErrorBodyDetails, status?: number): void {
  if (response.headersSent || response.destroyed) {
    response.destroy();
    return;
  }
  const body = JSON.stringify(details(webProxyErrorBody(error)));
  response.writeHead(status ?? httpStatusOf(error.code), {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(body),
  });
  response.end(body);
}

/** An upgrade the route rules refused, answered as the gateway answers any request: its status, the refusal's headers, the JSON body. */
function refuseRaw(socket: Duplex, error: unknown, refusal: Readonly<Record<string, string>>): void {
  if (socket.destroyed) return;
  const { status, headers, body } = errorResponse(error);
  const text = JSON.stringify(body);
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\n`;
  for (const [name, value] of Object.entries({ ...headers, ...refusal })) head += `${name}: ${value}\r\n`;
  socket.end(
    `${head}Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
  );
}

function answerRaw(socket: Duplex, error: TsmicroError): void {
  if (socket.destroyed) return;
  const status = httpStatusOf(error.code);
  const body = JSON.stringify(webProxyErrorBody(error));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\n` +
      `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
