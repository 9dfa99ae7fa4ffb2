/** The page's calls to the dashboard's server; the types of what it sends are the server's own. */
import type { CallOutcome } from "../src/dashboard/dashboard-api";

export type {
  BreakerView,
  CallOutcome,
  EventView,
  FleetEvent,
  Info,
  MethodStats,
  MethodView,
  NodeView,
  RouteView,
  ServiceDetails,
  ServiceView,
  StatsPoint,
} from "../src/dashboard/dashboard-api";

/**
 * A method's full name as the page writes it everywhere (method list, routes, charts, breakers):
 * `pkg.Service/Method`, the gRPC path without its slash, which `tsmicro call` takes too, from the
 * `pkg.Service.Method` the server's views carry.
 */
export function methodName(rpc: string): string {
  const dot = rpc.lastIndexOf(".");
  return dot < 0 ? rpc : `${rpc.slice(0, dot)}/${rpc.slice(dot + 1)}`;
}

/** GETs `path` (relative to the page) as JSON; a failure throws the server's message. */
export async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(path);
  const body = (await response.json()) as T & { message?: string };
  if (!response.ok) throw new Error(body.message ?? `${path}: HTTP ${response.status}`);
  return body;
}

/**
 * Calls a unary method through the dashboard: the dashboard's `token` in a header of its own,
 * a `jwt` for the gateway's route rules as `Authorization: Bearer`.
 */
export async function callMethod(
  service: string,
  method: string,
  request: string,
  token: string,
  jwt: string,
): Promise<CallOutcome> {
  const response = await fetch("api/call", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(token ? { "x-dashboard-token": token } : {}),
      ...(jwt ? { authorization: `Bearer ${jwt}` } : {}),
    },
    body: JSON.stringify({ service, method, request }),
  });
  const body = (await response.json()) as CallOutcome & { message?: string };
  if (!response.ok)
    return { status: `HTTP ${response.status}`, code: -1, latencyMs: 0, traceId: null, message: body.message ?? "" };
  return body;
}
