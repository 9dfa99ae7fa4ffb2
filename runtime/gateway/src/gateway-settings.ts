import { SetupError } from "@tsmicro/runtime";
import { count, duration, type FlagParser, oneOf, onOff, readFlags } from "@tsmicro/runtime/internal";
import { corsOriginProblem } from "./gateway-cors.js";
import { forwardHeaders } from "./forwarded-metadata.js";
import { parseTrustProxy, type TrustProxy, trustProxySyntax } from "./trusted-proxies.js";

/** What `tsmicro api` reads from flags and environment besides the registry and client flags. */
export interface GatewaySettings {
  /** `host:port` the HTTP server listens on; go-micro's `--address`, default `:8080` (every interface). */
  readonly address: string;
  /** Registry names behind default routes are `namespace.segment` (go-micro's `--namespace`); empty: the segment alone. */
  readonly namespace: string;
  /** A path prefix every route is served under, such as `/api`. */
  readonly prefix: string;
  readonly tlsCertFile: string | undefined;
  readonly tlsKeyFile: string | undefined;
  /** Origins allowed by CORS; `*` allows any; empty turns CORS off. */
  readonly corsOrigins: readonly string[];
  /** Largest request body in bytes; bigger ones get 413. */
  readonly bodyLimit: number;
  /** `rpc` (routes to gRPC services), `web`/`proxy` (reverse proxy to HTTP services), `event` (publish). */
  readonly handler: "rpc" | "web" | "proxy" | "event";
  /** A route claimed by two methods is an error, not a warning. */
  readonly strictRoutes: boolean;
  /** A JSON file with JWT keys and per-route rules. */
  readonly config: string | undefined;
  /** Responses carry fields at their zero values too (grpc-gateway's `EmitUnpopulated`). */
  readonly jsonEmitUnpopulated: boolean;
  /** Responses name fields as the proto does, not lowerCamelCase (grpc-gateway's `UseProtoNames`). */
  readonly jsonUseProtoNames: boolean;
  /** Serves the dashboard (`tsmicro web`'s page) at `/dashboard/`. */
  readonly dashboard: boolean;
  /** Request headers forwarded as metadata besides `Grpc-Metadata-*`: header name to metadata key (see forwardHeaders). */
  readonly forwardHeaders: ReadonlyMap<string, string>;
  /**
   * The proxies whose `X-Forwarded-For` names the client (see TrustProxy), for `per: "client"`
   * rate limits and the trace's client address; default none.
   */
  readonly trustProxy: TrustProxy;
  /**
   * How long a stopping gateway keeps serving, its `/healthz` answering 503, before it stops
   * taking connections: the time a load balancer needs to see it and send requests elsewhere.
   */
  readonly shutdownDelayMs: number;
}

/** Defaults, applied here and nowhere else. */
export const defaultGatewaySettings: GatewaySettings = {
  address: ":8080",
  namespace: "",
  prefix: "",
  tlsCertFile: undefined,
  tlsKeyFile: undefined,
  corsOrigins: [],
  bodyLimit: 1024 * 1024,
  handler: "rpc",
  strictRoutes: false,
  config: undefined,
  jsonEmitUnpopulated: false,
  jsonUseProtoNames: false,
  dashboard: false,
  forwardHeaders: new Map(),
  trustProxy: false,
  shutdownDelayMs: 0,
};

type Parser = FlagParser<Partial<GatewaySettings>>;

const namespaceOf: Parser = (v) => ({ namespace: v.replace(/\.$/, "") });

const flags: Record<string, Parser> = {
  address: (v) => ({ address: v }),
  namespace: namespaceOf,
  // go-micro's global flag for the same (`micro --api_namespace=… api`), and its MICRO_API_NAMESPACE.
  api_namespace: namespaceOf,
  prefix: (v, s) => ({ prefix: pathPrefix(v, s) }),
  tls_cert_file: (v) => ({ tlsCertFile: v }),
  tls_key_file: (v) => ({ tlsKeyFile: v }),
  cors_origins: (v, s) => ({ corsOrigins: corsOrigins(v, s) }),
  body_limit: (v, s) => ({ bodyLimit: byteSize(v, s) }),
  handler: (v, s) => ({ handler: oneOf(v, s, ["rpc", "web", "proxy", "event"]) as GatewaySettings["handler"] }),
  strict_routes: (v, s) => ({ strictRoutes: onOff(v, s) }),
  config: (v) => ({ config: v }),
  json_emit_unpopulated: (v, s) => ({ jsonEmitUnpopulated: onOff(v, s) }),
  json_use_proto_names: (v, s) => ({ jsonUseProtoNames: onOff(v, s) }),
  dashboard: (v, s) => ({ dashboard: onOff(v, s) }),
  forward_headers: (v, s) => ({ forwardHeaders: forwardHeaders(v, s) }),
  trust_proxy: (v, s) => ({ trustProxy: trustProxy(v, s) }),
  shutdown_delay: (v, s) => ({ shutdownDelayMs: duration(v, s) }),
};

/** The flag names the gateway understands (besides the service flags). */
export const gatewayFlagNames: readonly string[] = Object.keys(flags);

/** Resolves gateway settings: defaults, code, `MICRO_*`, `TSMICRO_*`, then flags. */
export function resolveGatewaySettings(
  overrides: Partial<GatewaySettings>,
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): GatewaySettings {
  const given = readFlags(flags, args, env, {} as Partial<GatewaySettings>, (base, over) => ({ ...base, ...over }));
  return { ...defaultGatewaySettings, ...overrides, ...given };
}

const sizeUnits: Readonly<Record<string, number>> = { "": 1, b: 1, kb: 1024, k: 1024, mb: 1024 ** 2, m: 1024 ** 2 };

/** Bytes from `1048576`, `512kb`, `4mb`. */
function byteSize(value: string, source: string): number {
  const match = /^(\d+)\s*([a-z]*)$/i.exec(value.trim());
  const unit = sizeUnits[match?.[2]?.toLowerCase() ?? "x"];
  if (!match || unit === undefined)
    throw new SetupError(
      "TSM_ERR_FLAG",
      source,
      JSON.stringify(value),
      "expected a size such as 1048576, 512kb or 4mb",
    );
  return count(String(Number(match[1]) * unit), source, 1);
}

/** `/api` from `api`, `/api/` or `/api`; `` stays empty. */
function pathPrefix(value: string, source: string): string {
  const trimmed = value.trim().replace(/\/+$/, "");
  if (trimmed === "") return "";
  if (/[?#\s]/.test(trimmed))
    throw new SetupError("TSM_ERR_FLAG", source, JSON.stringify(value), "expected a path such as /api");
  return trimmed.startsWith("/") ? trimmed : `/${trimmed}`;
}

/** Comma-separated origins, each checked as the config file's `cors.origins` are. */
function corsOrigins(value: string, source: string): string[] {
  const origins = value
    .split(",")
    .map((o) => o.trim())
    .filter(Boolean);
  for (const origin of origins) {
    const problem = corsOriginProblem(origin);
    if (problem !== undefined) throw new SetupError("TSM_ERR_FLAG", source, JSON.stringify(value), problem);
  }
  return origins;
}

/** `off`, `on` (every proxy), a hop count, or comma-separated addresses, CIDR ranges and `loopback`, `linklocal`, `uniquelocal`. */
function trustProxy(value: string, source: string): TrustProxy {
  try {
    return parseTrustProxy(value);
  } catch (error) {
    throw new SetupError(
      "TSM_ERR_FLAG",
      source,
      JSON.stringify(value),
      `${(error as Error).message}; expected ${trustProxySyntax}`,
    );
  }
}
