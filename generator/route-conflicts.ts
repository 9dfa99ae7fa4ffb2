import type { DescFile, Registry } from "@bufbuild/protobuf";
import {
  compileTemplate,
  createRouter,
  overlappingPath,
  readHttpRules,
  type RouteDefinition,
} from "@tsmicro/runtime/routing";

/**
 * The route conflicts among a file's `google.api.http` bindings: two methods claiming the same
 * HTTP method and path shape, such as etcd's `Maintenance.Hash` and `Maintenance.HashKV` on
 * `POST /v3/maintenance/hash`. Each message names every claimant and the one that serves the
 * route, by the gateway's rule (grpc-gateway v2's: the last one declared).
 */
export function routeConflicts(file: DescFile, registry: Registry): string[] {
  return createRouter(fileRoutes(file, registry)).conflicts.map(
    (conflict) => `${file.proto.name}: ${conflict.message}`,
  );
}

/**
 * Pairs of a file's routes with one HTTP method whose templates differ but match some paths in
 * common, such as Firestore's GetDocument `/v1/{name=projects/*\/databases/*\/documents/*\/**}` and
 * ListDocuments `/v1/{parent=projects/*\/databases/*\/documents/*\/**}/{collection_id}`. Each message
 * names both, a path they share and the one that serves such paths (the last declared, as in
 * grpc-gateway). Routes of the same shape are routeConflicts'.
 */
export function routeOverlaps(file: DescFile, registry: Registry): string[] {
  const routes = fileRoutes(file, registry).map((route) => ({
    route,
    compiled: compileTemplate(route.path, route.name),
  }));
  const messages: string[] = [];
  routes.forEach((earlier, i) => {
    for (const later of routes.slice(i + 1)) {
      const method = earlier.route.method.toUpperCase();
      if (later.route.method.toUpperCase() !== method || later.compiled.shape === earlier.compiled.shape) continue;
      const path = overlappingPath(earlier.compiled.template, later.compiled.template);
      if (path === undefined) continue;
      messages.push(
        `${file.proto.name}: ${method} ${earlier.route.path} (${earlier.route.name}) and ${method} ` +
          `${later.route.path} (${later.route.name}) both match paths such as ${path}; ` +
          `${later.route.name}, declared last, serves those`,
      );
    }
  });
  return messages;
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

function fileRoutes(file: DescFile, registry: Registry): RouteDefinition[] {
  return file.services.flatMap((service) =>
    service.methods.flatMap((method) =>
      readHttpRules(registry, method.proto.options).map((rule) => ({
        method: rule.method,
        path: rule.path,
        name: `${service.typeName}.${method.name}`,
      })),
    ),
  );
}
