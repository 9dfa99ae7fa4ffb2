/**
 * examples/system end to end, as a user runs it: a copy of the example generated with `tsmicro generate`,
 * each service's own tests, `npm run demo -- --once`, and the system in real processes (config, auth,
 * user, the user API and `tsmicro api --handler web`): register, the original curl's form login,
 * /user/me, a wrong password, one login as one trace in an OTLP receiver, the login breaker's fallback
 * while auth is down and the recovery after it restarts: on the embedded defaults, and again on a real
 * etcd, NATS and PostgreSQL, auth's token lifetime and the user service's database served by the config
 * service from etcd.
 */
import { spawn } from "node:child_process";
import { cp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { bins, repoRoot, repoTempDir, run } from "./support/cli.js";
import { etcdProgram, startEtcdCluster } from "./support/etcd.js";
import { natsProgram, startNatsServer } from "./support/nats.js";
import { killAllNodes, type NodeProcess, startNode } from "./support/nodes.js";
import { type Receiver, startReceiver } from "./support/otlp-receiver.js";
import { freePort } from "./support/ports.js";
import { postgresBinDir, startPostgres } from "./support/postgres.js";

const services = ["config", "auth", "user", "user-api"] as const;
let dir: string;
let receiver: Receiver;

beforeAll(async () => {
  // Two levels below the repository (as examples/system is), so demo.ts finds dist/ and node_modules resolve.
  dir = await repoTempDir("example-system");
  await cp(join(repoRoot, "examples/system"), dir, {
    recursive: true,
    filter: (path) => !/[/\\](src[/\\]gen|data|\.demo|node_modules)$/.test(path),
  });
  const generated = await run("node", [bins.tsmicro, "generate"], { cwd: dir });
  expect(generated.stderr).toBe("");
  receiver = await startReceiver();
});

afterAll(async () => {
  await killAllNodes();
  await receiver?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The running system: each process, and the gateway's address. */
interface System {
  readonly nodes: Record<(typeof services)[number] | "api", NodeProcess>;
  readonly url: string;
}

/** Starts the system as the demo does, config first, each process with `flags` and exporting its spans. */
async function startSystem(flags: readonly string[]): Promise<System> {
  const env = {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_BSP_SCHEDULE_DELAY: "100",
    // On PostgreSQL a service migrates at start only when told to (PGlite always does).
    TSMICRO_MIGRATE: "on",
  };
  const start = (service: string) => startNode("src/main.ts", flags, env, join(dir, "services", service));
  // One after another, config first: on a busy machine (CI runs two test files at once) four processes
  // compiling and opening PGlite together starve each other.
  const config = await start("config");
  const auth = await start("auth");
  const user = await start("user");
  const web = await start("user-api");
  const address = `127.0.0.1:${await freePort()}`;
  const gateway = ["api", "--handler=web", "--api_namespace=api.micro.platform.web", `--address=${address}`];
  const api = await startNode(bins.tsmicro, [...gateway, ...flags], env, dir);
  return { nodes: { config, auth, user, "user-api": web, api }, url: `http://${address}` };
}

/** Stops every process of the system with SIGTERM, the gateway first. */
async function stopSystem(system: System): Promise<void> {
  for (const node of [system.nodes.api, system.nodes["user-api"], system.nodes.user, system.nodes.auth]) {
    node.kill("SIGTERM");
    await node.exited;
  }
  system.nodes.config.kill("SIGTERM");
  await system.nodes.config.exited;
}

/** POSTs a form body, as the original curl does. */
function postForm(url: string, body: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body,
  });
}

interface Login {
  readonly token: string;
  readonly expires_at: string;
  readonly user: { readonly user_id: string; readonly user_name: string };
}

/** Registers `name`, logs in with the form body and reads /user/me with the token. */
async function registerAndLogIn(system: System, name: string): Promise<Login> {
  const registered = await postForm(`${system.url}/user/register`, `userName=${name}&pwd=s3cret`);
  expect(registered.status).toBe(201);
  const login = await postForm(`${system.url}/user/login`, `userName=${name}&pwd=s3cret`);
  expect(login.status).toBe(200);
  const body = (await login.json()) as Login;
  expect(body.user.user_name).toBe(name);
  const me = await fetch(`${system.url}/user/me`, { headers: { authorization: `Bearer ${body.token}` } });
  expect(await me.json()).toMatchObject({ user_id: body.user.user_id, user_name: name });
  return body;
}

describe("examples/system", () => {
  it.each(services)("%s passes its own tests", async (service) => {
    const tested = await run("node", [join(repoRoot, "node_modules/vitest/vitest.mjs"), "run"], {
      cwd: join(dir, "services", service),
    });
    // biome-ignore lint/suspicious/noControlCharactersInRegex: vitest colours its summary
    expect((tested.stdout + tested.stderr).replace(/\u001b\[[0-9;]*m/g, "")).toMatch(/Tests\s+\d+ passed/);
    expect(tested.code).toBe(0);
  });

  it("npm run demo -- --once starts everything, logs in as micro / 123 and stops", async () => {
    const registry = await repoTempDir("example-system-registry");
    try {
      const demo = await run(
        "node",
        ["--import", "tsx", "demo.ts", "--once", `--port=${await freePort()}`, `--registry_address=${registry}`],
        { cwd: dir },
      );
      expect(demo.stderr).toBe("");
      expect(demo.code).toBe(0);
      expect(demo.stdout).toContain("--data 'userName=micro&pwd=123'\n200 {");
      expect(demo.stdout).toMatch(/"token": "ey[\w-]+\.[\w-]+\.[\w-]+"/);
      expect(demo.stdout).toContain('"user_name": "micro"');
    } finally {
      await rm(registry, { recursive: true, force: true });
    }
  });

  it("npm run demo keeps the system up until Ctrl-C, then stops every process it started", async () => {
    const registry = await repoTempDir("example-system-registry");
    const demo = spawn(
      process.execPath,
      ["--import", "tsx", "demo.ts", `--port=${await freePort()}`, `--registry_address=${registry}`],
      { cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
    );
    const exited = new Promise<number | null>((resolve) => demo.once("exit", (code) => resolve(code)));
    let output = "";
    demo.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    demo.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    try {
      // Five processes start on PGlite: under a loaded suite on two cores, well over a minute.
      await vi.waitFor(() => expect(output).toContain("Ctrl-C stops everything."), { timeout: 120_000, interval: 200 });
      const pids = [...output.matchAll(/started \(pid (\d+)\)/g)].map((match) => Number(match[1]));
      expect(pids).toHaveLength(5);
      demo.kill("SIGINT");
      expect(await exited).toBe(0);
      const alive = pids.filter((pid) => {
        try {
          process.kill(pid, 0);
          return true;
        } catch {
          return false;
        }
      });
      expect(alive).toEqual([]);
    } finally {
      // A failed step leaves the demo up: Ctrl-C it as a user would, so it stops what it started,
      // and kill what is still there, so no service holds the example's database for the next test.
      if (demo.exitCode === null) {
        demo.kill("SIGINT");
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 20_000))]);
        if (demo.exitCode === null) demo.kill("SIGKILL");
      }
      for (const [, pid] of output.matchAll(/started \(pid (\d+)\)/g)) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {
          // Stopped already.
        }
      }
      await rm(registry, { recursive: true, force: true });
    }
  }, 180_000);
});

/** Where the system runs: its flags, the token lifetime its config gives, and how to stop what it started. */
interface Servers {
  readonly flags: readonly string[];
  /** auth.jwt.ttl as the config service serves it, in seconds. */
  readonly ttl: number;
  /** The user service's database, as the config service names it. */
  readonly database: "pglite" | "postgres";
  /** Changes auth.jwt.ttl where this setup keeps it, while the system runs. */
  setTtl(ttl: number): Promise<void>;
  stop(): Promise<void>;
}

const setups: readonly { readonly name: string; readonly available: boolean; start(): Promise<Servers> }[] = [
  {
    name: "the local registry, PGlite and the embedded broker",
    available: true,
    async start() {
      const registry = await repoTempDir("example-system-registry");
      return {
        flags: [`--registry_address=${registry}`],
        ttl: 3600,
        database: "pglite",
        // The config service watches its file.
        async setTtl(ttl) {
          const file = join(dir, "services/config/config.yaml");
          await writeFile(file, (await readFile(file, "utf8")).replace(/^(\s+ttl:) \d+$/m, `$1 ${ttl}`));
        },
        stop: () => rm(registry, { recursive: true }),
      };
    },
  },
  {
    // The config service serves what etcd holds over config.yaml: auth's token lifetime and the user
    // service's database, a real PostgreSQL.
    name: "a real etcd, NATS and PostgreSQL",
    available: Boolean(etcdProgram && natsProgram && postgresBinDir),
    async start() {
      const [etcd, nats, postgres] = await Promise.all([
        startEtcdCluster({ members: 1 }),
        startNatsServer(),
        startPostgres(),
      ]);
      const endpoint = etcd.endpoints[0]!;
      const set = (key: string, value: string) =>
        run("node", [bins.tsmicro, "config", "set", key, value, "--service=config", `--registry_address=${endpoint}`]);
      expect((await set("auth.jwt.ttl", "120")).stderr).toBe("");
      expect((await set("user.database.url", JSON.stringify(postgres.url))).stderr).toBe("");
      return {
        flags: ["--registry=etcd", `--registry_address=${endpoint}`, "--broker=nats", `--broker_address=${nats.url}`],
        ttl: 120,
        database: "postgres",
        async setTtl(ttl) {
          expect((await set("auth.jwt.ttl", String(ttl))).stderr).toBe("");
        },
        stop: async () => {
          await Promise.all([nats.stop(), etcd.stop(), postgres.stop()]);
        },
      };
    },
  },
];

for (const setup of setups) {
  (setup.available ? describe : describe.skip)(`examples/system in real processes on ${setup.name}`, () => {
    let servers: Servers;
    let system: System;

    beforeAll(async () => {
      servers = await setup.start();
      system = await startSystem(servers.flags);
    });

    afterAll(async () => {
      if (system) await stopSystem(system);
      await servers?.stop();
    });

    it("registers a user, logs in with the original curl's form body, and answers /user/me", async () => {
      const login = await registerAndLogIn(system, "ann");
      // The password went through every process, and none of them logged it.
      for (const node of Object.values(system.nodes)) expect(node.output()).not.toContain("s3cret");
      const lasts = (Date.parse(login.expires_at) - Date.now()) / 1000;
      expect(lasts).toBeGreaterThan(servers.ttl - 20);
      expect(lasts).toBeLessThanOrEqual(servers.ttl);
      const micro = await postForm(`${system.url}/user/login`, "userName=micro&pwd=123");
      expect(micro.status).toBe(200);
      expect(system.nodes.user.output()).toContain(`"database":"${servers.database}"`);
    });

    it("answers 401 for a wrong password or a forged token, 409 for a taken name", async () => {
      expect((await postForm(`${system.url}/user/login`, "userName=micro&pwd=124")).status).toBe(401);
      const forged = await fetch(`${system.url}/user/me`, { headers: { authorization: "Bearer a.b.c" } });
      expect(forged.status).toBe(401);
      expect((await postForm(`${system.url}/user/register`, "userName=micro&pwd=1234")).status).toBe(409);
    });

    it("makes one login one trace across the gateway, the user API, user and auth", async () => {
      const login = await postForm(`${system.url}/user/login`, "userName=micro&pwd=123");
      expect(login.status).toBe(200);
      const traceId = login.headers.get("traceresponse")?.split("-")[1];
      expect(traceId).toMatch(/^[0-9a-f]{32}$/);
      await vi.waitFor(
        () => {
          const spans = receiver.spans.filter((span) => span.traceId === traceId);
          const server = (service: string, name: string) =>
            spans.find((span) => span.service === service && span.kind === "server" && span.name === name);
          const checkPassword = server("user", "user.v1.UserService/CheckPassword");
          const makeToken = server("auth", "auth.v1.AuthService/MakeAccessToken");
          expect(new Set(spans.map((span) => span.service))).toEqual(
            new Set(["api", "api.micro.platform.web.user", "user", "auth"]),
          );
          // Each service's span is the child of the user API's call to it.
          const parent = (span: typeof checkPassword) =>
            spans.find((candidate) => candidate.spanId === span?.parentSpanId);
          expect(parent(checkPassword)).toMatchObject({ service: "api.micro.platform.web.user", kind: "client" });
          expect(parent(makeToken)).toMatchObject({ service: "api.micro.platform.web.user", kind: "client" });
        },
        { timeout: 15_000, interval: 200 },
      );
    });

    it("gives new tokens a lifetime changed in the config centre, without a restart", async () => {
      await servers.setTtl(45);
      await vi.waitFor(
        async () => {
          const login = await postForm(`${system.url}/user/login`, "userName=micro&pwd=123");
          const lasts = (Date.parse(((await login.json()) as Login).expires_at) - Date.now()) / 1000;
          expect(lasts).toBeLessThanOrEqual(45);
          expect(lasts).toBeGreaterThan(25);
        },
        { timeout: 15_000, interval: 300 },
      );
      expect(system.nodes.auth.output()).toContain("auth.jwt changed: new tokens use it");
    });

    it("answers logins with the breaker's fallback (503) while auth is down, and recovers once it is back", async () => {
      system.nodes.auth.kill("SIGTERM");
      await system.nodes.auth.exited;
      for (let i = 0; i < 25; i++) {
        const login = await postForm(`${system.url}/user/login`, "userName=micro&pwd=123");
        expect(login.status).toBe(503);
        expect(login.headers.get("retry-after")).toBe("5");
        expect(await login.json()).toMatchObject({ fallback: true });
      }
      // Past 20 calls at more than 50 % failures the breaker is open: logins fail fast, without calling auth.
      await vi.waitFor(() =>
        expect(system.nodes["user-api"].output()).toContain(
          "circuit breaker for auth /auth.v1.AuthService/MakeAccessToken opened",
        ),
      );
      system.nodes.auth = await startNode("src/main.ts", servers.flags, {}, join(dir, "services", "auth"));
      // One probe goes through after the breaker's 5 s reset timeout, and its success closes it.
      await vi.waitFor(
        async () => expect((await postForm(`${system.url}/user/login`, "userName=micro&pwd=123")).status).toBe(200),
        { timeout: 20_000, interval: 500 },
      );
    });
  });
}
