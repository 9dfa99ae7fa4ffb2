import { createFileRegistry, create } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { readHttpRules } from "@tsmicro/runtime/routing";

/** One `google.api.http` binding of a method. */
export interface RouteEntry {
  /** `GET`, `POST`, … or a custom kind, as written. */
  readonly method: string;
  /** The path template as written, such as `/v1/{name=shelves/*}:publish`. */
  readonly path: string;
  /** `package.Service.Method`. */
  readonly rpc: string;
}

/**
 * The annotated routes of the named files' services, additional bindings
 * included, sorted by path, then HTTP method, then RPC. Methods without
 * bindings (served only on the default routes) are left out.
 */
export function listRoutes(protoFiles: readonly FileDescriptorProto[], fileNames: readonly string[]): RouteEntry[] {
  const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: [...protoFiles] }));
  const routes = fileNames.flatMap((name) =>
    (registry.getFile(name)?.services ?? []).flatMap((service) =>
      service.methods.flatMap((method) =>
        readHttpRules(registry, method.proto.options).map((rule) => ({
          method: rule.method,
          path: rule.path,
          rpc: `${service.typeName}.${method.name}`,
        })),
      ),
    ),
  );
  const key = (r: RouteEntry) => [r.path, r.method, r.rpc];
  return routes.sort((a, b) => compareKeys(key(a), key(b)));
}

function compareKeys(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < a.length; i++) {
    const [x, y] = [a[i] ?? "", b[i] ?? ""];
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
