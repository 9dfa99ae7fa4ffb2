import { create, createFileRegistry, type FileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema, type CodeGeneratorRequest } from "@bufbuild/protobuf/wkt";
import { parseGeneratorOptions } from "../../generator/options.js";
import { reportRouteClashes, routeClashes, type RouteClash, type ServedFile } from "../../generator/route-conflicts.js";
import { enclosingWorkspace, ownedBy, readProjectConfig, workspaceServices } from "./workspace.js";

/** A service that one gateway serves: its registered name and the folders of the shared protos it owns (all: undefined). */
interface Server {
  readonly name: string | undefined;
  readonly owns: readonly string[] | undefined;
}

/**
 * What the routes of the project at `root` are checked against: the protos served with its own. One
 * gateway serves every service of a workspace, so there it is each service's own protos, named by the
 * service (at the workspace root: all of them); elsewhere the project's own (all, unless tsmicro.json
 * says `owns`). `mine` is the part of them that is the project's: clashes must involve it.
 */
export async function servedWith(root: string): Promise<Served> {
  const config = await readProjectConfig(root);
  const workspace = await enclosingWorkspace(root);
  if (workspace === undefined)
    return { servers: [{ name: config?.name, owns: config?.owns }], mine: ownedBy(config?.owns) };
  const servers: Server[] = [];
  for (const dir of await workspaceServices(workspace)) {
    const service = await readProjectConfig(dir);
    if (service?.type !== "web") servers.push({ name: service?.name, owns: service?.owns });
  }
  return { servers, mine: workspace === root ? () => true : ownedBy(config?.owns) };
}

/** Who serves which protos, and which of them are the project's own (see servedWith). */
export interface Served {
  readonly servers: readonly Server[];
  readonly mine: (file: string) => boolean;
}

/**
 * `tsmicro generate`'s route check in a project: the clashes of the request's files, served as `served`
 * says, go to `warn`, or fail under the request's `strict_routes` (a conflict; overlaps are warned about).
 */
export function checkServedRoutes(
  request: CodeGeneratorRequest,
  served: Served,
  warn: (message: string) => void,
): void {
  const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: request.protoFile }));
  const strict = parseGeneratorOptions(request.parameter ?? "").strictRoutes;
  reportRouteClashes(servedClashes(request.fileToGenerate, registry, served), strict, warn);
}

/**
 * The route clashes among `files` (as compiled into `registry`) that involve `mine`, each file served by
 * the server owning it (one that owns a folder of proto/ before one taking every proto); files no server
 * owns are served by none, so are left out.
 */
export function servedClashes(
  files: readonly string[],
  registry: FileRegistry,
  { servers, mine }: Served,
): RouteClash[] {
  const owners = [...servers].sort((a, b) => Number(a.owns === undefined) - Number(b.owns === undefined));
  const served: ServedFile[] = files.flatMap((name) => {
    const file = registry.getFile(name);
    const owner = owners.find((server) => ownedBy(server.owns)(name));
    return file && owner ? [{ file, service: owner.name }] : [];
  });
  return routeClashes(served, registry).filter((clash) => clash.files.some(mine));
}
