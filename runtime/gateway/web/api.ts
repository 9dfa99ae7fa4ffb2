/** The page's calls to the dashboard's server; the types of what it sends are the server's own. */
import type { CallOutcome } from "../src/dashboard/dashboard-api";
import { codeName } from "@tsmicro/runtime/errors";

export type {
  BreakerView,
  CallOutcome,
  EventView,
  FleetEvent,
  Info,
  MethodStats,
  MethodView,
  NodeView,
  RecentStats,
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
 * What the call form shows: the service's answer (`CallOutcome`, a gRPC failure included), or the
 * dashboard's refusal before any call (a request that does not fit, a missing token), named by its
 * gRPC code as an answer is, without latency or trace.
 */
export type CallResult = CallOutcome | Refusal;

/** The dashboard (or the gateway it is mounted in) refused the call; no service was called. */
export interface Refusal {
  /** The gRPC code's name; `HTTP <status>` when the answer carries no code (a proxy's page). */
  readonly status: string;
  readonly code: number;
  readonly message: string;
  readonly latencyMs?: undefined;
  readonly traceId?: undefined;
  readonly response?: undefined;
  readonly reason?: undefined;
}

/** gRPC's UNAVAILABLE: what a call is when the dashboard itself cannot be reached. */
const unavailable = 14;

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
): Promise<CallResult> {
  let response: Response;
  try {
    response = await fetch("api/call", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(token ? { "x-dashboard-token": token } : {}),
        ...(jwt ? { authorization: `Bearer ${jwt}` } : {}),
      },
      body: JSON.stringify({ service, method, request }),
    });
  } catch {
    return {
      status: codeName(unavailable),
      code: unavailable,
      message:
        "the dashboard does not answer (it stopped, or the network between is down): start it again, then call again",
    };
  }
  const body: unknown = await response.json().catch(() => undefined);
  if (response.ok && body) return body as CallOutcome;
  return refusal(response.status, body as { code?: unknown; message?: unknown } | undefined);
}

/** A refused call's JSON (`{code, message}`, as google.rpc.Status) as the form shows it. */
function refusal(httpStatus: number, body: { code?: unknown; message?: unknown } | undefined): Refusal {
  const code = typeof body?.code === "number" ? body.code : undefined;
  const message =
    typeof body?.message === "string"
      ? body.message
      : `the dashboard answered HTTP ${httpStatus} without a message; its log may say more`;
  return code === undefined
    ? { status: `HTTP ${httpStatus}`, code: -1, message }
    : { status: codeName(code), code, message };
}
