import type { DescFile, FileRegistry, JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { BackendService } from "./backend-catalogue.js";

/** Builds the OpenAPI document of one proto file; `tsmicro api` passes the generator's. */
export type OpenApiBuilder = (file: DescFile, registry: FileRegistry) => JsonObject;

/** The merged OpenAPI 3.1 document of every routed service, paths under the prefix, with their events as webhooks. */
export function mergeOpenApi(services: readonly BackendService[], build: OpenApiBuilder, prefix: string): JsonObject {
  const paths: Record<string, JsonValue> = {};
  const schemas: Record<string, JsonValue> = {};
  const webhooks: Record<string, JsonValue> = {};
  const seen = new Set<string>();
  for (const service of [...services].sort((a, b) => a.name.localeCompare(b.name))) {
    for (const typeName of service.typeNames) {
      const registry = service.descriptors.get(typeName);
      const file = registry?.getService(typeName)?.file;
      if (!registry || !file || seen.has(file.name)) continue;
      seen.add(file.name);
      const document = build(file, registry);
      for (const [path, item] of Object.entries((document.paths ?? {}) as JsonObject)) paths[`${prefix}${path}`] = item;
      const components = (document.components ?? {}) as JsonObject;
      Object.assign(schemas, (components.schemas ?? {}) as JsonObject);
      Object.assign(webhooks, (document.webhooks ?? {}) as JsonObject);
    }
  }
  return {
    openapi: "3.1.0",
    info: { title: "tsmicro gateway", version: "1.0.0" },
    paths,
    ...(Object.keys(webhooks).length > 0 ? { webhooks } : {}),
    components: { schemas },
  };
}
