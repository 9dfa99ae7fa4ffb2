import type { DescFile, Registry } from "@bufbuild/protobuf";
import { createRouter, readHttpRules } from "@tsmicro/runtime/routing";

/**
 * The route conflicts among a file's `google.api.http` bindings: two methods claiming the same
 * HTTP method and path shape, such as etcd's `Maintenance.Hash` and `Maintenance.HashKV` on
 * `POST /v3/maintenance/hash`. Each message names every claimant and the one that serves the
 * route, by the gateway's rule (grpc-gateway v2's: the last one declared).
 */
export function routeConflicts(file: DescFile, registry: Registry): string[] {
  const routes = file.services.flatMap((service) =>
    service.methods.flatMap((method) =>
      readHttpRules(registry, method.proto.options).map((rule) => ({
        method: rule.method,
        path: rule.path,
        name: `${service.typeName}.${method.name}`,
      })),
    ),
  );
  return createRouter(routes).conflicts.map((conflict) => `${file.proto.name}: ${conflict.message}`);
}
