import type { DescFile, Registry } from "@bufbuild/protobuf";
import { SetupError } from "@tsmicro/runtime/errors";
import {
  compileTemplate,
  createRouter,
  overlappingPath,
  readHttpRules,
  type RouteDefinition,
} from "@tsmicro/runtime/routing";

/** A proto file whose services the gateway serves, and (in a workspace) the registered service that serves them. */
export interface ServedFile {
  readonly file: DescFile;
  readonly service?: string | undefined;
}

/** Routes that collide, found among protos served together. */
export interface RouteClash {
  /** A conflict (the same method and path shape: one route is unreachable), which `strict_routes` refuses; else an overlap. */
  readonly conflict: boolean;
  /** The proto files of the routes involved. */
  readonly files: readonly string[];
  /** Whether the routes are of two or more services (of a workspace), one taking another's paths. */
  readonly acrossServices: boolean;
  /** One line naming the routes, the paths they share and the one that serves them, after the files. */
  readonly message: string;
}

interface ServedRoute extends RouteDefinition {
  readonly rpc: string;
  readonly file: string;
  readonly service: string | undefined;
}

/**
 * The route clashes among protos one gateway serves together: every file of a project, every
 * service's of a workspace. A conflict is two methods claiming the same HTTP method and path shape,
 * such as etcd's `Maintenance.Hash` and `Maintenance.HashKV` on `POST /v3/maintenance/hash`; an
 * overlap is two templates of one method that differ but match some paths in common, such as
 * Firestore's GetDocument `/v1/{name=projects/*\/databases/*\/documents/*\/**}` and ListDocuments
 * `/v1/{parent=projects/*\/databases/*\/documents/*\/**}/{collection_id}`. Each names the routes and
 * the one that serves, by the gateway's rule: it takes services in name order, each one's proto
 * services in name order and their methods as declared, and the last route that matches serves
 * (grpc-gateway v2's rule). Routes of two services are named with their service, as the gateway does.
 */
export function routeClashes(served: readonly ServedFile[], registry: Registry): RouteClash[] {
  const routes = servedRoutes(served, registry);
  const named = (claimants: readonly ServedRoute[]) => {
    const services = new Set(claimants.map((r) => r.service));
    return (r: ServedRoute) => (services.size > 1 ? `${r.rpc} of service ${r.service ?? "(none)"}` : r.rpc);
  };
  const clashes: RouteClash[] = createRouter(routes).conflicts.map((conflict) => {
    const claimants = [...conflict.shadowed, conflict.serving];
    const name = named(claimants);
    const names = claimants.map((r) => `${name(r)} (${r.path})`).join(", ");
    return {
      conflict: true,
      files: filesOf(claimants),
      acrossServices: new Set(claimants.map((r) => r.service)).size > 1,
      message:
        `${conflict.method} ${conflict.shape} is claimed by ${names}; ` +
        `${name(conflict.serving)} serves it, the others are unreachable`,
    };
  });
  const compiled = routes.map((route) => ({ route, template: compileTemplate(route.path, route.name) }));
  compiled.forEach((earlier, i) => {
    for (const later of compiled.slice(i + 1)) {
      const method = earlier.route.method.toUpperCase();
      if (later.route.method.toUpperCase() !== method || later.template.shape === earlier.template.shape) continue;
      const path = overlappingPath(earlier.template.template, later.template.template);
      if (path === undefined) continue;
      const pair = [earlier.route, later.route];
      const name = named(pair);
      const last = name(later.route);
      const serves =
        later.route.file === earlier.route.file ? `${last}, declared last, serves those` : `${last} serves those`;
      clashes.push({
        conflict: false,
        files: filesOf(pair),
        acrossServices: earlier.route.service !== later.route.service,
        message:
          `${method} ${earlier.route.path} (${name(earlier.route)}) and ${method} ${later.route.path} ` +
          `(${name(later.route)}) both match paths such as ${path}; ${serves}`,
      });
    }
  });
  return clashes;
}

/** A clash as a line: its files, then its message. */
export function clashLine(clash: RouteClash): string {
  return `${clash.files.join(", ")}: ${clash.message}`;
}

/**
 * `tsmicro generate`'s report of clashes: the conflicts fail with one TSM_ERR_ROUTE_CONFLICT naming each under
 * `strict` (as the gateway's --strict_routes refuses the service), else goes to `warn`. An overlap
 * goes to `warn` only when it is between two services, one taking paths of another's; within one
 * service it is often by design (Firestore's, Secret Manager's `:getIamPolicy` beside its Get), and
 * `tsmicro routes` lists it.
 */
export function reportRouteClashes(
  clashes: readonly RouteClash[],
  strict: boolean,
  warn: ((message: string) => void) | undefined,
): void {
  // Every conflict in one error, so one run shows all there are to fix.
  const conflicts = strict ? clashes.filter((clash) => clash.conflict).map(clashLine) : [];
  if (conflicts.length === 1) throw new SetupError("TSM_ERR_ROUTE_CONFLICT", conflicts[0]!, "strict_routes");
  if (conflicts.length > 1)
    throw new SetupError(
      "TSM_ERR_ROUTE_CONFLICT",
      `${conflicts.length} route conflicts: ${conflicts.map((line, i) => `(${i + 1}) ${line}`).join("; ")}`,
      "strict_routes",
    );
  for (const clash of clashes) if (clash.conflict || clash.acrossServices) warn?.(clashLine(clash));
}

function filesOf(routes: readonly ServedRoute[]): string[] {
  return [...new Set(routes.map((r) => r.file))].sort();
}

/** The routes of the served files in the gateway's order. */
function servedRoutes(served: readonly ServedFile[], registry: Registry): ServedRoute[] {
  const services = served.flatMap(({ file, service }) =>
    file.services.map((desc) => ({ desc, file: file.proto.name, service })),
  );
  services.sort(
    (a, b) => (a.service ?? "").localeCompare(b.service ?? "") || a.desc.typeName.localeCompare(b.desc.typeName),
  );
  return services.flatMap(({ desc, file, service }) =>
    desc.methods.flatMap((method) =>
      readHttpRules(registry, method.proto.options).map((rule) => ({
        method: rule.method,
        path: rule.path,
        name: `${desc.typeName}.${method.name}`,
        rpc: `${desc.typeName}.${method.name}`,
        file,
        service,
      })),
    ),
  );
}

/**
 * The routes of a file's methods that stream requests: HTTP/JSON carries one
 * body, so the gateway answers them 501 (and the OpenAPI document lists them
 * as unlisted). A message per route, saying so and what to do.
 */
export function streamedRequestRoutes(file: DescFile, registry: Registry): string[] {
  return file.services.flatMap((service) =>
    service.methods
      .filter((method) => method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming")
      .flatMap((method) =>
        readHttpRules(registry, method.proto.options).map(
          (rule) =>
            `${file.proto.name}: ${rule.method.toUpperCase()} ${rule.path} (${service.typeName}.${method.name}) ` +
            "streams requests, which HTTP/JSON cannot carry: the gateway answers it 501; call the method over gRPC, " +
            "or drop its google.api.http option",
        ),
      ),
  );
}
