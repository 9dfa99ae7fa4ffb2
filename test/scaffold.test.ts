import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { defaultServiceSettings, serviceFlagNames } from "@tsmicro/runtime/internal";
import { readTree, repoRoot } from "./support/cli.js";
import { replayDockerfile } from "./support/dockerfile.js";
import { closedPort } from "./support/etcd.js";
import { type ComposeGateway, gatewayHealthcheck } from "./support/gateway-healthcheck.js";
import { allowScriptsOf, packagesWithInstallScripts } from "./support/install-scripts.js";
import { freePort } from "./support/ports.js";
import { postgresBinDir, startPostgres } from "./support/postgres.js";
import { inProject, runCreate, startBackground, stopAllBackground } from "./support/project.js";

// A new user's path, in a temporary folder outside the repository: create a
// project from this checkout, install it, and use it only through its own
// scripts and its own copy of tsmicro.
let work = "";
let project = "";
let env: Record<string, string> = {};
const minutes = 60_000;

/** Vitest's summary line, colours removed: `Tests  11 passed (11)`. */
function testSummary(output: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ESC starts the colour codes removed here.
  return /Tests\s+.*/.exec(output.replace(/\u001b\[[0-9;]*m/g, ""))?.[0] ?? "";
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "tsmicro-scaffold-"));
  project = join(work, "user");
  // A runtime folder of its own: npm run dev's lock (one per project folder) lives there.
  env = { TSMICRO_REGISTRY: "local", TSMICRO_REGISTRY_ADDRESS: join(work, "registry"), XDG_RUNTIME_DIR: work };
  const started = Date.now();
  const created = await runCreate(["user"], work);
  expect(created.code, created.stderr + created.stdout).toBe(0);
  console.log(`create-tsmicro user (with npm install): ${((Date.now() - started) / 1000).toFixed(1)} s`);
}, 10 * minutes);

afterAll(async () => {
  await stopAllBackground();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("create-tsmicro refuses bad input and writes nothing", () => {
  it("a bad name, an unknown flag, a non-empty folder, a missing or broken --proto", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tsmicro-refuse-"));
    try {
      const badName = await runCreate(["User_Service", "--no-install"], dir);
      expect(badName.code).toBe(1);
      expect(badName.stderr).toMatch(
        /^create-tsmicro: project name "User_Service" is not a usable name: use lower-case/,
      );

      const unknown = await runCreate(["user", "--colour=red"], dir);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toBe("create-tsmicro: unknown flag --colour; see create-tsmicro --help\n");
      const slip = await runCreate(["user", "--typ=api"], dir);
      expect(slip.stderr).toBe("create-tsmicro: unknown flag --typ: did you mean --type?\n");
      // yargs names a negated flag without its no-: the flag as typed is what the user looks for.
      const negated = await runCreate(["user", "--no-instal"], dir);
      expect(negated.stderr).toBe("create-tsmicro: unknown flag --no-instal: did you mean --no-install?\n");
      // go-micro's micro new --type srv: what it is called here.
      const srv = await runCreate(["user", "--type", "srv", "--no-install"], dir);
      expect(srv.stderr).toBe(
        'create-tsmicro: --type has an invalid value "srv": use one of service, api, web (go-micro\'s srv is --type service here)\n',
      );
      const workspace = await runCreate(["shop", "--type", "workspace", "--no-install"], dir);
      expect(workspace.stderr).toBe(
        'create-tsmicro: --type has an invalid value "workspace": use one of service, api, web (a workspace of several services is --workspace, with no --type)\n',
      );
      const nameless = await runCreate(["--no-install"], dir);
      expect(nameless.stderr).toBe(
        "create-tsmicro: create-tsmicro takes NAME, such as create-tsmicro user; see create-tsmicro --help\n",
      );
      const noDatabase = await runCreate(["edge", "--type=api", "--db=postgres", "--no-install"], dir);
      expect(noDatabase.stderr).toBe(
        "create-tsmicro: --db is for a service (--type service), which has a database; --type api has none\n",
      );
      // A workspace holds no service itself: a service's flags go to tsmicro new inside it.
      const namespaced = await runCreate(["shop", "--workspace", "--namespace=go.micro", "--no-install"], dir);
      expect(namespaced.stderr).toBe(
        "create-tsmicro: --namespace is for a service, not a workspace: give it to each tsmicro new NAME inside the workspace\n",
      );
      const typed = await runCreate(["shop", "--workspace", "--type=api", "--alias=s", "--no-install"], dir);
      expect(typed.stderr).toBe(
        "create-tsmicro: --alias, --type are for a service, not a workspace: give them to each tsmicro new NAME inside the workspace\n",
      );
      const choice = await runCreate(["user", "--type=grpc"], dir);
      expect(choice.code).toBe(1);
      expect(choice.stderr).toBe('create-tsmicro: --type has an invalid value "grpc": use one of service, api, web\n');

      await mkdir(join(dir, "taken"));
      await writeFile(join(dir, "taken", "notes.txt"), "mine");
      const taken = await runCreate(["taken", "--no-install"], dir);
      expect(taken.code).toBe(1);
      expect(taken.stderr).toContain("taken is not empty");
      expect(await readdir(join(dir, "taken"))).toEqual(["notes.txt"]);

      // Inside a project that is not a workspace (micro new is run anywhere): refused, pointing outside or to a workspace.
      await mkdir(join(dir, "shop", "src"), { recursive: true });
      await writeFile(join(dir, "shop", "tsmicro.json"), '{ "type": "service", "proto": "proto", "out": "src/gen" }\n');
      const nested = await runCreate(["order", "--no-install"], join(dir, "shop", "src"));
      expect(nested.code).toBe(1);
      expect(nested.stderr).toBe(
        `create-tsmicro: order would be inside the project ${join(dir, "shop")}, one service and not a workspace: ` +
          "choose a folder outside it (--dir ../../order), or make a workspace (create-tsmicro NAME --workspace) " +
          "and run tsmicro new order in it to keep several services together\n",
      );
      expect(await readdir(join(dir, "shop", "src"))).toEqual([]);
      await rm(join(dir, "shop"), { recursive: true });

      const missing = await runCreate(["user", "--proto", "nope.proto", "--no-install"], dir);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain("--proto nope.proto does not exist");

      await writeFile(
        join(dir, "broken.proto"),
        'syntax = "proto3";\npackage broken.v1;\nmessage A { string a = 1 }\n',
      );
      const broken = await runCreate(["broken", "--proto", "broken.proto", "--no-install"], dir);
      expect(broken.code).toBe(1);
      expect(broken.stderr).toMatch(/^create-tsmicro: the protos do not compile:\nbroken\.proto:3:\d+: /);

      expect((await readdir(dir)).sort()).toEqual(["broken.proto", "taken"]);

      // Not bad input: a --proto importing another proto of the user's brings it along, found under the
      // folder the proto's package path starts in; an import found nowhere names that folder.
      await mkdir(join(dir, "pp/acme/common/v1"), { recursive: true });
      await mkdir(join(dir, "pp/acme/shop/v1"), { recursive: true });
      await writeFile(
        join(dir, "pp/acme/common/v1/common.proto"),
        'syntax = "proto3";\npackage acme.common.v1;\nmessage Money { string currency = 1; int64 units = 2; }\n',
      );
      const shop = (common: string) =>
        `syntax = "proto3";\npackage acme.shop.v1;\nimport "${common}";\n` +
        "service Shop { rpc Price(PriceRequest) returns (acme.common.v1.Money); }\nmessage PriceRequest { string sku = 1; }\n";
      await writeFile(join(dir, "pp/acme/shop/v1/shop.proto"), shop("acme/common/v1/common.proto"));
      const importing = await runCreate(["importer", "--proto", "pp/acme/shop/v1/shop.proto", "--no-install"], dir);
      expect(importing.code, importing.stderr).toBe(0);
      expect(await readFile(join(dir, "importer/proto/acme/common/v1/common.proto"), "utf8")).toContain(
        "message Money",
      );
      expect(await readdir(join(dir, "importer/src/gen/acme/common/v1"))).toEqual(["common.ts"]);
      await writeFile(join(dir, "pp/acme/shop/v1/shop.proto"), shop("acme/common/v1/nope.proto"));
      const unfound = await runCreate(["unfound", "--proto", "pp/acme/shop/v1/shop.proto", "--no-install"], dir);
      expect(unfound.stderr).toContain(
        'pp/acme/shop/v1/shop.proto:3:1: import "acme/common/v1/nope.proto" not found; searched pp/, google/api/ (shipped)',
      );
      expect(unfound.stderr).not.toMatch(/google\/protobuf\/ \(shipped\)/);

      // Not bad input: on PostgreSQL, the next steps name the database and its migration.
      const postgres = await runCreate(["pg", "--db=postgres", "--no-install"], dir);
      expect(postgres.code).toBe(0);
      expect(postgres.stdout).toContain("  export DATABASE_URL=postgres://USER@HOST:5432/DATABASE");
      expect(postgres.stdout).toMatch(/ {2}npm run migrate +# create the tables there\n {2}npm run dev /);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("a new service project", () => {
  it("has the layout the README promises", async () => {
    for (const path of [
      "proto/user/v1/user.proto",
      "src/main.ts",
      "src/handler/user-service.ts",
      "src/handler/user-service/create-user.ts",
      "src/domain/model/user.ts",
      "src/domain/repository/user-repository.ts",
      "src/domain/repository/sql-user-repository.ts",
      "src/domain/service/user-data-service.ts",
      "src/gen/user/v1/user.micro.ts",
      "src/gen/user/v1/user.entity.ts",
      "migrations/0001_create_user.sql",
      "Dockerfile",
      ".dockerignore",
      "docker-compose.yml",
      "deploy/k8s/deployment.yaml",
      "observability/prometheus.yml",
      "observability/alerts.yml",
      "observability/grafana-dashboard.json",
      "README.md",
      "package-lock.json",
    ])
      expect(existsSync(join(project, path)), path).toBe(true);
    const pkg = JSON.parse(await readFile(join(project, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    // Installs on its own: tsmicro's packages are tarballs inside the project.
    expect(pkg.dependencies["@tsmicro/runtime"]).toMatch(/^file:vendor\/tsmicro-runtime-.*\.tgz$/);
    expect(pkg.devDependencies.tsmicro).toMatch(/^file:vendor\/tsmicro-.*\.tgz$/);
    const lock = await readFile(join(project, "package-lock.json"), "utf8");
    expect(lock).not.toContain(repoRoot);
    // Every package the generated code imports is declared.
    expect(Object.keys(pkg.dependencies)).toEqual(
      expect.arrayContaining(["@bufbuild/protobuf", "@electric-sql/pglite", "kysely", "pg"]),
    );
    // Every dependency's install script is decided (npm 11.16+ warns at each install of any
    // undecided, npm 12 skips them), and every service test below runs with them denied.
    expect(await allowScriptsOf(project)).toEqual(await packagesWithInstallScripts(project));
  });

  it(
    "type-checks and passes its own tests on PGlite (npm test)",
    async () => {
      const result = await inProject(project, "npm", ["test"], env);
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(testSummary(result.stdout)).toBe("Tests  13 passed (13)");
    },
    10 * minutes,
  );

  it.skipIf(!postgresBinDir)(
    "runs the same repository, service and gRPC tests on a real PostgreSQL server",
    async () => {
      const postgres = await startPostgres();
      try {
        const result = await inProject(project, "npx", ["vitest", "run"], { ...env, DATABASE_URL: postgres.url });
        expect(result.code, result.stdout + result.stderr).toBe(0);
        expect(testSummary(result.stdout)).toBe("Tests  13 passed (13)");
        // The migrate script, as the image's init step runs it: on the database the URL names, which the
        // tests left alone (they ran in databases of their own, dropped after), once more, then on a server
        // that is not there.
        const tsx = join(project, "node_modules/.bin/tsx");
        const migrated = await inProject(project, tsx, ["src/migrate.ts"], { ...env, DATABASE_URL: postgres.url });
        expect(migrated.stdout, migrated.stderr).toMatch(/^migrations applied: 0001_\w+(, \d{4}_\w+)*\n$/);
        const again = await inProject(project, tsx, ["src/migrate.ts"], { ...env, DATABASE_URL: postgres.url });
        expect(again.stdout, again.stderr).toBe("migrations: up to date\n");
        const port = await freePort();
        const down = await inProject(project, tsx, ["src/migrate.ts"], {
          ...env,
          DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/nowhere`,
        });
        expect(down.code).toBe(1);
        // One line saying what, no stack trace.
        expect(down.stderr).toMatch(/^migrate: .*127\.0\.0\.1.* \(TSM_ERR_DATABASE_UNREACHABLE\)\n$/);
      } finally {
        await postgres.stop();
      }
    },
    10 * minutes,
  );

  it(
    "npm run dev registers it; tsmicro call creates, reads and lists; tsmicro api serves its routes and answers the compose healthcheck",
    async () => {
      const dev = startBackground(project, "npm", ["run", "dev"], env);
      try {
        // npm run dev prints text through pino-pretty, not JSON lines.
        await dev.waitFor(/INFO: user started/);
        const tsmicro = (...args: string[]) => inProject(project, "npx", ["tsmicro", ...args], env);
        expect((await tsmicro("list", "services")).stdout).toContain("user");

        const created = await tsmicro("call", "user", "UserService.CreateUser", '{"user":{"name":"ann"}}');
        expect(created.code, created.stderr).toBe(0);
        const ann = JSON.parse(created.stdout) as { id: string; name: string };
        expect(ann.name).toBe("ann");
        const read = await tsmicro("call", "user", "UserService.GetUser", JSON.stringify({ id: ann.id }));
        expect(JSON.parse(read.stdout)).toEqual(ann);
        const listed = await tsmicro("call", "user", "UserService.ListUsers", "{}");
        expect((JSON.parse(listed.stdout) as { users: { id: string }[] }).users.map((u) => u.id)).toContain(ann.id);
        const duplicate = await tsmicro("call", "user", "UserService.CreateUser", '{"user":{"name":"ann"}}');
        expect(duplicate.code).toBe(1);
        expect(duplicate.stderr).toBe(
          "tsmicro: call failed: ALREADY_EXISTS: user UserService.CreateUser: a user with the same name exists (reason USER_ALREADY_EXISTS)\n",
        );

        // A second npm run dev of the folder (another terminal) is refused at once, naming the first,
        // which runs on untouched: it would otherwise wait for a save and take the service over.
        const again = await inProject(project, "npm", ["run", "dev"], env);
        expect(again.code).toBe(1);
        expect(again.stderr).toMatch(
          /^tsmicro: user runs already in .*\/user \(tsmicro dev, pid \d+: npm run dev or tsmicro run in another terminal\): stop it there with Ctrl-C, or kill \d+, then start it again$/m,
        );
        expect(dev.output()).not.toContain("user stopped");

        // kill -9 on the service (its pid is in its database's lock): npm run dev says so and starts it again.
        const lock = JSON.parse(await readFile(join(project, "data/db/.tsmicro.lock"), "utf8")) as { pid: number };
        process.kill(lock.pid, "SIGKILL");
        await dev.waitFor(/the service was killed by SIGKILL: starting it again in 1 s/);
        await dev.waitFor(/INFO: user started[\s\S]*INFO: user started/);
        const afterKill = await tsmicro("call", "user", "UserService.GetUser", JSON.stringify({ id: ann.id }));
        expect(JSON.parse(afterKill.stdout)).toEqual(ann);

        const port = await freePort();
        const api = startBackground(project, "node_modules/.bin/tsmicro", ["api", `--address=127.0.0.1:${port}`], env);
        await api.waitFor(/gateway routes user/);
        await api.waitFor(/gateway started/);
        const base = `http://127.0.0.1:${port}`;
        const post = await fetch(`${base}/v1/users`, { method: "POST", body: '{"name":"bob"}' });
        expect(post.status).toBe(200);
        const bob = (await post.json()) as { id: string };
        const patch = await fetch(`${base}/v1/users/${bob.id}?updateMask=description`, {
          method: "PATCH",
          body: '{"description":"patched"}',
        });
        expect(((await patch.json()) as { description: string }).description).toBe("patched");
        const missing = await fetch(`${base}/v1/users/nobody`);
        expect(missing.status).toBe(404);
        // Besides the typed error's ErrorInfo, the gateway adds a RequestInfo naming the trace.
        const body = (await missing.json()) as { code: number; details: unknown[] };
        expect(body.code).toBe(5);
        expect(body.details).toContainEqual(expect.objectContaining({ reason: "USER_NOT_FOUND" }));
        // docker-compose.yml's healthcheck of the gateway, run against this one: healthy, then not once it stopped.
        const compose = parseYaml(await readFile(join(project, "docker-compose.yml"), "utf8")) as {
          services: Record<string, ComposeGateway>;
        };
        const { probe } = gatewayHealthcheck("api", compose.services.api!);
        expect((await inProject(project, "node", probe(port))).code).toBe(0);
        expect(await api.stop()).toBe(0);
        expect((await inProject(project, "node", probe(port))).code).toBe(1);
      } finally {
        await dev.stop();
      }
    },
    5 * minutes,
  );

  it(
    "npm run build && npm start runs the compiled service; a second one on the same PGlite folder stops with one clear line",
    async () => {
      const build = await inProject(project, "npm", ["run", "build"], env);
      expect(build.code, build.stdout + build.stderr).toBe(0);
      const first = startBackground(project, "npm", ["start"], env);
      let firstStopped = false;
      try {
        await first.waitFor(/"msg":"user started"/);
        const second = await inProject(project, "node", ["dist/main.js"], env);
        expect(second.code).toBe(1);
        const lines = second.stderr.trim().split("\n");
        expect(lines).toEqual([
          expect.stringMatching(
            /^user: cannot start: the embedded database in data\/db is in use by process \d+; run one instance per data directory \(--database_dir\), or use PostgreSQL \(DATABASE_URL\)/,
          ),
        ]);
        // Still serving, data intact.
        const listed = await inProject(project, "npx", ["tsmicro", "call", "user", "UserService.ListUsers", "{}"], env);
        expect(listed.stdout).toContain('"name": "ann"');
      } finally {
        await first.stop();
        // npm, the group's leader, exits at once; the service logs its stop after draining.
        for (let waited = 0; waited < 10_000 && !firstStopped; waited += 100) {
          firstStopped = first.output().includes('"msg":"user stopped"');
          if (!firstStopped) await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      expect(firstStopped, first.output()).toBe(true);

      // A bad flag value, a misspelt flag or a registry that does not answer stops it before the database
      // opens: no data folder appears.
      const nobody = `127.0.0.1:${await closedPort()}`;
      for (const flags of [
        ["--registry=etc"],
        ["--databse_dir=data/other"],
        ["--registry=etcd", `--registry_address=${nobody}`],
      ]) {
        const dataDir = join(work, `untouched-${flags.at(-1)!.slice(2, 12)}`);
        const bad = await inProject(project, "node", ["dist/main.js", ...flags, `--database_dir=${dataDir}`], env);
        expect(bad.code, bad.stdout).toBe(1);
        expect(bad.stderr.trim().split("\n")).toEqual([
          expect.stringMatching(/^user: cannot start: .*(--registry|--databse_dir|etcd registry at)/),
        ]);
        expect(existsSync(dataDir), flags.join(" ")).toBe(false);
      }

      // --help describes the flags and exits 0, before the database opens.
      const helpDir = join(work, "untouched-help");
      const help = await inProject(project, "node", ["dist/main.js", "--help", `--database_dir=${helpDir}`], env);
      expect(help.code, help.stderr).toBe(0);
      expect(help.stdout).toMatch(/^user: a tsmicro service\./);
      expect(help.stdout).toMatch(/\n {2}--database_dir +PGlite's data folder; .*\(default: data\/db\)\n/);
      expect(existsSync(helpDir)).toBe(false);

      // A handler missing a method of the proto (an rpc added, its handler not yet written) stops it before
      // the migration changes the database; with pretty logs the line is printed once, on stderr.
      const main = await readFile(join(project, "dist/main.js"), "utf8");
      const unfinished = main.replace("createUserServiceHandler(deps)", "{ getUser() {} }");
      expect(unfinished).not.toBe(main);
      await writeFile(join(project, "dist/unfinished-main.js"), unfinished);
      const dataDir = join(work, "unmigrated");
      const refused = await inProject(
        project,
        "node",
        ["dist/unfinished-main.js", `--database_dir=${dataDir}`, "--log_format=pretty"],
        env,
      );
      expect(refused.code, refused.stdout).toBe(1);
      expect(refused.stderr.trim().split("\n")).toEqual([
        expect.stringMatching(
          /^user: cannot start: the handler for user\.v1\.UserService has no method \w+ .*\(TSM_ERR_HANDLER_METHOD\)$/,
        ),
      ]);
      expect(refused.stdout).not.toContain("cannot start");
      const { PGlite } = await import("@electric-sql/pglite");
      const unmigrated = await PGlite.create(dataDir);
      try {
        const tables = await unmigrated.query(
          "select table_name from information_schema.tables where table_schema = 'public'",
        );
        expect(tables.rows).toEqual([]);
      } finally {
        await unmigrated.close();
      }
    },
    5 * minutes,
  );

  it(
    "its Dockerfile, replayed without Docker, builds an image whose service answers the HEALTHCHECK",
    async () => {
      const root = await mkdtemp(join(tmpdir(), "tsmicro-image-"));
      try {
        const context = join(root, "context");
        await cp(project, context, {
          recursive: true,
          filter: (path) => !/\/(node_modules|dist|data)$/.test(path),
        });
        const image = await replayDockerfile(context, join(root, "stages"));
        expect(image.user).toBe("node");
        expect(image.exposed).toEqual([9000, 9464]);
        // /metrics on the fixed port the compose and k8s files scrape.
        expect(image.env.TSMICRO_METRICS_ADDRESS).toBe("0.0.0.0:9464");
        expect(existsSync(join(image.dir, "node_modules", "tsmicro"))).toBe(false); // dev dependencies stay out
        expect(existsSync(join(image.dir, "node_modules", "typescript"))).toBe(false);
        const port = await freePort();
        const imageEnv = {
          ...image.env,
          ...env,
          TSMICRO_SERVER_ADDRESS: `127.0.0.1:${port}`,
          TSMICRO_METRICS_ADDRESS: "127.0.0.1:0",
        };
        const [command, ...args] = image.cmd;
        const service = startBackground(image.dir, command!, args, imageEnv);
        try {
          await service.waitFor(/"msg":"user started"/);
          const [check, ...checkArgs] = image.healthcheck!;
          const health = await inProject(image.dir, check!, checkArgs, imageEnv);
          expect(health.code, health.stderr).toBe(0);
        } finally {
          await service.stop();
        }
        const [check, ...checkArgs] = image.healthcheck!;
        const down = await inProject(image.dir, check!, checkArgs, imageEnv);
        expect(down.code).toBe(1);
        expect(down.stderr).toBe(`user is not SERVING on port ${port} (grpc.health.v1)\n`);
        // MICRO_SERVER_ADDRESS, go-micro's name, is read as well.
        const { TSMICRO_SERVER_ADDRESS: _, ...microEnv } = imageEnv;
        const micro = await inProject(image.dir, check!, checkArgs, {
          ...microEnv,
          MICRO_SERVER_ADDRESS: `127.0.0.1:${port}`,
        });
        expect(micro.stderr).toContain(`port ${port} `);
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    },
    10 * minutes,
  );

  it(
    "a project made from a proto of one's own, with an entity but not every standard method, type-checks",
    async () => {
      // Its tests are the plain ones (the sample's CRUD test needs all five methods): nothing they leave unused.
      const sample = await readFile(join(project, "proto/user/v1/user.proto"), "utf8");
      const proto = sample.replace(/\n {2}rpc DeleteUser\(.*?\n {2}\}\n/s, "\n");
      expect(proto).not.toContain("rpc DeleteUser");
      await writeFile(join(work, "member.proto"), proto);
      const created = await runCreate(["member", "--proto", "member.proto", "--no-install"], work);
      expect(created.code, created.stderr).toBe(0);
      const member = join(work, "member");
      try {
        await symlink(join(project, "node_modules"), join(member, "node_modules"));
        const checked = await inProject(member, "npm", ["run", "typecheck"], env);
        expect(checked.code, checked.stdout + checked.stderr).toBe(0);
      } finally {
        await rm(member, { recursive: true, force: true });
      }
    },
    5 * minutes,
  );

  it(
    "every docker-compose.yml (service, API, web) starts what uses the registry once etcd answers",
    async () => {
      // Services and the gateway stop at start when the registry does not answer, so each waits for etcd's healthcheck.
      for (const [name, type] of [
        ["edge", "api"],
        ["site", "web"],
      ] as const) {
        const created = await runCreate([name, "--type", type, "--no-install"], work);
        expect(created.code, created.stderr).toBe(0);
      }
      for (const dir of [project, join(work, "edge"), join(work, "site")]) {
        const compose = parseYaml(await readFile(join(dir, "docker-compose.yml"), "utf8")) as {
          services: Record<
            string,
            ComposeGateway & { environment?: Record<string, string>; depends_on?: unknown; healthcheck?: unknown }
          >;
        };
        // The gateway (tsmicro api, --handler web too) is healthy while /healthz on its own port says so.
        const gateways = Object.entries(compose.services).filter(([, service]) => service.command?.[1] === "api");
        expect(
          gateways.map(([name]) => name),
          dir,
        ).toEqual(["api"]);
        for (const [name, service] of gateways) gatewayHealthcheck(`${dir}: ${name}`, service);
        expect(compose.services.etcd?.healthcheck, dir).toBeDefined();
        const registered = Object.entries(compose.services).filter(
          ([, service]) => service.environment?.TSMICRO_REGISTRY === "etcd",
        );
        expect(registered.length, dir).toBeGreaterThanOrEqual(2);
        for (const [name, service] of registered)
          expect(service.depends_on, `${dir}: ${name}`).toMatchObject({ etcd: { condition: "service_healthy" } });
      }
    },
    5 * minutes,
  );

  it("docker-compose.yml and deploy/k8s parse, and set only variables and ports the service reads", async () => {
    const known = new Set([
      ...serviceFlagNames.map((flag) => `TSMICRO_${flag.toUpperCase()}`),
      "DATABASE_URL",
      "TSMICRO_DATABASE_URL",
      "TSMICRO_DATABASE_DIR",
      "TSMICRO_MIGRATE",
      "NODE_ENV",
      // OpenTelemetry's own variable, read by the runtime's tracing.
      "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]);
    const compose = parseYaml(await readFile(join(project, "docker-compose.yml"), "utf8")) as {
      services: Record<string, { environment?: Record<string, string>; command?: string[] }>;
    };
    expect(Object.keys(compose.services)).toEqual(["etcd", "jaeger", "postgres", "migrate", "user", "api"]);
    expect(compose.services.user!.environment!.OTEL_EXPORTER_OTLP_ENDPOINT).toBe("http://jaeger:4318");
    for (const name of ["migrate", "user", "api"])
      for (const key of Object.keys(compose.services[name]!.environment ?? {}))
        expect(known, `${name}: ${key}`).toContain(key);
    expect(compose.services.user!.environment!.TSMICRO_SERVER_ADDRESS).toBe("0.0.0.0:9000");
    // The gateway runs as the container's process itself: npx would not pass docker stop's SIGTERM on.
    const gatewayCommand = compose.services.api!.command!;
    expect(gatewayCommand.slice(0, 2)).toEqual(["node_modules/.bin/tsmicro", "api"]);
    expect(existsSync(join(project, gatewayCommand[0]!))).toBe(true);

    const docs = await Promise.all(
      ["deployment", "service", "configmap", "hpa"].map(async (name) =>
        parseYaml(await readFile(join(project, "deploy/k8s", `${name}.yaml`), "utf8")),
      ),
    );
    const [deployment, service, configmap, hpa] = docs as [Deployment, PortService, ConfigMap, Autoscaler];
    expect(deployment.kind).toBe("Deployment");
    const container = deployment.spec.template.spec.containers[0]!;
    expect(container.ports[0]!.containerPort).toBe(9000);
    expect(container.readinessProbe.grpc.port).toBe(9000);
    expect(container.livenessProbe.grpc.port).toBe(9000);
    expect(container.env.map((e: { name: string }) => e.name)).toEqual(["DATABASE_URL"]);
    // No USER_PORT=tcp://… per Service of the namespace, which a config read by the USER_ prefix would take for a setting.
    expect(deployment.spec.template.spec.enableServiceLinks).toBe(false);
    expect(service.spec.ports[0]!.port).toBe(9000);
    for (const key of Object.keys(configmap.data)) expect(known, key).toContain(key);
    expect(configmap.data.TSMICRO_SERVER_ADDRESS).toBe("0.0.0.0:9000");
    // Prometheus scrapes the port /metrics is served on, which the container opens.
    const scrapePort = deployment.spec.template.metadata.annotations["prometheus.io/port"];
    expect(configmap.data.TSMICRO_METRICS_ADDRESS).toBe(`0.0.0.0:${scrapePort}`);
    expect(container.ports.map((p) => String(p.containerPort))).toContain(scrapePort);
    expect(hpa.spec.scaleTargetRef.name).toBe(deployment.metadata.name);
    expect(defaultServiceSettings.registry).toBe("local");
  });

  it(
    "regenerates after proto edits without changing a byte the user wrote",
    async () => {
      const tsmicro = (...args: string[]) => inProject(project, "npx", ["tsmicro", ...args], env);
      // The user's files: everything but what tsmicro owns (src/gen, the schema record) and what installs and builds make.
      const userFiles = async () => {
        const tree = new Map<string, string>();
        for (const top of await readdir(project)) {
          if (["node_modules", "dist", "data", "vendor"].includes(top)) continue;
          const sub = await readTree(join(project, top));
          if (sub.size === 0) tree.set(top, await readFile(join(project, top), "utf8"));
          for (const [path, content] of sub) tree.set(`${top}/${path}`, content);
        }
        for (const path of tree.keys())
          if (path.startsWith("src/gen/") || path === "migrations/schema.json") tree.delete(path);
        return tree;
      };
      const protoPath = join(project, "proto/user/v1/user.proto");
      const proto = await readFile(protoPath, "utf8");

      // Twice on the untouched project: nothing changes.
      const before = await userFiles();
      const again = await tsmicro("generate");
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toMatch(/\(0 changed\)\n$/);
      expect(await userFiles()).toEqual(before);

      // Add an rpc and a field.
      await writeFile(
        protoPath,
        proto
          .replace(
            "  // DeleteUser",
            "  // ArchiveUser hides a user.\n  rpc ArchiveUser(GetUserRequest) returns (User);\n  // DeleteUser",
          )
          .replace(
            "google.protobuf.Timestamp update_time = 5;",
            "google.protobuf.Timestamp update_time = 5;\n  string email = 6;",
          ),
      );
      const added = await tsmicro("generate");
      expect(added.code, added.stderr).toBe(0);
      expect(added.stdout).toContain(
        "created src/handler/user-service/archive-user.ts (rpc user.v1.UserService/ArchiveUser)",
      );
      expect(added.stdout).toContain("created migrations/0002_add_user_email.sql");
      const after = await userFiles();
      const changed = [...after.keys()].filter((path) => before.get(path) !== after.get(path));
      expect(changed.sort()).toEqual([
        "migrations/0002_add_user_email.sql",
        "proto/user/v1/user.proto",
        "src/handler/user-service/archive-user.ts",
      ]);
      expect(after.get("migrations/0001_create_user.sql")).toBe(before.get("migrations/0001_create_user.sql"));
      expect(after.get("migrations/0002_add_user_email.sql")).toBe(
        `ALTER TABLE "user" ADD COLUMN "email" text NOT NULL DEFAULT '';\n`,
      );
      const build = await inProject(project, "npm", ["run", "build"], env);
      expect(build.code).not.toBe(0);
      expect(build.stdout).toMatch(/src\/handler\/user-service\.ts.*Property 'archiveUser' is missing/);

      // Idempotent.
      const twice = await tsmicro("generate");
      expect(twice.stdout).toMatch(/\(0 changed\)\n$/);
      expect(await userFiles()).toEqual(after);

      // Remove an rpc: its handler file is reported, not deleted.
      const withoutDelete = (await readFile(protoPath, "utf8")).replace(/ {2}\/\/ DeleteUser.*?\n {2}\}\n/s, "");
      expect(withoutDelete).not.toContain("rpc DeleteUser");
      await writeFile(protoPath, withoutDelete);
      const removed = await tsmicro("generate");
      expect(removed.code, removed.stderr).toBe(0);
      expect(removed.stdout).toContain("orphaned: src/handler/user-service/delete-user.ts");
      expect(existsSync(join(project, "src/handler/user-service/delete-user.ts"))).toBe(true);

      // A service added to the proto: its handler is created, and until src/main.ts serves it every run says so.
      const withoutAdmin = await readFile(protoPath, "utf8");
      await writeFile(
        protoPath,
        `${withoutAdmin}\nservice AdminService {\n  rpc Purge(google.protobuf.Empty) returns (google.protobuf.Empty);\n}\n`,
      );
      try {
        const first = await tsmicro("generate");
        expect(first.code, first.stderr).toBe(0);
        expect(first.stdout).toContain("created src/handler/admin-service.ts (service AdminService); serve it");
        expect(first.stdout).not.toContain("not served");
        const later = await tsmicro("generate");
        expect(later.stdout).toContain(
          "not served: add service.handle(AdminServiceDefinition, createAdminServiceHandler(deps)) to src/main.ts to serve AdminService",
        );
      } finally {
        await writeFile(protoPath, withoutAdmin);
        await rm(join(project, "src/handler/admin-service.ts"), { force: true });
        await rm(join(project, "src/handler/admin-service"), { recursive: true, force: true });
        await tsmicro("generate");
      }
    },
    5 * minutes,
  );

  it(
    "generate's --proto and --out win over the project's own folders, a missing --proto folder fails, and a proto beside the one tsmicro.json owns is a client only",
    async () => {
      const tsmicro = (...args: string[]) => inProject(project, "npx", ["tsmicro", ...args], env);
      const missing = await tsmicro("generate", "--proto", "protos");
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain("protos");
      const elsewhere = await tsmicro("generate", "--out", "src/other-gen");
      try {
        expect(elsewhere.code, elsewhere.stderr).toBe(0);
        expect(elsewhere.stdout).toMatch(/^generated \d+ files in src\/other-gen \(\d+ changed\)\n/);
        expect(existsSync(join(project, "src/other-gen/user/v1/user.micro.ts"))).toBe(true);
      } finally {
        await rm(join(project, "src/other-gen"), { recursive: true, force: true });
      }
      // An absolute --proto is that folder, not one under the project.
      const absolute = await tsmicro("generate", "--proto", join(project, "proto"), "--out", "src/abs-gen");
      try {
        expect(absolute.code, absolute.stderr).toBe(0);
        expect(existsSync(join(project, "src/abs-gen/user/v1/user.micro.ts"))).toBe(true);
      } finally {
        await rm(join(project, "src/abs-gen"), { recursive: true, force: true });
      }
      // An empty --out is refused; --out above src/gen leaves src/gen's files alone.
      const empty = await tsmicro("generate", "--out", "");
      expect(empty.code).toBe(1);
      expect(empty.stderr).toBe("tsmicro: --out needs a folder: --out DIR\n");
      const before = new Set(await readdir(join(project, "src")));
      const above = await tsmicro("generate", "--out", "src");
      try {
        expect(above.code, above.stderr).toBe(0);
        expect(above.stdout).not.toContain("removed");
        expect(existsSync(join(project, "src/gen/user/v1/user.micro.ts"))).toBe(true);
      } finally {
        for (const entry of await readdir(join(project, "src")))
          if (!before.has(entry)) await rm(join(project, "src", entry), { recursive: true, force: true });
      }
      // The project's own tsmicro (installed from vendor/, as nothing is published) makes projects
      // that depend on the same tarballs.
      const beside = await mkdtemp(join(tmpdir(), "tsmicro-new-beside-"));
      try {
        const made = await tsmicro("new", "pay", "--no-install", "--dir", join(beside, "pay"));
        expect(made.code, made.stderr).toBe(0);
        const pkg = JSON.parse(await readFile(join(beside, "pay/package.json"), "utf8"));
        expect(pkg.dependencies["@tsmicro/runtime"]).toMatch(/^file:vendor\/tsmicro-runtime-.*\.tgz$/);
        expect(pkg.devDependencies.tsmicro).toMatch(/^file:vendor\/tsmicro-.*\.tgz$/);
        expect((await readdir(join(beside, "pay/vendor"))).sort()).toEqual(
          (await readdir(join(project, "vendor"))).sort(),
        );
        // To call user, pay takes a copy of its proto and says which folder is its own: user's
        // messages and client are generated, and nothing is scaffolded to serve or store users.
        const pay = join(beside, "pay");
        await cp(join(project, "proto/user"), join(pay, "proto/user"), { recursive: true });
        const config = JSON.parse(await readFile(join(pay, "tsmicro.json"), "utf8")) as object;
        await writeFile(join(pay, "tsmicro.json"), JSON.stringify({ ...config, owns: "pay" }, null, 2));
        const migrations = await readdir(join(pay, "migrations"));
        const clientOnly = await inProject(pay, join(project, "node_modules/.bin/tsmicro"), ["generate"], env);
        expect(clientOnly.code, clientOnly.stderr).toBe(0);
        expect(clientOnly.stdout).not.toContain("created");
        expect(existsSync(join(pay, "src/gen/user/v1/user.micro.ts"))).toBe(true);
        expect(await readdir(join(pay, "src/handler"))).not.toContainEqual(expect.stringMatching(/^user/));
        expect(await readdir(join(pay, "migrations"))).toEqual(migrations);
      } finally {
        await rm(beside, { recursive: true, force: true });
      }
      // A missing --templates folder is one line naming it.
      const templates = await tsmicro("generate", "--templates", "no-such-templates");
      expect(templates.code).toBe(1);
      expect(templates.stderr).toMatch(
        /^tsmicro: --templates has an invalid value "no-such-templates": the folder \S+no-such-templates does not exist; [^\n]*\n$/,
      );
    },
    2 * minutes,
  );
});

describe("templates", () => {
  it(
    "a --templates folder changes only the files it overrides",
    async () => {
      const dir = await mkdtemp(join(tmpdir(), "tsmicro-templates-"));
      try {
        const init = await inProject(dir, process.execPath, [
          join(repoRoot, "dist/bin/tsmicro.js"),
          "template",
          "init",
          "mine",
        ]);
        expect(init.code, init.stderr).toBe(0);
        const readme = join(dir, "mine/project/service/README.md.ejs");
        await writeFile(readme, "# <%= registeredName %>, our way\n");
        // A misnamed override would do nothing: it is warned about.
        await writeFile(join(dir, "mine/project/service/READNE.md.ejs"), "# typo\n");
        for (const [folder, extra] of [
          ["plain", []],
          ["custom", ["--templates", "../mine"]],
        ] as const) {
          await mkdir(join(dir, folder));
          const created = await runCreate(["user", "--no-install", ...extra], join(dir, folder));
          expect(created.code, created.stderr).toBe(0);
          if (folder === "custom")
            expect(created.stderr).toContain(
              "mine/project/service/READNE.md.ejs overrides no template tsmicro ships, and none includes it, so it is not used: did you mean project/service/README.md.ejs?",
            );
        }
        const plain = await readTree(join(dir, "plain/user"));
        const custom = await readTree(join(dir, "custom/user"));
        for (const tree of [plain, custom])
          for (const path of tree.keys()) if (path.startsWith("vendor/")) tree.delete(path);
        expect(custom.get("README.md")).toBe("# user, our way\n");
        const differing = [...plain.keys()].filter((path) => plain.get(path) !== custom.get(path));
        // tsmicro.json keeps the folder, so later generates use it too.
        expect(differing).toEqual(["README.md", "tsmicro.json"]);
        expect(JSON.parse(custom.get("tsmicro.json")!)).toEqual({
          ...JSON.parse(plain.get("tsmicro.json")!),
          templates: "../../mine",
        });

        // A template that renders invalid TypeScript is one line naming the file and where; nothing is written.
        const stub = join(dir, "mine/project/service/src/handler/method-stub.ts.ejs");
        const stubText = await readFile(stub, "utf8");
        await writeFile(
          stub,
          stubText.replace("function <%= method.functionName %>", "function <%= method.functionNam %>"),
        );
        const project = join(dir, "custom/user");
        const proto = join(project, "proto/user/v1/user.proto");
        await writeFile(
          proto,
          (await readFile(proto, "utf8")).replace(
            "  rpc DeleteUser",
            "  rpc Ping(GetUserRequest) returns (User);\n  rpc DeleteUser",
          ),
        );
        const before = await readTree(project);
        const broken = await inProject(project, process.execPath, [join(repoRoot, "dist/bin/tsmicro.js"), "generate"]);
        expect(broken.code).toBe(1);
        // (After the warning about the misnamed README override above.)
        expect(broken.stderr).not.toMatch(/\n\s+at /);
        expect(broken.stderr).toContain(
          "\ntsmicro: src/handler/user-service/ping.ts as rendered is not valid TypeScript (Expected ident at line 10:17); " +
            "nothing was written: check the template of yours (--templates) that writes it, or, with none, report this as a tsmicro bug\n",
        );
        expect(await readTree(project)).toEqual(before);
        await writeFile(stub, stubText);

        // revert takes a name without its .ejs, and a slip gets the name meant.
        const template = (...args: string[]) =>
          inProject(dir, process.execPath, [join(repoRoot, "dist/bin/tsmicro.js"), "template", ...args]);
        expect((await template("revert", "mine", "project/service/README.md")).code).toBe(0);
        expect(await readFile(readme, "utf8")).not.toContain("our way");
        const slip = await template("revert", "mine", "micro.ejs");
        expect(slip.code).toBe(1);
        expect(slip.stderr).toContain("tsmicro ships no such template; did you mean micro.ts.ejs?");
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    5 * minutes,
  );
});

/** The parts of the generated Kubernetes manifests (deploy/k8s/*.yaml) that the scaffold test reads. */
interface Deployment {
  kind: string;
  metadata: { name: string };
  spec: {
    template: {
      metadata: { annotations: Record<string, string> };
      spec: {
        enableServiceLinks?: boolean;
        containers: {
          ports: { containerPort: number }[];
          readinessProbe: { grpc: { port: number } };
          livenessProbe: { grpc: { port: number } };
          env: { name: string }[];
        }[];
      };
    };
  };
}
interface PortService {
  spec: { ports: { port: number }[] };
}
interface ConfigMap {
  data: Record<string, string>;
}
interface Autoscaler {
  spec: { scaleTargetRef: { name: string } };
}
