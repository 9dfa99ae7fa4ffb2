import { compileTemplate, splitRequestPath, type CompiledTemplate } from "./compile-template.js";

/** What a route needs for routing: an HTTP method, a path template and a name for messages. */
export interface RouteDefinition {
  /** The HTTP method (`GET`, `POST`, or a `custom` kind); compared case-insensitively. */
  readonly method: string;
  /** The `google.api.http` path template. */
  readonly path: string;
  /** Who claims the route, usually the full RPC name (`etcdserverpb.Maintenance.Hash`). */
  readonly name: string;
}

/** A route that matched a request, with its captured path variables by dotted field path. */
export interface RouteMatch<R extends RouteDefinition> {
  readonly route: R;
  readonly variables: Record<string, string>;
}

/** Two or more routes with the same method and an equivalent template: only `serving` is reachable. */
export interface RouteConflict<R extends RouteDefinition> {
  readonly method: string;
  /** The shared template shape, variable names erased (`/v3/maintenance/hash`). */
  readonly shape: string;
  readonly serving: R;
  readonly shadowed: readonly R[];
  /** One line naming every claimant and the one that serves the route. */
  readonly message: string;
}

/** Finds the route for a request. */
export interface Router<R extends RouteDefinition> {
  /** The last registered route whose method and template match; undefined if none. */
  find(method: string, path: string): RouteMatch<R> | undefined;
  /** The methods (upper case, sorted) with a route whose template matches the path: the `Allow` of a 405. */
  methodsFor(path: string): string[];
  /** The methods (upper case, sorted) some route takes, whatever its path. */
  readonly methods: readonly string[];
  /** Routes that can never be served because a later route claims the same method and shape. */
  readonly conflicts: readonly RouteConflict<R>[];
}

/**
 * Builds a route table. Precedence is grpc-gateway v2's: its ServeMux prepends each handler, so
 * the last registered route whose method and template match serves the request, and for an
 * identical pattern the last one wins (etcd's `Maintenance.HashKV` serves
 * `POST /v3/maintenance/hash`, not `Hash`). Templates are compiled here, so a bad one throws
 * TSM_ERR_HTTP_TEMPLATE naming the route.
 */
export function createRouter<R extends RouteDefinition>(routes: readonly R[]): Router<R> {
  const byMethod = new Map<string, { route: R; compiled: CompiledTemplate }[]>();
  const claims = new Map<string, R[]>();
  for (const route of routes) {
    const method = route.method.toUpperCase();
    const compiled = compileTemplate(route.path, route.name);
    const list = byMethod.get(method) ?? [];
    list.push({ route, compiled });
    byMethod.set(method, list);
    const key = `${method} ${compiled.shape}`;
    claims.set(key, [...(claims.get(key) ?? []), route]);
  }

  const conflicts: RouteConflict<R>[] = [];
  for (const [key, claimants] of claims) {
    const serving = claimants.at(-1);
    const shadowed = claimants.slice(0, -1);
    if (serving === undefined || shadowed.length === 0) continue;
    const space = key.indexOf(" ");
    const method = key.slice(0, space);
    const shape = key.slice(space + 1);
    const names = claimants.map((r) => `${r.name} (${r.path})`).join(", ");
    conflicts.push({
      method,
      shape,
      serving,
      shadowed,
      message: `${method} ${shape} is claimed by ${names}; ${serving.name} serves it, the others are unreachable`,
    });
  }

  return {
    conflicts,
    methods: [...byMethod.keys()].sort(),
    find(method, path) {
      const candidates = byMethod.get(method) ?? byMethod.get(method.toUpperCase());
      // Split once for every template tried.
      const components = candidates && splitRequestPath(path);
      if (!candidates || !components) return undefined;
      for (let i = candidates.length - 1; i >= 0; i--) {
        const { route, compiled } = candidates[i] as (typeof candidates)[number];
        const variables = compiled.matchSplit(components);
        if (variables !== undefined) return { route, variables };
      }
      return undefined;
    },
    methodsFor(path) {
      const methods: string[] = [];
      const components = splitRequestPath(path);
      if (!components) return methods;
      for (const [method, candidates] of byMethod)
        if (candidates.some(({ compiled }) => compiled.matchSplit(components) !== undefined)) methods.push(method);
      return methods.sort();
    },
  };
}
