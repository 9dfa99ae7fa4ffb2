import { METHODS } from "node:http";
import type { FastifyInstance } from "fastify";

/** The methods a route usually takes; fastify routes them without being told of them. */
export const standardMethods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] as const;

/**
 * Every method a `google.api.http` route can be served under: Node's HTTP parser accepts the
 * methods of `http.METHODS` and no others, so a `custom` kind such as SEARCH or LOCK is served,
 * one such as FETCH never is. CONNECT opens tunnels and OPTIONS answers preflights: no route's.
 */
export const routableMethods: readonly string[] = METHODS.filter((m) => m !== "CONNECT" && m !== "OPTIONS");

/**
 * The methods the gateway's routes take, as a preflight's `Access-Control-Allow-Methods` lists
 * them: the standard ones, which default routes (`/{service}/{method}`) and `POST /rpc` take, and
 * those of the route rules (`ruleMethods`) that Node can receive, such as a `custom` kind SEARCH.
 */
export function routeMethods(ruleMethods: readonly string[]): string[] {
  return [...new Set([...standardMethods, ...ruleMethods.filter(isRoutable)])].sort();
}

/** Whether Node's HTTP server can receive a request of `method` at all (see routableMethods). */
export function isRoutable(method: string): boolean {
  return routableMethods.includes(method.toUpperCase());
}

/**
 * Teaches `app` the custom methods among `methods` (upper case) that fastify does not route by
 * default, each with a body (a `custom` binding may take one), and returns them all.
 */
export function acceptMethods(app: FastifyInstance, methods: Iterable<string>): string[] {
  const known = new Set(app.supportedMethods);
  const accepted = [...new Set(methods)].filter(isRoutable);
  for (const method of accepted) if (!known.has(method)) app.addHttpMethod(method, { hasBody: true });
  return accepted;
}
