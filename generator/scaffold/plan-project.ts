import { renderTemplate, type TemplateSet } from "../templates.js";
import { plural, type NameForms } from "./names.js";
import { articles } from "./source-model.js";
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
  /** The `--templates` folder it was made with, relative to the project: tsmicro.json keeps it for later generates. */
  readonly templatesDir?: string | undefined;
  /** Set for a service inside a workspace: the shared proto folder (from the service) and the folder of it the service owns. */
  readonly workspace: { readonly protoDir: string; readonly owns: string } | undefined;
  /**
   * Outside a workspace, the folder of `proto/` the project's own protos are in, when they are all in
   * one: tsmicro.json's `owns`, so a proto of another project copied in to call it gets no scaffold.
   */
  readonly owns?: string | undefined;
}

/**
 * The gRPC port inside containers, the gateway's HTTP port in docker-compose, and a service's `/metrics` port:
 * 9464, OpenTelemetry's Prometheus exporter port (9100 would read as node_exporter's).
 */
export const containerPorts = { grpc: 9000, http: 8080, metrics: 9464 } as const;

/**
 * The services a workspace service's compose.yml defines, named after its alias: the service, and for a
 * `--type service` service with an entity (a database) the jobs that create its database and migrate it.
 */
export function composeServiceNames(alias: string): { service: string; database: string; migrate: string } {
  return { service: alias, database: `${alias}-database`, migrate: `${alias}-migrate` };
}

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
    ports: {
      ...containerPorts,
      container: input.type === "web" ? containerPorts.http : containerPorts.grpc,
      // Where Prometheus scrapes /metrics: a web service's HTTP port, else the fixed metrics port.
      scrape: input.type === "web" ? containerPorts.http : containerPorts.metrics,
    },
    json: (value: unknown) => JSON.stringify(value, null, 2).replace(/\n/g, "\n  "),
    firstEntity: input.source.entities[0],
    firstService: input.source.services[0],
    sampleTests: input.sample,
    serviceDir: `services/${input.packageName}`,
    // In a workspace, where the root's docker-compose.yml runs the web gateway.
    webGatewayPort: workspaceGatewayPorts.web,
    // In a workspace, the services of its compose.yml, which tsmicro new checks against the workspace's.
    compose: composeServiceNames(input.alias.kebab),
    // The gateway finds `<namespace>.<alias>` behind `/<alias>/`: a project registered under a namespace names it.
    // The README's example of another project's proto folder: never the project's own name.
    otherFolder: input.owns === "inventory" ? "stock" : "inventory",
    gatewayNamespace:
      input.registeredName === input.alias.kebab
        ? undefined
        : input.registeredName.slice(0, -(input.alias.kebab.length + 1)),
  };
  const type = input.type;
  const files: [string, string][] = [
    ["package.json", `project/${type}/package.json.ejs`],
    ["tsconfig.json", "project/common/tsconfig.json.ejs"],
    ["tsconfig.build.json", "project/common/tsconfig.build.json.ejs"],
    [".gitignore", "project/common/gitignore.ejs"],
    ["README.md", `project/${type}/README.md.ejs`],
    ["src/main.ts", `project/${type}/src/main.ts.ejs`],
    [
      "src/healthcheck.ts",
      type === "web" ? "project/web/src/healthcheck.ts.ejs" : "project/common/src/healthcheck.ts.ejs",
    ],
    ["vitest.config.ts", "project/common/vitest.config.ts.ejs"],
    // In a workspace the image builds from the workspace root, whose .dockerignore Docker reads, not one in
    // services/NAME; compose.yml is the service's part of the root's docker-compose.yml, which includes it.
    ...(input.workspace
      ? ([
          ["Dockerfile", "project/workspace/Dockerfile.ejs"],
          ["compose.yml", "project/workspace/compose.yml.ejs"],
        ] as [string, string][])
      : ([
          [".dockerignore", "project/common/dockerignore.ejs"],
          ["Dockerfile", `project/${type}/Dockerfile.ejs`],
          ["docker-compose.yml", `project/${type}/docker-compose.yml.ejs`],
        ] as [string, string][])),
    ["deploy/k8s/deployment.yaml", "project/common/deploy/k8s/deployment.yaml.ejs"],
    ["deploy/k8s/service.yaml", "project/common/deploy/k8s/service.yaml.ejs"],
    ["deploy/k8s/configmap.yaml", "project/common/deploy/k8s/configmap.yaml.ejs"],
    ["deploy/k8s/hpa.yaml", "project/common/deploy/k8s/hpa.yaml.ejs"],
  ];
  if (type === "web") {
    files.push(
      ["src/routes.ts", "project/web/src/routes.ts.ejs"],
      ["test/web.test.ts", "project/web/test/web.test.ts.ejs"],
    );
  } else {
    // Services and API services have protos: tsmicro.json makes `tsmicro generate` scaffold for them.
    files.push(["tsmicro.json", "project/common/tsmicro.json.ejs"]);
    if (data.firstService) files.push(["test/grpc.test.ts", "project/service/test/grpc.test.ts.ejs"]);
  }
  if (type === "api" && input.sample && data.firstService)
    files.push([`src/handler/${data.firstService.fileName}/hello.ts`, "project/api/src/handler/hello.ts.ejs"]);
  if (type === "service" && data.firstEntity) {
    files.push(["src/migrate.ts", "project/service/src/migrate.ts.ejs"]);
    if (input.sample)
      files.push(
        ["test/repository.test.ts", "project/service/test/repository.test.ts.ejs"],
        ["test/data-service.test.ts", "project/service/test/data-service.test.ts.ejs"],
        ["test/handler.test.ts", "project/service/test/handler.test.ts.ejs"],
      );
  }
  return files.map(([path, template]) => ({
    path,
    content: renderTemplate(templates, template, data),
    why: "the project",
  }));
}

/** The sample proto a new project starts from, when no `--proto` is given: a service with one entity and its standard methods, or an API service with one HTTP route. */
export function sampleProto(input: Pick<ProjectInput, "alias" | "type">, templates: TemplateSet): ScaffoldFile {
  const { alias } = input;
  const entity = {
    ...alias,
    ...articles(alias.pascal),
    plural: plural(alias.pascal),
    camelPlural: plural(alias.camel),
    kebabPlural: plural(alias.kebab),
    snakePlural: plural(alias.snake),
    screaming: alias.snake.toUpperCase(),
  };
  return {
    path: `proto/${alias.snake}/v1/${alias.snake}.proto`,
    content: renderTemplate(templates, `project/${input.type}/proto/sample.proto.ejs`, {
      alias,
      entity,
      protoPackage: `${alias.snake}.v1`,
      service: `${alias.pascal}${input.type === "api" ? "Api" : "Service"}`,
      serviceKebab: `${alias.kebab}-${input.type === "api" ? "api" : "service"}`,
    }),
    why: "the sample proto",
  };
}

/** What `create-tsmicro NAME --workspace` prints: the root of a system of services. */
export interface WorkspaceInput {
  readonly packageName: string;
  readonly devDependencies: Readonly<Record<string, string>>;
  readonly overrides: Readonly<Record<string, string>> | undefined;
  readonly version: string;
  /** tsmicro's packages are tarballs in `vendor/`, which the gateway's image copies. */
  readonly vendored: boolean;
}

/**
 * The ports docker-compose.yml publishes at a workspace root: the HTTP gateway's, and the web gateway's,
 * 8082 as `micro web`'s.
 */
const workspaceGatewayPorts = { http: containerPorts.http, web: 8082 } as const;

/**
 * The files of a workspace root: package.json with `services/*` workspaces, tsmicro.json, README,
 * docker-compose.yml with what the services share, the shared proto folder.
 */
export function planWorkspace(input: WorkspaceInput, templates: TemplateSet): ScaffoldFile[] {
  const data = {
    ...input,
    ports: workspaceGatewayPorts,
    json: (value: unknown) => JSON.stringify(value, null, 2).replace(/\n/g, "\n  "),
  };
  return (
    [
      ["package.json", "project/workspace/package.json.ejs"],
      ["docker-compose.yml", "project/workspace/docker-compose.yml.ejs"],
      ["tsmicro.json", "project/workspace/tsmicro.json.ejs"],
      ["README.md", "project/workspace/README.md.ejs"],
      [".gitignore", "project/workspace/gitignore.ejs"],
      [".dockerignore", "project/workspace/dockerignore.ejs"],
      ["proto/.gitkeep", "project/workspace/gitkeep.ejs"],
    ] as const
  ).map(([path, template]) => ({ path, content: renderTemplate(templates, template, data), why: "the workspace" }));
}
