import { create, createFileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema, type CodeGeneratorRequest } from "@bufbuild/protobuf/wkt";
import type { GeneratedFile } from "../../generator/generate.js";
import {
  findOrphans,
  planSourceFiles,
  type HandlerCode,
  type Orphan,
  type ScaffoldFile,
} from "../../generator/scaffold/plan-sources.js";
import { buildSourceModel, type SourceModel } from "../../generator/scaffold/source-model.js";
import { renderTemplate, type TemplateSet } from "../../generator/templates.js";
import { generatedHeader } from "../../generator/generate.js";

/** What the protos of a scaffolded project call for, beyond the generated files of each proto. */
export interface SourcePlan {
  readonly model: SourceModel;
  /** User-owned files the protos call for that do not exist yet. */
  readonly missing: readonly ScaffoldFile[];
  /** User files whose rpc, service or entity is gone. */
  readonly orphans: readonly Orphan[];
  /** `src/gen/database.ts`: the project's tables for `Kysely<Database>`, when it has entities. */
  readonly generated: readonly GeneratedFile[];
}

/**
 * Plans the user-owned sources of a scaffolded project from its compiled
 * protos (those `owns` accepts: in a workspace, the service's own folder of
 * the shared protos): `files` lists what the project holds now (relative,
 * `/`-separated), so only missing files are planned and orphans found, and
 * `code` holds its handler files' text (`src/handler/**.ts`), so an rpc
 * served from a file of another name gets no stub and that file is not
 * called orphaned.
 */
export function planProjectSources(
  request: CodeGeneratorRequest,
  templates: TemplateSet,
  { files, code }: { readonly files: readonly string[]; readonly code: HandlerCode },
  version: string,
  owns: (protoFile: string) => boolean = () => true,
  calls: (protoFile: string) => string | undefined = () => undefined,
): SourcePlan {
  const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: request.protoFile }));
  const own = request.fileToGenerate.filter(owns).flatMap((name) => registry.getFile(name) ?? []);
  const called = request.fileToGenerate
    .filter((name) => !owns(name))
    .flatMap((name) => {
      const file = registry.getFile(name);
      const registeredName = calls(name);
      return file && registeredName ? [{ file, registeredName }] : [];
    });
  const model = buildSourceModel(own, registry, called);
  const present = new Set(files);
  const missing = planSourceFiles(model, templates, code).filter((file) => !present.has(file.path));
  const generated: GeneratedFile[] = [];
  if (model.entities.length > 0) {
    const modules = [...new Set(model.entities.map((e) => e.genModule))].map((module) => ({
      module,
      typeName: databaseTypeName(module),
    }));
    generated.push({
      name: "database.ts",
      content: renderTemplate(templates, "project/service/src/gen/database.ts.ejs", {
        header: generatedHeader(version, modules.map((m) => `${m.module}.proto`).join(", ")),
        modules,
      }),
    });
  }
  return { model, missing, orphans: findOrphans(model, files, code), generated };
}

/** The per-file table interface the entity generator names: `user/v1/user` -> `UserDatabase`. */
function databaseTypeName(module: string): string {
  const base = module.slice(module.lastIndexOf("/") + 1);
  return `${base
    .split(/[-_.]/)
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join("")}Database`;
}
