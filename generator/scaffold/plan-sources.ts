import { renderTemplate, type TemplateSet } from "../templates.js";
import type { EntityScaffold, MethodScaffold, ServiceScaffold, SourceModel } from "./source-model.js";
import { withoutComments } from "./without-comments.js";

/** A user-owned file the scaffold creates when it is missing, and never touches again. */
export interface ScaffoldFile {
  /** Relative to the project root, `/`-separated. */
  readonly path: string;
  readonly content: string;
  /** What in the proto it exists for, for the report: `rpc user.v1.UserService/CreateUser`. */
  readonly why: string;
  /** For an rpc's stub: the file of the handler object that serves it (see handlerObjectPath), where it is to be added. */
  readonly wiredIn?: string;
}

/** A user file whose rpc, service or entity is gone from the protos. */
export interface Orphan {
  readonly path: string;
  readonly why: string;
}

/**
 * The text of the user's handler files (`src/handler/**.ts`), by path relative to the project: the
 * caller reads them, since the generator reads no files. How an rpc written under another name is found.
 */
export type HandlerCode = ReadonlyMap<string, string>;

const base = "project/service/src";

/**
 * The user-owned source files the protos call for: per service a handler
 * that assembles one file per rpc (standard methods of an entity written in
 * full, others as UNIMPLEMENTED stubs), per entity its model, repository
 * (interface and SQL), data service and error mapping. The caller writes
 * only those that do not exist yet. An rpc the user's `code` already serves
 * from another file (see {@link servesRpc}) gets no stub.
 */
export function planSourceFiles(
  model: SourceModel,
  templates: TemplateSet,
  code: HandlerCode = new Map(),
): ScaffoldFile[] {
  const files: ScaffoldFile[] = [];
  const render = (path: string, template: string, data: object, why: string, wiredIn?: string) =>
    files.push({
      path,
      content: renderTemplate(templates, `${base}/${template}`, data),
      why,
      ...(wiredIn === undefined ? {} : { wiredIn }),
    });

  if (model.services.length > 0)
    render(
      "src/handler/dependencies.ts",
      "handler/dependencies.ts.ejs",
      { entities: model.entities, clients: model.clients },
      "the handlers",
    );
  for (const service of model.services) {
    const why = `service ${service.name}`;
    const handlerPath = handlerObjectPath(service, code);
    // Made when missing, but for a handler object the user moved: a second one would import stubs folded away since.
    if (handlerPath === defaultHandlerPath(service)) render(handlerPath, "handler/service.ts.ejs", { service }, why);
    for (const method of service.methods) {
      if (servesRpc(service, method, code)) continue;
      const entity = method.crud?.entity;
      const { path, taken } = stubPath(service, method, code);
      render(
        path,
        `handler/method-${method.crud?.verb ?? "stub"}.ts.ejs`,
        { service, method, entity },
        `rpc ${method.fullName}${taken ? `; ${taken} is a file of yours, not the rpc's` : ""}`,
        handlerPath,
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
 * `src/handler/<service>/` typed as a method of the handler
 * (`UserServiceHandler["getUser"]`) of no rpc the service has now, the handler
 * of a service that is gone, and the domain files of a removed entity. `files`
 * lists the project's files (relative, `/`-separated); `code` holds the
 * handler files' text. A file of the folder named after an rpc, or typed as
 * one, is that rpc's, whatever its name; one typed as no rpc is a helper.
 */
export function findOrphans(model: SourceModel, files: readonly string[], code: HandlerCode = new Map()): Orphan[] {
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
    if (service && !service.methods.some((m) => m.fileName === file) && !servesNoLiveRpc(service, code.get(path)))
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

/**
 * True when the user's code serves `method` from other than its stub's file, so that no stub is
 * written for it. The service's handler object (`src/handler/<service>.ts`) decides first: while it
 * imports the stub's module, the stub is needed. Otherwise the rpc is served when a file of the
 * service's handler folder is typed as it (`OrderServiceHandler["getOrder"]`: a stub renamed, or
 * its code moved, keeps that type, which the type checker holds to the rpc, as it does not a
 * comment), or when the handler object names it as a key (written inline). An rpc new to the proto
 * is neither, and gets its stub.
 */
export function servesRpc(service: ServiceScaffold, method: MethodScaffold, code: HandlerCode): boolean {
  const handler = withoutComments(code.get(handlerObjectPath(service, code)) ?? "");
  if (importsStub(handler, service, method)) return false;
  const folder = `src/handler/${service.fileName}/`;
  for (const [path, text] of code) {
    const file = path.startsWith(folder) ? path.slice(folder.length, -".ts".length) : undefined;
    if (file === undefined || file.includes("/") || file.includes(".")) continue;
    if (handlerMarkers(text).some((m) => m.type === service.handlerType && m.method === method.localName)) return true;
  }
  return new RegExp(`(^|[{,])\\s*(async\\s+)?\\*?\\s*${escaped(method.localName)}\\s*[:(]`, "m").test(handler);
}

/**
 * The file of `service`'s handler object: `src/handler/<service>.ts`, or, when that is missing, the
 * file of src/handler/ that defines its factory (`createOrderServiceHandler`), as one renamed with
 * `git mv` does. Only files beside the default one count, as the stubs' imports (`./order-service/…`) hold there.
 */
export function handlerObjectPath(service: ServiceScaffold, code: HandlerCode): string {
  const path = defaultHandlerPath(service);
  if (code.has(path)) return path;
  const defines = new RegExp(`\\b(function\\s*\\*?\\s*|(const|let|var)\\s+)${escaped(service.factoryName)}\\b`);
  for (const [other, text] of code)
    if (/^src\/handler\/[^/]+\.ts$/.test(other) && defines.test(withoutComments(text))) return other;
  return path;
}

function defaultHandlerPath(service: ServiceScaffold): string {
  return `src/handler/${service.fileName}.ts`;
}

/**
 * True when a file of `service`'s handler folder, whose code is `text`, is no orphan: it is typed
 * as no handler method (a helper of the user's beside the handlers), or as one of an rpc the
 * service has now. A file not read counts as a helper.
 */
function servesNoLiveRpc(service: ServiceScaffold, text: string | undefined): boolean {
  const markers = handlerMarkers(text ?? "");
  return (
    markers.length === 0 ||
    markers.some((m) => m.type === service.handlerType && service.methods.some((x) => x.localName === m.method))
  );
}

/** The handler methods a file's code is typed as: `UserServiceHandler["getUser"]`. */
function handlerMarkers(text: string): { type: string; method: string }[] {
  return [...withoutComments(text).matchAll(/\b(\w+Handler)\[\s*["'](\w+\$?)["']\s*\]/g)].map((m) => ({
    type: m[1]!,
    method: m[2]!,
  }));
}

function escaped(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function methodPath(service: ServiceScaffold, method: MethodScaffold, suffix = ""): string {
  return `src/handler/${service.fileName}/${method.fileName}${suffix}.ts`;
}

/**
 * Where a new rpc's stub goes: its own file, unless a file of the user's that is not the rpc's is
 * there (a helper named like an rpc added later: `audit.ts`, then `rpc Audit`), which would
 * otherwise leave the rpc without a stub, unsaid; then beside it (`audit-rpc.ts`), naming it as
 * `taken`. Called for an rpc no file is typed as (see servesRpc), so a file there is the rpc's
 * only when the handler object imports it.
 */
function stubPath(
  service: ServiceScaffold,
  method: MethodScaffold,
  code: HandlerCode,
): { path: string; taken?: string } {
  const path = methodPath(service, method);
  const handler = withoutComments(code.get(handlerObjectPath(service, code)) ?? "");
  return !code.has(path) || importsStub(handler, service, method)
    ? { path }
    : { path: methodPath(service, method, "-rpc"), taken: path };
}

/** True when the handler object's code (comments left out) imports `method`'s stub module. */
function importsStub(handler: string, service: ServiceScaffold, method: MethodScaffold): boolean {
  const stub = escaped(`./${service.fileName}/${method.fileName}`);
  return new RegExp(`from\\s*["']${stub}(\\.js|\\.ts)?["']`).test(handler);
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
