import { createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { resolve } from "node:path";
import { isSetupError } from "@tsmicro/runtime/errors";
import { clashLine, routeClashes, streamedRequestRoutes } from "../../generator/route-conflicts.js";
import { checkRouteFields } from "../../generator/route-fields.js";
import { listRoutes, type RouteEntry } from "../../generator/route-table.js";
import { buildImage, protoPathIn, referencePath } from "./buf-image.js";
import { defaultProtoDir, listProtos } from "./generate-command.js";
import { servedClashes, servedWith } from "./served-routes.js";
import { ownedBy, readProjectConfig } from "./workspace.js";

/**
 * `tsmicro routes`: the project's `google.api.http` routes, one line each
 * (HTTP method, path template, `package.Service.Method`), sorted by path.
 * It compiles the proto folder as `tsmicro generate` does rather than
 * reading `src/gen`, so the table is right even before regenerating. Routes
 * that claim the same paths, wholly or in part, are warned about, among all
 * the protos one gateway serves with the project's (in a workspace, every
 * service's), and so is a route naming a field its message lacks (which
 * fails `tsmicro generate`).
 */
export async function routesCommand(given: string | undefined, warn: (message: string) => void): Promise<string> {
  const { proto, owns } = given === undefined ? await projectProtos(process.cwd()) : { proto: given, owns: undefined };
  const protoDir = resolve(proto);
  const all = await listProtos(protoDir, proto);
  const files = all.filter(ownedBy(owns));
  const image = fromBinary(FileDescriptorSetSchema, await buildImage(protoDir, referencePath(protoDir)));
  const routes = listRoutes(image.file, files);
  if (routes.length === 0) return `no routes: no method in ${proto} has a google.api.http option\n`;
  const registry = createFileRegistry(image);
  for (const name of files) {
    const file = registry.getFile(name);
    if (!file) continue;
    fieldProblem(() => checkRouteFields(file, registry, protoPathIn(protoDir)), warn);
    streamedRequestRoutes(file, registry).forEach(warn);
  }
  const clashes =
    given === undefined
      ? servedClashes(all, registry, await servedWith(process.cwd()))
      : routeClashes(
          files.flatMap((name) => registry.getFile(name) ?? []).map((file) => ({ file })),
          registry,
        );
  clashes.map(clashLine).forEach(warn);
  return formatRoutes(routes);
}

/**
 * The proto folder of the project in `dir` (its tsmicro.json's, so a
 * workspace service reads the workspace's shared folder) and, in a
 * workspace, the part of it that is the service's own; `proto` elsewhere.
 */
async function projectProtos(dir: string): Promise<{ proto: string; owns: readonly string[] | undefined }> {
  const config = await readProjectConfig(dir);
  if (config === undefined) return { proto: defaultProtoDir(dir), owns: undefined };
  return { proto: config.proto ?? "proto", owns: config.owns };
}

/** Passes what `check` refuses with to `warn`; a template off the grammar leaves no table to print, and fails. */
function fieldProblem(check: () => void, warn: (message: string) => void): void {
  try {
    check();
  } catch (error) {
    if (!isSetupError(error) || error.code === "TSM_ERR_HTTP_TEMPLATE") throw error;
    warn(error.message);
  }
}

/** Aligns the route table in columns; lines end in the RPC, so no trailing spaces. */
export function formatRoutes(routes: readonly RouteEntry[]): string {
  const methodWidth = Math.max(...routes.map((r) => r.method.length));
  const pathWidth = Math.max(...routes.map((r) => r.path.length));
  return routes.map((r) => `${r.method.padEnd(methodWidth)}  ${r.path.padEnd(pathWidth)}  ${r.rpc}\n`).join("");
}
