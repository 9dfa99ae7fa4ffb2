import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { serviceFlagNames } from "@tsmicro/runtime/internal";
import { replayDockerfile } from "./support/dockerfile.js";
import { etcdProgram, startEtcdCluster } from "./support/etcd.js";
import { gatewayHealthcheck } from "./support/gateway-healthcheck.js";
import { freePort } from "./support/ports.js";
import { postgresBinDir, startPostgres } from "./support/postgres.js";
import { inProject, runCreate, startBackground, stopAllBackground } from "./support/project.js";

/** What a test reads of a compose file's service. */
interface ComposeService {
  readonly build?: { readonly context: string; readonly dockerfile?: string; readonly dockerfile_inline?: string };
  readonly command?: string[];
  readonly environment?: Record<string, string>;
  readonly depends_on?: Record<string, { condition: string }>;
  readonly healthcheck?: { readonly test?: string[] };
}

/** A compose file as parsed: its include list and services. */
interface ComposeFile {
  readonly include?: string[];
  readonly services: Record<string, ComposeService>;
}

/**
 * The services `docker compose up` runs from the root's docker-compose.yml with `includes` listed under
 * include:, as Compose merges them: each file's build contexts resolved from its own folder, and a
 * name two files define stopping it (as Compose's "conflicts with imported resource").
 */
async function composeModel(root: string, includes: readonly string[]): Promise<Map<string, ComposeService>> {
  const services = new Map<string, ComposeService>();
  for (const file of ["docker-compose.yml", ...includes]) {
    const parsed = parseYaml(await readFile(join(root, file), "utf8")) as ComposeFile;
    for (const [name, service] of Object.entries(parsed.services)) {
      if (services.has(name)) throw new Error(`${file}: services.${name} conflicts with imported resource`);
      const context = service.build && resolve(root, dirname(file), service.build.context);
      services.set(name, service.build ? { ...service, build: { ...service.build, context: context! } } : service);
    }
  }
  return services;
}

// A system of services as a new user builds one: a workspace, a gRPC
// service with a database, an API service that calls it through its
// generated client, and a web service, with one install and one npm test.
let work = "";
let root = "";
let env: Record<string, string> = {};
/** What `tsmicro new order`, made after the API service, printed. */
let orderMade = "";
const minutes = 60_000;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "tsmicro-workspace-"));
  root = join(work, "shop");
  env = { TSMICRO_REGISTRY: "local", TSMICRO_REGISTRY_ADDRESS: join(work, "registry") };
  const created = await runCreate(["shop", "--workspace", "--no-install"], work);
  expect(created.code, created.stderr).toBe(0);
  for (const [args, from] of [
    [["user", "--no-install"], root],
    [["edge", "--type", "api", "--no-install"], root],
    // From a service's folder, the new service still goes to the workspace's services/.
    [["site", "--type", "web", "--no-install"], join(root, "services/user")],
    [["order", "--no-install"], root],
  ] as const) {
    // tsmicro new inside the workspace, through the same entry point as create-tsmicro.
    const made = await runCreate([...args], from);
    expect(made.code, made.stderr + made.stdout).toBe(0);
    if (args[0] === "order") orderMade = made.stdout;
  }
  const install = await inProject(root, "npm", ["install", "--no-audit", "--no-fund"]);
  expect(install.code, install.stderr).toBe(0);
}, 10 * minutes);

afterAll(async () => {
  await stopAllBackground();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("a --workspace system", () => {
  it("puts each service in services/ and every proto in the shared proto/", async () => {
    const edgeDeps = await readFile(join(root, "services/edge/src/handler/dependencies.ts"), "utf8");
    expect(edgeDeps).toContain("readonly userService: UserServiceClient;");
    const edgeMain = await readFile(join(root, "services/edge/src/main.ts"), "utf8");
    expect(edgeMain).toContain('userService: service.client(UserServiceDefinition, "user")');
    // A service made after the API service: generate gave the API its client, and tsmicro new says how to wire it.
    expect(existsSync(join(root, "services/edge/src/gen/order/v1/order.micro.ts"))).toBe(true);
    expect(edgeMain).not.toContain("OrderService");
    expect(orderMade).toContain("to call order from services/edge (its client is in services/edge/src/gen/):");
    expect(orderMade).toContain('and in deps: orderService: service.client(OrderServiceDefinition, "order"),');
    expect(orderMade).toContain("and in Dependencies: readonly orderService: OrderServiceClient;");
    const userConfig = JSON.parse(await readFile(join(root, "services/user/tsmicro.json"), "utf8")) as object;
    expect(userConfig).toMatchObject({ proto: "../../proto", owns: "user" });
    // Each service's README describes it where it is: protos, image and observability/ at the workspace root.
    const userReadme = await readFile(join(root, "services/user/README.md"), "utf8");
    expect(userReadme).toContain("`../../proto/user/` (the workspace's)");
    expect(userReadme).toContain("docker build -f services/user/Dockerfile -t user:0.1.0 .");
    expect(userReadme).toContain("cd ../../observability");
    expect(existsSync(join(root, "observability/prometheus.yml"))).toBe(true);
    // tsmicro routes in a service's folder reads the shared protos, and lists the service's own routes.
    const routes = await inProject(join(root, "services/edge"), "npx", ["tsmicro", "routes"]);
    expect(routes.code, routes.stderr).toBe(0);
    expect(routes.stdout).toContain("/edge/hello/");
    expect(routes.stdout).not.toContain("/v1/users");
    for (const name of ["user", "edge", "site"]) {
      const readme = await readFile(join(root, `services/${name}/README.md`), "utf8");
      // A service's part of docker compose up is its compose.yml, which the root's includes.
      expect(readme, name).toContain("`compose.yml`");
      expect(existsSync(join(root, `services/${name}/docker-compose.yml`)), name).toBe(false);
    }
    // Prometheus scrapes each pod where it serves /metrics: the metrics port, a web service's HTTP port.
    for (const [name, port] of [
      ["user", 9464],
      ["site", 8080],
    ] as const) {
      const deployment = await readFile(join(root, `services/${name}/deploy/k8s/deployment.yaml`), "utf8");
      expect(deployment, name).toContain(`prometheus.io/port: "${port}"`);
      const dockerfile = await readFile(join(root, `services/${name}/Dockerfile`), "utf8");
      expect(dockerfile.includes("TSMICRO_METRICS_ADDRESS=0.0.0.0:9464"), name).toBe(name === "user");
    }
    // A proto removed from the shared folder: each service's generate names the files that went with it.
    const extra = join(root, "proto/user/v1/extra.proto");
    await writeFile(extra, 'syntax = "proto3";\npackage user.v1;\nmessage Extra {}\n');
    const added = await inProject(root, "npx", ["tsmicro", "generate"]);
    expect(added.code, added.stderr).toBe(0);
    await rm(extra);
    const removed = await inProject(root, "npx", ["tsmicro", "generate"]);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toContain("services/user: removed user/v1/extra.ts (its proto is gone)");
    expect(removed.stdout).toContain("services/edge: removed user/v1/extra.ts (its proto is gone)");
  });

  it("generate in a service's folder names the services whose copies of the edited proto it left behind", async () => {
    const protoPath = join(root, "proto/order/v1/order.proto");
    const proto = await readFile(protoPath, "utf8");
    const inOrder = () => inProject(join(root, "services/order"), "npx", ["tsmicro", "generate"], env);
    try {
      await writeFile(protoPath, `${proto}\nmessage OrderNote {\n  string text = 1;\n}\n`);
      const edited = await inOrder();
      expect(edited.code, edited.stderr).toBe(0);
      expect(edited.stdout).toContain(
        "behind: services/edge/src/gen, services/user/src/gen hold the shared protos as they were: " +
          "run npm run generate at the workspace root (../..), which regenerates every service\n",
      );
      // A second run changes nothing in order's folder, and the others are behind still.
      const again = await inOrder();
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toContain("behind: services/edge/src/gen, services/user/src/gen");
      const everyService = await inProject(root, "npx", ["tsmicro", "generate"], env);
      expect(everyService.code, everyService.stderr).toBe(0);
      expect(everyService.stdout).toContain("services/edge: generated");
      // Caught up at the root: nothing is behind.
      const caughtUp = await inOrder();
      expect(caughtUp.code, caughtUp.stderr).toBe(0);
      expect(caughtUp.stdout).not.toContain("behind:");
    } finally {
      await writeFile(protoPath, proto);
      await inProject(root, "npx", ["tsmicro", "generate"], env);
    }
  });

  it("docker-compose.yml at the root runs what services share; each service's compose.yml, included, runs it", async () => {
    // The root's file is the user's: tsmicro new says what to add to it.
    expect(orderMade).toContain(
      "to run order with docker compose up, add to the workspace's docker-compose.yml:\n  include:\n    - services/order/compose.yml\n",
    );
    const rootFile = parseYaml(await readFile(join(root, "docker-compose.yml"), "utf8")) as ComposeFile;
    expect(rootFile.include).toBeUndefined();
    const includes = ["user", "edge", "site", "order"].map((name) => `services/${name}/compose.yml`);
    const services = await composeModel(root, includes);
    expect([...services.keys()]).toEqual([
      ...["etcd", "jaeger", "postgres", "gateway", "web-gateway"],
      ...["user-database", "user-migrate", "user", "edge", "site"],
      ...["order-database", "order-migrate", "order"],
    ]);
    const known = new Set([
      ...serviceFlagNames.map((flag) => `TSMICRO_${flag.toUpperCase()}`),
      ...["DATABASE_URL", "OTEL_EXPORTER_OTLP_ENDPOINT"],
    ]);
    for (const [name, service] of services) {
      for (const dependency of Object.keys(service.depends_on ?? {})) expect(services.has(dependency), name).toBe(true);
      if (service.environment?.TSMICRO_REGISTRY === "etcd")
        expect(service.depends_on, name).toMatchObject({ etcd: { condition: "service_healthy" } });
      if (name.endsWith("-database") || !service.build) continue;
      for (const key of Object.keys(service.environment ?? {})) expect(known, `${name}: ${key}`).toContain(key);
      // Every image builds from the workspace root: a service's with its own Dockerfile, the gateways' with the root alone.
      expect(service.build.context, name).toBe(root);
      if (service.build.dockerfile) expect(existsSync(join(root, service.build.dockerfile)), name).toBe(true);
    }
    // Each service with a database has its own, so two never share one migrations table.
    expect(services.get("user")!.environment!.DATABASE_URL).toBe("postgres://postgres:postgres@postgres:5432/user");
    expect(services.get("order")!.environment!.DATABASE_URL).toBe("postgres://postgres:postgres@postgres:5432/order");
    expect(services.get("site")!.environment!.TSMICRO_SERVER_ADDRESS).toBe("0.0.0.0:8080");
    expect(services.get("web-gateway")!.command).toContain("--handler=web");
    // Both gateways are healthy while /healthz on their own ports says so.
    for (const name of ["gateway", "web-gateway"]) gatewayHealthcheck(name, services.get(name)!);
    // The gateways run tsmicro as the root installs it (a dev dependency), without any service's folder.
    const gateway = services.get("gateway")!;
    expect(gateway.build!.dockerfile_inline).toContain("RUN npm ci --workspaces=false\n");
    expect(existsSync(join(root, gateway.command![0]!))).toBe(true);

    // A file that lists the service already is left as it is; one with an include: list gets one line to add.
    const rootPath = join(root, "docker-compose.yml");
    const original = await readFile(rootPath, "utf8");
    try {
      await writeFile(rootPath, `include:\n  - services/user/compose.yml\n${original}`);
      // Web services: no proto, so the workspace's other services are not regenerated.
      const made = await runCreate(["stock", "--type", "web", "--no-install"], root);
      expect(made.code, made.stderr).toBe(0);
      expect(made.stdout).toContain(
        "to run stock with docker compose up, add to the include: list of the workspace's docker-compose.yml:\n  - services/stock/compose.yml\n",
      );
      await writeFile(rootPath, `include:\n  - services/mail/compose.yml\n${original}`);
      const listed = await runCreate(["mail", "--type", "web", "--no-install"], root);
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout).not.toContain("docker compose up");
    } finally {
      await writeFile(rootPath, original);
      for (const name of ["stock", "mail"]) await rm(join(root, "services", name), { recursive: true, force: true });
    }
  });

  it.skipIf(!postgresBinDir || !etcdProgram)(
    "the compose files, replayed: a service's database made once, its migrations, the service on etcd, the gateway's image",
    async () => {
      const postgres = await startPostgres();
      const etcd = await startEtcdCluster({ members: 1 });
      try {
        const services = await composeModel(
          root,
          ["user", "order"].map((name) => `services/${name}/compose.yml`),
        );
        const server = new URL(postgres.url);
        // Compose's host names, here: postgres and etcd where the test started them.
        const here = (env: Record<string, string>) =>
          Object.fromEntries(
            Object.entries(env).map(([key, value]) => [
              key,
              value
                .replace("postgres:postgres@postgres:5432", `postgres@${server.host}`)
                .replace("etcd:2379", etcd.endpoints[0]!.replace("http://", "")),
            ]),
          );
        const tsx = join(root, "node_modules/.bin/tsx");
        for (const name of ["user", "order"]) {
          const [shell, ...args] = services.get(`${name}-database`)!.command!;
          // Twice: a second docker compose up finds the database there.
          for (let i = 0; i < 2; i++) {
            const made = await inProject(root, shell!, args, {
              ...services.get(`${name}-database`)!.environment!,
              PGHOST: server.hostname,
              PGPORT: server.port,
              PATH: `${postgresBinDir}:${process.env.PATH}`,
            });
            expect(made.code, made.stderr).toBe(0);
          }
          // The image's node dist/migrate.js, from source.
          expect(services.get(`${name}-migrate`)!.command).toEqual(["node", "dist/migrate.js"]);
          const migrated = await inProject(
            join(root, `services/${name}`),
            tsx,
            ["src/migrate.ts"],
            here(services.get(`${name}-migrate`)!.environment!),
          );
          expect(migrated.stdout, migrated.stderr).toMatch(/^migrations applied: 0001_/);
        }
        // Its addresses on loopback, and no traces: Jaeger is not here.
        const { OTEL_EXPORTER_OTLP_ENDPOINT: _, ...env } = here(services.get("user")!.environment!);
        const user = startBackground(join(root, "services/user"), tsx, ["src/main.ts"], {
          ...env,
          TSMICRO_SERVER_ADDRESS: "127.0.0.1:0",
          TSMICRO_METRICS_ADDRESS: "127.0.0.1:0",
        });
        await user.waitFor(/"msg":"user started"/);
        const registry = {
          TSMICRO_REGISTRY: env.TSMICRO_REGISTRY!,
          TSMICRO_REGISTRY_ADDRESS: env.TSMICRO_REGISTRY_ADDRESS!,
        };
        const listed = await inProject(root, "npx", ["tsmicro", "list", "services"], registry);
        expect(listed.stdout, listed.stderr).toContain("user");

        // The gateway's image, built from the root's package files alone, and its command with its environment.
        const context = join(work, "gateway-context");
        await mkdir(context);
        for (const file of ["package.json", "package-lock.json", "vendor", ".dockerignore"])
          await cp(join(root, file), join(context, file), { recursive: true });
        const gateway = services.get("gateway")!;
        await writeFile(join(context, "Dockerfile"), gateway.build!.dockerfile_inline!);
        const image = await replayDockerfile(context, join(work, "gateway-image"));
        const port = await freePort();
        const [command, ...args] = gateway.command!.map((arg) => arg.replace("0.0.0.0:8080", `127.0.0.1:${port}`));
        const { OTEL_EXPORTER_OTLP_ENDPOINT: __, ...gatewayEnv } = here(gateway.environment!);
        const api = startBackground(image.dir, join(image.dir, command!), args, gatewayEnv);
        await api.waitFor(/gateway routes user/);
        await api.waitFor(/gateway started/);
        const created = await fetch(`http://127.0.0.1:${port}/v1/users`, { method: "POST", body: '{"name":"ann"}' });
        expect(created.status).toBe(200);
        // Its compose healthcheck, run in its image: healthy, then not once it stopped.
        const { probe } = gatewayHealthcheck("gateway", gateway);
        expect((await inProject(image.dir, "node", probe(port))).code).toBe(0);
        await api.stop();
        expect((await inProject(image.dir, "node", probe(port))).code).toBe(1);
        await user.stop();
      } finally {
        await etcd.stop();
        await postgres.stop();
      }
    },
    5 * minutes,
  );

  it(
    "tsmicro run starts every service for development in one terminal and stops them all on Ctrl-C",
    async () => {
      // A registry of its own, so what the other tests start is not listed.
      const runEnv = { ...env, TSMICRO_REGISTRY_ADDRESS: join(work, "registry-run") };
      const tsmicro = (...args: string[]) => inProject(root, "npx", ["tsmicro", ...args], runEnv);
      const unknown = await tsmicro("run", "nobody");
      expect(unknown.stderr).toContain("no service nobody here: the services are edge, order, site, user");
      // The workspace's npm run dev is tsmicro run, which gives every service the flags it is given:
      // --registry_address here wins over the variable of the other tests' registry.
      const runRegistry = `--registry_address=${runEnv.TSMICRO_REGISTRY_ADDRESS}`;
      const run = startBackground(root, "npm", ["run", "dev", "--", runRegistry], env);
      // Each line says which service printed it (pino-pretty's text in development).
      await Promise.all(
        ["user", "edge", "site", "order"].map((name) =>
          run.waitFor(new RegExp(`${name} +\\| .*INFO: ${name} started`)),
        ),
      );
      const listed = await tsmicro("list", "services");
      for (const name of ["edge", "order", "site", "user"]) expect(listed.stdout).toContain(name);
      // Ctrl-C as a terminal sends it: to npm and tsmicro run alike, and npm passes it on once more.
      // npm then ends as on Ctrl-C of any script: by the signal (null), or with 0 or 130.
      expect([0, 130, null]).toContain(await run.stop("SIGINT"));
      // Every service shut down as it does on its own Ctrl-C: deregistered, not killed.
      for (const name of ["user", "edge", "site", "order"])
        expect(run.output()).toMatch(new RegExp(`${name} +\\| .*${name} stopped`));
      expect((await tsmicro("list", "services")).stdout).toBe("no services registered\n");

      // A stop sent to npm alone (an IDE's stop button, a process manager): npm exits without passing it
      // on, and tsmicro run, left without its parent, stops the services itself.
      const again = startBackground(root, "npm", ["run", "dev"], runEnv);
      await again.waitFor(/user +\| .*INFO: user started/);
      process.kill(again.child.pid!, "SIGTERM");
      await again.exited;
      let listed2 = "";
      for (let i = 0; i < 100 && listed2 !== "no services registered\n"; i++) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        listed2 = (await tsmicro("list", "services")).stdout;
      }
      expect(listed2).toBe("no services registered\n");
      expect(again.output()).toContain("the process that started tsmicro run has ended: stopping every service");
    },
    5 * minutes,
  );

  it(
    "an API service calls the service through its generated client, behind tsmicro api; one npm test for all",
    async () => {
      // As a user would: a new rpc on the API, generated once for the workspace, written with the client.
      const protoPath = join(root, "proto/edge/v1/edge.proto");
      const proto = await readFile(protoPath, "utf8");
      await writeFile(
        protoPath,
        proto
          .replace(
            "service EdgeApi {",
            'service EdgeApi {\n  rpc CountUsers(CountUsersRequest) returns (CountUsersResponse) {\n    option (google.api.http) = {get: "/edge/users/count"};\n  }',
          )
          .concat("\nmessage CountUsersRequest {}\n\nmessage CountUsersResponse {\n  int32 count = 1;\n}\n"),
      );
      const generated = await inProject(root, "npx", ["tsmicro", "generate"], env);
      expect(generated.code, generated.stderr).toBe(0);
      expect(generated.stdout).toContain("services/edge: created src/handler/edge-api/count-users.ts");
      await writeFile(
        join(root, "services/edge/src/handler/edge-api/count-users.ts"),
        [
          'import type { EdgeApiHandler } from "../../gen/edge/v1/edge.micro.js";',
          'import type { Dependencies } from "../dependencies.js";',
          "",
          "/** rpc CountUsers: asks the user service. */",
          'export function countUsers({ userService }: Dependencies): EdgeApiHandler["countUsers"] {',
          "  return async () => ({ count: (await userService.listUsers({ pageSize: 1000 })).users.length });",
          "}",
          "",
        ].join("\n"),
      );
      const assembler = join(root, "services/edge/src/handler/edge-api.ts");
      await writeFile(
        assembler,
        (await readFile(assembler, "utf8"))
          .replace(
            'import { hello } from "./edge-api/hello.js";',
            'import { countUsers } from "./edge-api/count-users.js";\nimport { hello } from "./edge-api/hello.js";',
          )
          .replace("    hello: hello(deps),", "    countUsers: countUsers(deps),\n    hello: hello(deps),"),
      );

      // The edge's test stands in for the user service, serving what the new handler calls.
      const edgeTest = join(root, "services/edge/test/grpc.test.ts");
      const scaffolded = await readFile(edgeTest, "utf8");
      expect(scaffolded).toContain("userServiceStandIn.handle(UserServiceDefinition, {}, { partial: true });");
      await writeFile(
        edgeTest,
        scaffolded
          .replace(
            "userServiceStandIn.handle(UserServiceDefinition, {}, { partial: true });",
            [
              "userServiceStandIn.handle(",
              "    UserServiceDefinition,",
              "    {",
              // Ann, if the edge's own deadline came down with the call (as main.ts wires the client).
              "      listUsers: async (_request, context) => ({",
              "        users: (context.deadline?.getTime() ?? Infinity) - Date.now() > 2_000 ? [] : [",
              '          { id: "1", name: "ann", description: "", createTime: undefined, updateTime: undefined },',
              "        ],",
              '        nextPageToken: "",',
              "      }),",
              "    },",
              "    { partial: true },",
              "  );",
            ].join("\n"),
          )
          .replace(
            /\n}\);\n$/,
            [
              "",
              '  it("counts the users the user service lists", async () => {',
              '    const client = callers.client(EdgeApiDefinition, "edge");',
              "    expect(await client.countUsers({}, { timeoutMs: 1_500 })).toEqual({ count: 1 });",
              "  });",
              "});",
              "",
            ].join("\n"),
          ),
      );
      expect(await readFile(edgeTest, "utf8")).toContain("counts the users the user service lists");
      const tests = await inProject(root, "npm", ["test"], env);
      expect(tests.code, tests.stdout + tests.stderr).toBe(0);

      const tsx = join(root, "node_modules/.bin/tsx");
      const user = startBackground(join(root, "services/user"), tsx, ["src/main.ts"], env);
      const edge = startBackground(join(root, "services/edge"), tsx, ["src/main.ts"], env);
      const port = await freePort();
      const api = startBackground(root, "npx", ["tsmicro", "api", `--address=127.0.0.1:${port}`], env);
      await Promise.all([
        user.waitFor(/"msg":"user started"/),
        edge.waitFor(/"msg":"edge started"/),
        api.waitFor(/gateway started/),
      ]);
      await api.waitFor(/gateway routes edge/);
      await api.waitFor(/gateway routes user/);
      const base = `http://127.0.0.1:${port}`;
      for (const name of ["ann", "bob"]) {
        const created = await fetch(`${base}/v1/users`, { method: "POST", body: JSON.stringify({ name }) });
        expect(created.status).toBe(200);
      }
      const counted = await fetch(`${base}/edge/users/count`);
      expect(await counted.json()).toEqual({ count: 2 });
      expect(await (await fetch(`${base}/edge/hello/you`)).json()).toEqual({ message: "Hello you" });
    },
    10 * minutes,
  );

  it(
    "a web service is reachable through tsmicro api --handler web",
    async () => {
      const site = startBackground(
        join(root, "services/site"),
        join(root, "node_modules/.bin/tsx"),
        ["src/main.ts"],
        env,
      );
      const port = await freePort();
      const api = startBackground(root, "npx", ["tsmicro", "api", "--handler=web", `--address=127.0.0.1:${port}`], env);
      await Promise.all([site.waitFor(/"msg":"site started"/), api.waitFor(/gateway started/)]);
      let body: unknown;
      for (let attempt = 0; attempt < 50 && body === undefined; attempt++) {
        const response = await fetch(`http://127.0.0.1:${port}/site/`);
        if (response.status === 200) body = await response.json();
        else await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(body).toEqual({ service: "site", message: "Hello from site" });
    },
    5 * minutes,
  );
});
