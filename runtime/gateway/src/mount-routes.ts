import { createFileRegistry, fromBinary, toBinary, type Message } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import {
  type ClientOf,
  Code,
  type HttpRule,
  type InputOf,
  type MethodDefinition,
  type OutputOf,
  type ServiceDefinition,
  type ServiceRoutes,
  TsmicroError,
} from "@tsmicro/runtime";
import { createRouter } from "@tsmicro/runtime/internal";
import { acceptMethods, standardMethods } from "./http-methods.js";
import { gatewayMethods, type GatewayMethod } from "./gateway-method.js";
import {
  errorResponse,
  type ErrorResponse,
  logWithheld,
  MethodNotAllowedError,
  type WithheldLog,
  requestMessage,
  responseJson,
  withEmptyBodyNote,
} from "./http-mapping.js";
import { mapStream, sendStream } from "./http-stream.js";

/** Hooks on one method's routes, typed by its request and response. */
export interface MethodHooks<I, O> {
  /** Runs with the decoded request before the call; return a request to replace it, throw a TsmicroError to refuse. */
  // biome-ignore lint/suspicious/noConfusingVoidType: void, so a hook that only inspects or mutates (no return) type-checks.
  readonly before?: (request: I, http: FastifyRequest) => I | void | Promise<I | void>;
  /** Runs on the response (each message of a stream); return a response to replace it. */
  // biome-ignore lint/suspicious/noConfusingVoidType: void, so a hook that only inspects or mutates (no return) type-checks.
  readonly after?: (response: O, http: FastifyRequest) => O | void | Promise<O | void>;
}

/** Hooks per method of a service, by the methods' TypeScript names. */
export type RouteHooks<S extends ServiceDefinition> = {
  readonly [K in keyof S["methods"]]?: MethodHooks<InputOf<S["methods"][K]>, OutputOf<S["methods"][K]>>;
};

/** A service's routes bound to a client and hooks, ready for mountRoutes. */
export interface MountableRoutes {
  readonly typeName: string;
  /** @internal */
  readonly bindings: readonly MountedBinding[];
}

interface MountedBinding {
  readonly rule: HttpRule;
  readonly name: string;
  readonly target: GatewayMethod;
  readonly handle: (message: Message, http: FastifyRequest) => Promise<Message> | AsyncIterable<Message>;
}

/**
 * Binds a generated route table (`LibraryRoutes`) to a client of the service and optional typed
 * hooks: `routesOf(LibraryRoutes, client, { getBook: { before(request) { … } } })`.
 */
export function routesOf<S extends ServiceDefinition>(
  routes: ServiceRoutes<S>,
  client: ClientOf<S>,
  hooks: RouteHooks<S> = {},
): MountableRoutes {
  const { definition } = routes;
  const registry = createFileRegistry(
    fromBinary(FileDescriptorSetSchema, Buffer.from(definition.fileDescriptorSet, "base64")),
  );
  const byName = new Map(gatewayMethods("", definition.typeName, registry).map((m) => [m.desc.name, m]));
  const bindings = routes.routes.map((route): MountedBinding => {
    const method = definition.methods[route.rpc] as MethodDefinition;
    const target = byName.get(method.name);
    if (!target) throw new Error(`${definition.typeName} has no method ${method.name} in its descriptors`);
    const call = (client as Record<string, (request: unknown) => unknown>)[route.rpc]!;
    const methodHooks = (hooks as Record<string, MethodHooks<unknown, unknown> | undefined>)[route.rpc] ?? {};
    const toTyped = (message: Message) => method.input.decode(toBinary(target.desc.input, message));
    const fromTyped = async (response: unknown, http: FastifyRequest) => {
      const replaced = (await methodHooks.after?.(response, http)) ?? response;
      return fromBinary(target.desc.output, method.output.encode(replaced).finish());
    };
    const prepare = async (message: Message, http: FastifyRequest) => {
      const request = toTyped(message);
      return (await methodHooks.before?.(request, http)) ?? request;
    };
    return {
      rule: route,
      name: target.rpc,
      target,
      handle:
        method.kind === "server_streaming"
          ? (message, http) =>
              (async function* () {
                const responses = call(await prepare(message, http)) as AsyncIterable<unknown>;
                yield* mapStream(responses, (response) => fromTyped(response, http));
              })()
          : async (message, http) => {
              if (method.kind !== "unary")
                throw new TsmicroError(
                  Code.UNIMPLEMENTED,
                  `${target.rpc} streams requests, which HTTP/JSON cannot carry`,
                );
              return fromTyped(await (call(await prepare(message, http)) as Promise<unknown>), http);
            },
    };
  });
  return { typeName: definition.typeName, bindings };
}

/** Options of mountRoutes. */
export interface MountRoutesOptions {
  /** Serve the routes under this path, such as `/api`. */
  readonly prefix?: string;
  /**
   * Where the message of a failure on the servers' side goes, which its client is told in public
   * words (see errorResponse): a service's logger, say; the app's own log (fastify's `logger`
   * option) when none is given, and nowhere when that is off.
   */
  readonly logger?: WithheldLog;
}

/**
 * Mounts generated routes on a fastify app, for a custom gateway: each request is mapped by the
 * same rules as `tsmicro api` (path, query and body to the request; proto3 JSON both ways; gRPC
 * status to HTTP status; server streams as NDJSON or SSE), the hooks run on the typed messages,
 * and the call goes through the given client (its breakers, retries and deadlines). A path with
 * routes only under other methods answers 405 with `Allow`; paths no route matches go to the
 * app's not-found handler. The routes take one wildcard route
 * (`prefix/*`), so the app's own routes still match first.
 */
export function mountRoutes(
  app: FastifyInstance,
  services: readonly MountableRoutes[],
  options: MountRoutesOptions = {},
): void {
  const log: WithheldLog = options.logger ?? (app.log as unknown as WithheldLog);
  const prefix = (options.prefix ?? "").replace(/\/+$/, "");
  const router = createRouter(
    services.flatMap((service) =>
      service.bindings.map((binding) => ({
        method: binding.rule.method,
        path: binding.rule.path,
        name: binding.name,
        binding,
      })),
    ),
  );
  const bound = services.flatMap((service) => service.bindings.map((binding) => binding.rule.method.toUpperCase()));
  app.route({
    method: acceptMethods(app, [...standardMethods, ...bound]),
    url: `${prefix}/*`,
    onRequest: readBodyAsJson,
    handler: async (request: FastifyRequest, reply: FastifyReply) => {
      const raw = request.raw.url ?? "/";
      const queryAt = raw.indexOf("?");
      const path = (queryAt < 0 ? raw : raw.slice(0, queryAt)).slice(prefix.length) || "/";
      // HEAD is GET without the body (Node leaves the body out), as HTTP has it and tsmicro api serves it.
      const match = router.find(request.method === "HEAD" ? "GET" : request.method, path);
      const allow = match ? [] : router.methodsFor(path);
      if (!match && allow.length === 0) return reply.callNotFound();
      // Whether the method was called: a refusal of the gateway's own before that (a bad query value) is no call's.
      let called = false;
      try {
        if (!match) throw new MethodNotAllowedError(request.method, `${prefix}${path}`, allow);
        const { binding } = match.route;
        const message = requestMessage(binding.target, binding.rule, {
          variables: match.variables,
          query: queryAt < 0 ? "" : raw.slice(queryAt + 1),
          body: request.body,
        });
        called = true;
        const result = binding.handle(message, request);
        if (Symbol.asyncIterator in result) {
          return await sendStream(
            request,
            reply,
            mapStream(result, (m) => responseJson(binding.target, binding.rule, m)),
            undefined,
            (error) => answerOf(request, error, log).body,
          );
        }
        const json = responseJson(binding.target, binding.rule, await result);
        return await reply.type("application/json").send(JSON.stringify(json));
      } catch (error) {
        const binding = match?.route.binding;
        const noted =
          binding && called ? withEmptyBodyNote(error, binding.target, binding.rule, request.body, prefix) : error;
        const answer = answerOf(request, noted, log);
        return reply
          .code(answer.status)
          .headers(answer.headers)
          .type("application/json")
          .send(JSON.stringify(answer.body));
      }
    },
  });
}

/** The answer to a failed request, as `tsmicro api` gives it; what it withholds from the client goes to the app's log. */
function answerOf(request: FastifyRequest, error: unknown, log: WithheldLog): ErrorResponse {
  const answer = errorResponse(error);
  logWithheld(answer, error, request, log);
  return answer;
}

/**
 * Every body of these routes is JSON, whatever its content type says, as `tsmicro api` and
 * grpc-gateway read it (`curl -d` sends a form's): the app's own JSON parser reads it, where the
 * app's other routes keep their parsers.
 */
function readBodyAsJson(request: FastifyRequest, _reply: FastifyReply, done: () => void): void {
  const type = request.headers["content-type"];
  if (type !== undefined && !/^application\/json\b/i.test(type)) request.headers["content-type"] = "application/json";
  done();
}
