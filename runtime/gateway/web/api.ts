/** What the dashboard's server sends (see src/dashboard): the page's only source of data. */

export interface NodeView {
  readonly id: string;
  readonly address: string;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly health: string;
}

export interface ServiceView {
  readonly name: string;
  readonly version: string;
  readonly nodes: readonly NodeView[];
  readonly endpoints: readonly { readonly name: string; readonly request: string; readonly response: string }[];
}

export interface StatsPoint {
  readonly t: number;
  readonly rate: number;
  readonly errors: number;
  readonly latencyMs: number;
}

export interface MethodStats {
  readonly service: string;
  readonly method: string;
  readonly points: readonly StatsPoint[];
}

export interface BreakerView {
  readonly at: string;
  readonly service: string;
  readonly method: string;
  readonly state: string;
}

export interface Info {
  readonly registry: string;
  /** `open`, `token` (calls need the token) or `off`. */
  readonly calls: "open" | "token" | "off";
  readonly openApi: string | null;
}

export interface MethodView {
  readonly rpc: string;
  readonly kind: string;
  readonly request: string;
  readonly response: string;
  readonly requestShape: unknown;
  readonly responseShape: unknown;
  readonly routes: readonly string[];
}

export interface RouteView {
  readonly method: string;
  readonly path: string;
  readonly rpc: string;
  readonly service: string;
}

export interface CallOutcome {
  readonly status: string;
  readonly code: number;
  readonly latencyMs: number;
  readonly traceId: string | null;
  readonly response?: unknown;
  readonly message?: string;
}

/** GETs `path` (relative to the page) as JSON; a failure throws the server's message. */
export async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(path);
  const body = (await response.json()) as T & { message?: string };
  if (!response.ok) throw new Error(body.message ?? `${path}: HTTP ${response.status}`);
  return body;
}

/** Calls a unary method through the dashboard. */
export async function callMethod(
  service: string,
  method: string,
  request: string,
  token: string,
): Promise<CallOutcome> {
  const response = await fetch("api/call", {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ service, method, request }),
  });
  const body = (await response.json()) as CallOutcome & { message?: string };
  if (!response.ok)
    return { status: `HTTP ${response.status}`, code: -1, latencyMs: 0, traceId: null, message: body.message ?? "" };
  return body;
}
