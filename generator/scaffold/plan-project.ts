import { renderTemplate, type TemplateSet } from "../templates.js";
import { plural, type NameForms } from "./names.js";
import type { ScaffoldFile } from "./plan-sources.js";
import type { SourceModel } from "./source-model.js";

/** What `tsmicro new` makes: a gRPC service with domain layers, an HTTP edge service, or a web service. */
export type ProjectType = "service" | "api" | "web";

/** Everything the project templates print; the CLI gathers it (versions, package specs), this module lays it out. */
export interface ProjectInput {
  /** The npm package name and folder name. */
  readonly packageName: string;
  /** The service's short name (`--alias`, default the project name). */
  readonly alias: NameForms;
  /** The registered name: `<namespace>.<type>.<alias>` with `--namespace`, else the alias. */
  readonly registeredName: string;
  readonly type: ProjectType;
  /** The embedded database (PGlite) or PostgreSQL by `DATABASE_URL`. */
  readonly db: "pglite" | "postgres";
  readonly dependencies: Readonly<Record<string, string>>;
  readonly devDependencies: Readonly<Record<string, string>>;
  /** npm overrides, so tsmicro's own dependency on the runtime resolves to the project's copy. */
  readonly overrides: Readonly<Record<string, string>> | undefined;
  /** The project's protos, relative to `proto/`. */
  readonly protoFiles: readonly string[];
  /** The services and entities those protos declare. */
  readonly source: SourceModel;
  /** tsmicro's version, for the README. */
  readonly version: string;
  /** tsmicro's packages are tarballs in `vendor/` (made from a source checkout), which the Dockerfile copies. */
  readonly vendored: boolean;
  /** The project starts from the sample proto, whose fields the sample tests use. */
  readonly sample: boolean;
}

/** The gRPC port inside containers, and the gateway's HTTP port in docker-compose. */
export const containerPorts = { grpc: 9000, http: 8080 } as const;

/**
 * The project-wide files `tsmicro new` writes once: package.json, tsconfig,
 * README, tsmicro.json, main.ts and the scripts beside it, tests,
 * Dockerfile, docker-compose.yml and deploy/k8s. The proto, the generated
 * code, the per-rpc and per-entity sources and the first migration come
 * from the same steps `tsmicro generate` runs.
 */
export function planProject(input: ProjectInput, templates: TemplateSet): ScaffoldFile[] {
  const data = {
    ...input,
    ports: containerPorts,
    json: (value: unknown) => JSON.stringify(value, null, 2).replace(/\n/g, "\n  "),
    firstEntity: input.source.entities[0],
    firstService: input.source.services[0],
    sampleTests: input.sample,
  };
  const files: [string, string][] = [
    ["package.json", `project/${input.type}/package.json.ejs`],
    ["tsconfig.json", "project/common/tsconfig.json.ejs"],
    ["tsconfig.build.json", "project/common/tsconfig.build.json.ejs"],
    ["tsmicro.json", "project/common/tsmicro.json.ejs"],
    [".gitignore", "project/common/gitignore.ejs"],
    [".dockerignore", "project/common/dockerignore.ejs"],
    ["README.md", `project/${input.type}/README.md.ejs`],
    ["src/main.ts", `project/${input.type}/src/main.ts.ejs`],
    ["src/healthcheck.ts", "project/common/src/healthcheck.ts.ejs"],
    ["Dockerfile", `project/${input.type}/Dockerfile.ejs`],
    ["docker-compose.yml", `project/${input.type}/docker-compose.yml.ejs`],
    ["deploy/k8s/deployment.yaml", "project/common/deploy/k8s/deployment.yaml.ejs"],
    ["deploy/k8s/service.yaml", "project/common/deploy/k8s/service.yaml.ejs"],
    ["deploy/k8s/configmap.yaml", "project/common/deploy/k8s/configmap.yaml.ejs"],
    ["deploy/k8s/hpa.yaml", "project/common/deploy/k8s/hpa.yaml.ejs"],
  ];
  if (input.type === "service") {
    files.push(["src/migrate.ts", "project/service/src/migrate.ts.ejs"]);
    files.push(["vitest.config.ts", "project/service/vitest.config.ts.ejs"]);
    if (data.firstEntity && input.sample) {
      files.push(
        ["test/repository.test.ts", "project/service/test/repository.test.ts.ejs"],
        ["test/data-service.test.ts", "project/service/test/data-service.test.ts.ejs"],
        ["test/handler.test.ts", "project/service/test/handler.test.ts.ejs"],
      );
    }
    if (data.firstService) files.push(["test/grpc.test.ts", "project/service/test/grpc.test.ts.ejs"]);
  }
  return files.map(([path, template]) => ({
    path,
    content: renderTemplate(templates, template, data),
    why: "the project",
  }));
}

/** The sample proto a new service starts from, when no `--proto` is given: one entity with its standard methods. */
export function sampleProto(input: Pick<ProjectInput, "alias">, templates: TemplateSet): ScaffoldFile {
  const { alias } = input;
  const entity = {
    ...alias,
    plural: plural(alias.pascal),
    camelPlural: plural(alias.camel),
    kebabPlural: plural(alias.kebab),
    snakePlural: plural(alias.snake),
    screaming: alias.snake.toUpperCase(),
  };
  const protoPackage = `${alias.snake}.v1`;
  return {
    path: `proto/${alias.snake}/v1/${alias.snake}.proto`,
    content: renderTemplate(templates, "project/service/proto/entity.proto.ejs", {
      entity,
      protoPackage,
      service: `${alias.pascal}Service`,
      serviceKebab: `${alias.kebab}-service`,
    }),
    why: "the sample proto",
  };
}
