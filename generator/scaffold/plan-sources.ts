import { renderTemplate, type TemplateSet } from "../templates.js";
import type { EntityScaffold, MethodScaffold, ServiceScaffold, SourceModel } from "./source-model.js";

/** A user-owned file the scaffold creates when it is missing, and never touches again. */
export interface ScaffoldFile {
  /** Relative to the project root, `/`-separated. */
  readonly path: string;
  readonly content: string;
  /** What in the proto it exists for, for the report: `rpc user.v1.UserService/CreateUser`. */
  readonly why: string;
}

/** A user file whose rpc, service or entity is gone from the protos. */
export interface Orphan {
  readonly path: string;
  readonly why: string;
}

const base = "project/service/src";

/**
 * The user-owned source files the protos call for: per service a handler
 * that assembles one file per rpc (standard methods of an entity written in
 * full, others as UNIMPLEMENTED stubs), per entity its model, repository
 * (interface and SQL), data service and error mapping. The caller writes
 * only those that do not exist yet.
 */
export function planSourceFiles(model: SourceModel, templates: TemplateSet): ScaffoldFile[] {
  const files: ScaffoldFile[] = [];
  const render = (path: string, template: string, data: object, why: string) =>
    files.push({ path, content: renderTemplate(templates, `${base}/${template}`, data), why });

  if (model.services.length > 0)
    render(
      "src/handler/dependencies.ts",
      "handler/dependencies.ts.ejs",
      { entities: model.entities, clients: model.clients },
      "the handlers",
    );
  for (const service of model.services) {
    const why = `service ${service.name}`;
    render(`src/handler/${service.fileName}.ts`, "handler/service.ts.ejs", { service }, why);
    for (const method of service.methods) {
      const entity = method.crud?.entity;
      render(
        methodPath(service, method),
        `handler/method-${method.crud?.verb ?? "stub"}.ts.ejs`,
        { service, method, entity },
        `rpc ${method.fullName}`,
      );
    }
  }
  for (const entity of model.entities) {
    const why = `entity ${entity.name}`;
    const data = { entity, assigned: assignedFields(entity) };
    for (const [path, template] of entityFiles(entity)) render(path, template, data, why);
  }
  return files;
}

/**
 * User files left behind by what the protos no longer declare: a file in
 * `src/handler/<service>/` that is no rpc of the service, the handler of a
 * service that is gone, and the domain files of a removed entity. `files`
 * lists the project's files (relative, `/`-separated).
 */
export function findOrphans(model: SourceModel, files: readonly string[]): Orphan[] {
  const present = new Set(files);
  const orphans: Orphan[] = [];
  const services = new Map(model.services.map((s) => [s.fileName, s]));
  for (const path of files) {
    const match = /^src\/handler\/([^/]+)\/([^/]+)\.ts$/.exec(path);
    if (!match) continue;
    const [, folder, file] = match as unknown as [string, string, string];
    // A test beside the handlers (get-user.test.ts) is no rpc's file.
    if (file.includes(".")) continue;
    const service = services.get(folder);
    if (service && !service.methods.some((m) => m.fileName === file))
      orphans.push({ path, why: `no rpc of ${service.name} is written here any more` });
    else if (!service && present.has(`src/handler/${folder}.ts`))
      orphans.push({ path, why: `service of src/handler/${folder}.ts is gone from the protos` });
  }
  for (const path of files) {
    const folder = /^src\/handler\/([^/]+)\.ts$/.exec(path)?.[1];
    if (folder && !services.has(folder) && files.some((f) => f.startsWith(`src/handler/${folder}/`)))
      orphans.push({ path, why: "its service is gone from the protos" });
  }
  const entities = new Set(model.entities.map((e) => e.fileName));
  for (const path of files) {
    const name = /^src\/domain\/repository\/sql-(.+)-repository\.ts$/.exec(path)?.[1];
    if (!name || entities.has(name)) continue;
    const gone = entityFiles({ fileName: name } as EntityScaffold).map(([p]) => p);
    for (const p of gone.filter((f) => present.has(f)))
      orphans.push({ path: p, why: `its entity, ${name}, is gone from the protos` });
  }
  return orphans.sort((a, b) => a.path.localeCompare(b.path));
}

function methodPath(service: ServiceScaffold, method: MethodScaffold): string {
  return `src/handler/${service.fileName}/${method.fileName}.ts`;
}

function entityFiles(entity: Pick<EntityScaffold, "fileName">): [string, string][] {
  const name = entity.fileName;
  return [
    [`src/domain/model/${name}.ts`, "domain/model/entity.ts.ejs"],
    [`src/domain/repository/${name}-repository.ts`, "domain/repository/entity-repository.ts.ejs"],
    [`src/domain/repository/sql-${name}-repository.ts`, "domain/repository/sql-entity-repository.ts.ejs"],
    [`src/domain/service/${name}-data-service.ts`, "domain/service/entity-data-service.ts.ejs"],
    [`src/handler/${name}-errors.ts`, "handler/entity-errors.ts.ejs"],
  ];
}

/** Fields the data service or the database sets, which callers cannot. */
function assignedFields(entity: EntityScaffold): string[] {
  const key = entity.assignsKey || entity.numbersKey ? entity.key.field : undefined;
  return [key, entity.createTime, entity.updateTime].filter((f): f is string => f !== undefined);
}
