import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createClient, createDirectCaller, createGrpcClientTransport } from "@tsmicro/runtime";
import { createConfig } from "../runtime/src/config/create-config.js";
import { etcdSource } from "../runtime/src/config/etcd-source.js";
import { isSetupError } from "../runtime/src/errors/setup-error.js";
import { createLogger } from "../runtime/src/logging/logger.js";
import { AlphaDefinition } from "./golden/10-services/services.micro.js";
import { bins, repoRoot, run } from "./support/cli.js";
import { closedPort, etcdProgram, startEtcdCluster, type EtcdCluster } from "./support/etcd.js";
import { killAllNodes, startNode } from "./support/nodes.js";

const describeEtcd = etcdProgram ? describe : describe.skip;

/** Waits until `check` returns a value, polling; fails after `timeoutMs`. */
async function until<T>(check: () => T | undefined, what: string, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = check();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** JSON lines printed so far. */
function jsonLines(text: string): Record<string, unknown>[] {
  return text.split("\n").flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

/** A logger writing into an array, through the real logger and its redaction. */
function capturedLogger() {
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      raw.push(...chunk.toString().split("\n").filter(Boolean));
      done();
    },
  });
  return { logger: createLogger({ destination }), raw };
}

describe("etcd config source addresses", () => {
  it("refuses a malformed address as a flag, and says a name that does not resolve in words", async () => {
    const failure = (addresses: string[]) =>
      etcdSource({ addresses, service: "catalog", dialTimeoutMs: 3_000 })
        .read()
        .then(
          () => undefined,
          (e: unknown) => e,
        );
    const malformed = await failure(["127.0.0.1:notaport"]);
    expect(isSetupError(malformed) && malformed.code).toBe("TSM_ERR_FLAG");
    expect(String(malformed)).toContain(
      `the etcd config source's address has an invalid value "127.0.0.1:notaport": use host:port, such as 127.0.0.1:2379 or http://etcd-1:2379, or a host alone for port 2379`,
    );
    const unresolved = await failure(["nohost.invalid"]);
    expect(isSetupError(unresolved) && unresolved.code).toBe("TSM_ERR_CONFIG_UNREACHABLE");
    expect(String(unresolved)).toContain("cannot be reached (the name nohost.invalid does not resolve)");
    expect(String(unresolved)).not.toMatch(/UNAVAILABLE|Name resolution/);
  });

  it("tsmicro config refuses a malformed --registry_address before dialling", async () => {
    const result = await run("node", [bins.tsmicro, "config", "get", "--registry_address", "127.0.0.1:99999"]);
    expect(result).toMatchObject({
      code: 1,
      stdout: "",
      stderr:
        'tsmicro: --registry_address has an invalid value "127.0.0.1:99999": port 99999 is past 65535; such as 127.0.0.1:2379 or http://etcd-1:2379\n',
    });
  });

  it("tsmicro config takes --registry as the other registry commands do, and refuses a registry other than etcd", async () => {
    const result = await run("node", [bins.tsmicro, "config", "get", "--registry", "local"]);
    expect(result).toMatchObject({
      code: 1,
      stdout: "",
      stderr:
        'tsmicro: --registry has an invalid value "local": the config centre is in etcd; pass --registry etcd or leave it out\n',
    });
  });
});

describeEtcd("config on a real etcd", () => {
  let cluster: EtcdCluster;
  let etcd: Etcd3;
  let dir = "";
  const key = (service: string, path: string) => `/micro/config/${service}/${path}`;

  beforeAll(async () => {
    cluster = await startEtcdCluster({ members: 1 });
    etcd = new Etcd3({ hosts: [...cluster.endpoints] });
    dir = await mkdtemp(join(tmpdir(), "tsmicro-config-etcd-"));
  });

  afterAll(async () => {
    await killAllNodes();
    etcd?.close();
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("an etcd change reaches a running service's watcher within a second, and the service serves with it", async () => {
    await etcd.put(key("users", "http/port")).value("8080");
    await etcd.put(key("users", "database/url")).value('"postgres://db-1/users"');
    await etcd.put(key("users", "database/password")).value('"first-password"');
    const node = await startNode("test/fixtures/config-node.ts", [
      "--registry=etcd",
      `--registry_address=${cluster.endpoints[0]}`,
      "--server_address=127.0.0.1:0",
    ]);
    const transport = createGrpcClientTransport({});
    const users = createClient(AlphaDefinition, createDirectCaller({ transport, address: node.address }));
    try {
      expect(await users.unary({ id: "", payload: new Uint8Array() })).toMatchObject({ id: "hello", sequence: 8080 });

      // Three changes, each timed from just before the put to the watcher's call in the service's process.
      for (const port of [8081, 8082, 8083]) {
        const putAt = Date.now();
        await etcd.put(key("users", "http/port")).value(String(port));
        const change = await until(
          () => jsonLines(node.output()).find((line) => line.event === "changed" && line.port === port),
          `the watcher's call for port ${port}`,
        );
        expect(change.previous).toBe(port - 1);
        expect(Number(change.at) - putAt).toBeLessThan(1_000);
      }
      await etcd.put(key("users", "greeting")).value('"hola"');
      await until(
        () =>
          jsonLines(node.output()).some(
            (line) => line.msg === "configuration changed" && String(line.changed) === "greeting",
          )
            ? true
            : undefined,
        "the greeting change",
      );
      expect(await users.unary({ id: "", payload: new Uint8Array() })).toMatchObject({ id: "hola", sequence: 8083 });

      // A secret's change reaches the watcher too, and the service's own log names the key, never the value.
      await etcd.put(key("users", "database/url")).value('"postgres://app:new-secret@db-2/users"');
      await until(
        () => jsonLines(node.output()).find((line) => line.event === "changed" && line.path === "database.url"),
        "the database.url watcher's call",
      );
      const logged = jsonLines(node.output()).filter((line) => line.msg === "configuration changed");
      expect(logged.at(-1)?.changed).toEqual(["database.url"]);
      expect(logged.at(-1)?.service).toBe("users");
      expect(node.output()).not.toContain("new-secret");
    } finally {
      await transport.close();
      node.kill("SIGTERM");
      await node.exited;
    }
  });

  it("rejects a bad value with an error naming the key and the etcd key, keeping the old value", async () => {
    await etcd.delete().prefix(key("orders", "")).exec();
    await etcd.put(key("orders", "http/port")).value("9000");
    await etcd.put(key("orders", "database/url")).value('"postgres://db/orders"');
    const { logger, raw } = capturedLogger();
    const config = createConfig({
      schema: z.object({
        http: z.object({ port: z.number().int().max(65_535) }),
        database: z.object({ url: z.string().startsWith("postgres://") }),
      }),
      sources: [etcdSource({ addresses: cluster.endpoints, service: "orders" })],
      logger,
    });
    await config.start();
    const ports: number[] = [];
    config.watch("http.port", (port) => ports.push(port));
    try {
      await etcd.put(key("orders", "http/port")).value('"nine thousand"');
      const line = await until(() => raw.find((text) => text.includes("TSM_ERR_CONFIG_INVALID")), "the rejection");
      const rejected = JSON.parse(line) as { msg: string; problems: string[] };
      expect(rejected.msg).toBe(
        "configuration change from etcd /micro/config/orders/ rejected; the previous configuration stays",
      );
      expect(rejected.problems).toEqual([
        "http.port: Invalid input: expected number, received string (set by etcd /micro/config/orders/http/port)",
      ]);
      expect(config.get("http.port")).toBe(9000);

      // Deleting the key leaves the setting unset, which the schema refuses too; the old value still stays.
      await etcd.delete().key(key("orders", "http/port")).exec();
      await until(
        () => (raw.filter((text) => text.includes("TSM_ERR_CONFIG_INVALID")).length === 2 ? true : undefined),
        "the second rejection",
      );
      expect(raw.at(-1)).toContain(
        '"problems":["http: Invalid input: expected object, received undefined (set by no source; set it in etcd /micro/config/orders/http)"]',
      );
      expect(config.get("http.port")).toBe(9000);

      // A good value goes through.
      await etcd.put(key("orders", "http/port")).value("9001");
      await until(() => (ports.length > 0 ? true : undefined), "the good change");
      expect(ports).toEqual([9001]);
    } finally {
      await config.stop();
    }
  });

  it("warns about a key set in the service's etcd prefix that its schema does not read, not about a shared prefix's", async () => {
    await etcd.delete().prefix(key("pricing", "")).exec();
    await etcd.put(key("pricing", "http/port")).value("9000");
    await etcd.put(key("pricing", "http/prot")).value("9100");
    const schema = z.object({ http: z.object({ port: z.number() }), currency: z.string().default("EUR") });
    const own = capturedLogger();
    const config = createConfig({
      schema,
      sources: [etcdSource({ addresses: cluster.endpoints, service: "pricing" })],
      logger: own.logger,
    });
    // go-micro's /micro/config/ holds every service's keys: pricing's http.port there, beside the others'.
    const shared = capturedLogger();
    const sharedConfig = createConfig({
      schema: z.object({ pricing: schema }),
      sources: [etcdSource({ addresses: cluster.endpoints })],
      logger: shared.logger,
    });
    await Promise.all([config.start(), sharedConfig.start()]);
    const warnings = () => jsonLines(own.raw.join("\n")).filter((line) => line.level === 40);
    try {
      expect(warnings()).toEqual([
        expect.objectContaining({
          msg: "etcd /micro/config/pricing/http/prot sets http.prot, which the configuration's schema does not read, so it has no effect; did you mean http.port?",
          key: "http.prot",
          meant: "http.port",
        }),
      ]);
      expect(config.get("http.port")).toBe(9000);
      // A key put while the service runs is told as it arrives.
      await etcd.put(key("pricing", "curency")).value('"USD"');
      const late = await until(() => warnings()[1], "the warning about curency");
      expect(late.msg).toMatch(/^etcd \/micro\/config\/pricing\/curency sets curency, .*; did you mean currency\?$/);
      expect(jsonLines(shared.raw.join("\n")).filter((line) => line.level === 40)).toEqual([]);
    } finally {
      await Promise.all([config.stop(), sharedConfig.stop()]);
    }
  });

  it("fails to start with a SetupError when the settings in etcd do not validate, naming each key", async () => {
    await etcd.put(key("bad", "http/port")).value("70000");
    const config = createConfig({
      schema: z.object({ http: z.object({ port: z.number().max(65_535) }), name: z.string() }),
      sources: [etcdSource({ addresses: cluster.endpoints, service: "bad" })],
      logger: capturedLogger().logger,
    });
    const error: unknown = await config.start().catch((caught: unknown) => caught);
    expect(isSetupError(error) && error.code).toBe("TSM_ERR_CONFIG_INVALID");
    expect((error as Error).message).toBe(
      "the configuration does not match its schema: http.port: Too big: expected number to be <=65535 (set by etcd /micro/config/bad/http/port); name: Invalid input: expected string, received undefined (set by no source; set it in etcd /micro/config/bad/name)",
    );
  });

  it("says loudly when etcd cannot be reached at start", async () => {
    const port = await closedPort();
    const config = createConfig({
      schema: z.object({}),
      sources: [etcdSource({ addresses: [`127.0.0.1:${port}`], service: "x", dialTimeoutMs: 500 })],
      logger: capturedLogger().logger,
    });
    const error: unknown = await config.start().catch((caught: unknown) => caught);
    expect(isSetupError(error) && error.code).toBe("TSM_ERR_CONFIG_UNREACHABLE");
    expect((error as Error).message).toMatch(
      new RegExp(
        `^the etcd config source at 127\\.0\\.0\\.1:${port} cannot be reached \\(.+\\); start etcd, or correct the config source's addresses$`,
      ),
    );
    // The socket's error, not grpc-js's wording of it ("14 UNAVAILABLE: No connection established…").
    expect((error as Error).message).not.toMatch(/UNAVAILABLE|No connection established|Resolution note/);
  });

  describe("tsmicro config", () => {
    const tsmicro = (...args: string[]) =>
      run("node", [bins.tsmicro, "config", ...args, "--registry_address", cluster.endpoints[0]!]);
    const settings = {
      database: { url: "postgres://app:db-pass@db/catalog", password: "s3cret-pw", pool: { max: 20, idleMs: 5000 } },
      http: { port: 8080, cors: ["https://a.example", "https://b.example"], tls: false },
      name: "catalog",
      limits: { perUser: null },
    };

    it("import FILE then get round-trips the file, secrets shown only when asked", async () => {
      const file = join(dir, "catalog.yaml");
      await writeFile(
        file,
        [
          "database:",
          "  url: postgres://app:db-pass@db/catalog",
          "  password: s3cret-pw",
          "  pool: { max: 20, idleMs: 5000 }",
          "http:",
          "  port: 8080",
          "  cors: [https://a.example, https://b.example]",
          "  tls: false",
          "name: catalog",
          "limits:",
          "  perUser: null",
        ].join("\n"),
      );
      const imported = await tsmicro("import", file, "--service", "catalog");
      expect(imported, imported.stderr).toMatchObject({
        code: 0,
        stdout: `imported 9 keys from ${file} into /micro/config/catalog/\n`,
      });
      const stored = await etcd.get(key("catalog", "database/pool/max")).string();
      expect(stored).toBe("20");

      // Independent reads run side by side: each CLI start costs seconds on a busy machine.
      const [shown, hidden, marked, dashed, camel, named] = await Promise.all([
        tsmicro("get", "--service", "catalog", "--show_secrets"),
        tsmicro("get", "--service", "catalog"),
        tsmicro("get", "http", "--service", "catalog", "--secret", "http.port"),
        tsmicro("get", "database.password", "--service", "catalog", "--show-secrets"),
        tsmicro("get", "database.password", "--service", "catalog", "--showSecrets"),
        tsmicro("get", "name", "--service", "catalog", "--registry", "etcd"),
      ]);
      expect(shown.code, shown.stderr).toBe(0);
      expect(JSON.parse(shown.stdout)).toEqual(settings);

      expect(JSON.parse(hidden.stdout)).toEqual({
        ...settings,
        database: { ...settings.database, url: "postgres://app:[secret]@db/catalog", password: "[secret]" },
      });
      expect(hidden.stdout).not.toContain("s3cret-pw");
      expect(hidden.stdout).not.toContain("db-pass");

      expect(JSON.parse(marked.stdout)).toEqual({ ...settings.http, port: "[secret]" });
      expect(dashed.stdout).toBe('"s3cret-pw"\n');
      // One spelling per flag (and the dashed one): no camelCase twin.
      expect(camel.code).toBe(1);
      expect(camel.stdout).toBe("");
      expect(camel.stderr).toBe("tsmicro: unknown flag --showSecrets: did you mean --show_secrets?\n");
      // The registry flags are the same on every registry command: --registry etcd is taken here too.
      expect(named, named.stderr).toMatchObject({ code: 0, stdout: '"catalog"\n' });
    });

    it("set refuses a value where settings are under it, and a setting under a value, rather than store one readers ignore", async () => {
      expect(await tsmicro("set", "page.size", "20", "--service", "pager")).toMatchObject({ code: 0 });
      const [over, under, replaced] = await Promise.all([
        tsmicro("set", "page", "7", "--service", "pager"),
        tsmicro("set", "page.size.max", "3", "--service", "pager"),
        tsmicro("set", "page", '{"size":30}', "--service", "pager"),
      ]);
      expect(over).toMatchObject({
        code: 1,
        stderr:
          "tsmicro: page has settings under it (page.size), which a value there would hide: set those, or delete page first (tsmicro config del page)\n",
      });
      expect(under).toMatchObject({
        code: 1,
        stderr:
          "tsmicro: page.size is a value, so page.size.max cannot go under it: delete page.size first (tsmicro config del page.size), or set page.size to an object\n",
      });
      // The same keys written anew are no overlap, and the line names the key written, page.size's.
      expect(replaced, replaced.stderr).toMatchObject({
        code: 0,
        stdout: "set page.size (/micro/config/pager/page/size)\n",
      });
      expect(await etcd.get(key("pager", "page")).string()).toBeNull();
      expect(await etcd.get(key("pager", "page/size/max")).string()).toBeNull();

      // Text that starts as JSON does but does not parse is refused; a plain word is still a string, and
      // the broken text given as a JSON string is stored as that text.
      const [broken, word, quoted] = await Promise.all([
        tsmicro("set", "title", "{bad", "--service", "pager"),
        tsmicro("set", "greeting", "hello world", "--service", "pager"),
        tsmicro("set", "marker", '"{bad"', "--service", "pager"),
      ]);
      expect(broken).toMatchObject({
        code: 1,
        stderr:
          'tsmicro: the value for title is not valid JSON at line 1, column 2: expected a "quoted" property name, found "b"; ' +
          `a value starting with { is read as JSON. To store the text as a string, give it as a JSON string: '"{bad"'\n`,
      });
      expect(await etcd.get(key("pager", "title")).string()).toBeNull();
      expect(word, word.stderr).toMatchObject({ code: 0 });
      expect(await etcd.get(key("pager", "greeting")).string()).toBe('"hello world"');
      expect(quoted, quoted.stderr).toMatchObject({ code: 0 });
      expect(await etcd.get(key("pager", "marker")).string()).toBe('"{bad"');
    });

    it("set, del and watch: each change printed as a JSON line until interrupted", async () => {
      const watcher = spawn(
        process.execPath,
        [bins.tsmicro, "config", "watch", "feature", "--service", "shop", "--registry_address", cluster.endpoints[0]!],
        { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] },
      );
      let output = "";
      watcher.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
      watcher.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => watcher.once("exit", (code) => resolve(code)));
      try {
        // The watch starts once etcd answers; a change made before that is not printed, so wait for a canary.
        const canaryDeadline = Date.now() + 10_000;
        while (!output.includes('"feature.canary"') && Date.now() < canaryDeadline) {
          await etcd.put(key("shop", "feature/canary")).value("1");
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        expect(
          await tsmicro("set", "feature.flags", '{"beta":true,"apiToken":"tok-1234"}', "--service", "shop"),
        ).toMatchObject({
          code: 0,
          stdout: "set feature.flags (2 keys under /micro/config/shop/feature/flags/)\n",
        });
        // Outside the watched path: not printed.
        await etcd.put(key("shop", "other/value")).value('"x"');
        expect(await tsmicro("del", "feature.flags", "--service", "shop")).toMatchObject({
          code: 0,
          stdout: "deleted feature.flags (2 keys)\n",
        });
        await until(
          () => (output.split("\n").filter((line) => line.includes('"delete"')).length === 2 ? true : undefined),
          "the deletes",
        );
        const changes = jsonLines(output).filter((line) => line.path !== "feature.canary");
        expect(changes).toEqual([
          { action: "put", path: "feature.flags.beta", key: "/micro/config/shop/feature/flags/beta", value: true },
          {
            action: "put",
            path: "feature.flags.apiToken",
            key: "/micro/config/shop/feature/flags/apiToken",
            value: "[secret]",
          },
          // etcd deletes a range in key order.
          { action: "delete", path: "feature.flags.apiToken", key: "/micro/config/shop/feature/flags/apiToken" },
          { action: "delete", path: "feature.flags.beta", key: "/micro/config/shop/feature/flags/beta" },
        ]);
        expect(output).not.toContain("tok-1234");
      } finally {
        watcher.kill("SIGINT");
      }
      expect(await exited).toBe(0);
    });

    it("errors are one line and exit 1: a missing key, a bad file, an unreachable etcd", async () => {
      const bad = join(dir, "bad.json");
      await writeFile(bad, '{\n  "a": 1,\n  "b" 2\n}\n');
      const port = await closedPort();
      // A write that names no service would land where no service reads.
      const nobody = await tsmicro("set", "greeting", "Hey");
      expect(nobody).toMatchObject({ code: 1, stdout: "" });
      expect(nobody.stderr).toBe(
        "tsmicro: say whose settings these are: --service NAME writes under /micro/config/NAME/, where that service " +
          "reads; --prefix PATH writes elsewhere on purpose\n",
      );
      const [missing, parse, down] = await Promise.all([
        tsmicro("get", "no.such.key", "--service", "catalog"),
        tsmicro("import", bad, "--service", "catalog"),
        run("node", [bins.tsmicro, "config", "get", "--registry_address", `127.0.0.1:${port}`]),
      ]);
      expect(missing).toMatchObject({ code: 1, stdout: "" });
      expect(missing.stderr).toBe(
        `tsmicro: no setting no.such.key under /micro/config/catalog/ in etcd at ${cluster.endpoints[0]}\n`,
      );

      expect(parse.code).toBe(1);
      expect(parse.stderr).toMatch(new RegExp(`^tsmicro: ${bad}:3:7: not valid JSON: .+\\n$`));

      expect(down.code).toBe(1);
      expect(down.stderr).toMatch(
        new RegExp(
          `^tsmicro: the etcd config source at 127\\.0\\.0\\.1:${port} cannot be reached \\(.+\\); start etcd, or pass its endpoints with --registry_address\\n$`,
        ),
      );
      expect(down.stderr).toContain(
        `(connect ECONNREFUSED 127.0.0.1:${port}: nothing listens there (is etcd running?))`,
      );
    });
  });
  /** A running config of the service's `level` from etcd, and the values its watcher saw. */
  async function watchedLevel(service: string) {
    const config = createConfig({
      schema: z.object({ level: z.string() }),
      sources: [etcdSource({ addresses: cluster.endpoints, service })],
      logger: capturedLogger().logger,
    });
    await config.start();
    const levels: string[] = [];
    config.watch("level", (level) => levels.push(level));
    return { config, levels };
  }

  it("keeps following etcd after it restarts, and keeps the last settings while it is down", async () => {
    await etcd.put(key("restart", "level")).value('"info"');
    const { config, levels } = await watchedLevel("restart");
    try {
      await cluster.stopMember(0);
      expect(config.get("level")).toBe("info");
      await cluster.startMember(0);
      await etcd.put(key("restart", "level")).value('"debug"');
      await until(() => (levels.length > 0 ? true : undefined), "the change after the restart", 15_000);
      expect(levels).toEqual(["debug"]);
    } finally {
      await config.stop();
    }
  });

  it("follows etcd that came back empty: settings written again reach the service, though etcd's revisions started over", async () => {
    // History, as any running system has: the new etcd's revisions will be far behind these.
    for (let i = 0; i < 30; i++) await etcd.put(key("refilled", "level")).value(`"level${i}"`);
    await etcd.put(key("refilled", "level")).value('"info"');
    const { config, levels } = await watchedLevel("refilled");
    try {
      await cluster.stopMember(0);
      await cluster.startMember(0, { empty: true });
      // The setting is gone with the old data: the service keeps the last valid one meanwhile.
      await etcd.put(key("refilled", "level")).value('"debug"');
      await until(() => (levels.length > 0 ? true : undefined), "the setting written again", 15_000);
      expect(levels).toEqual(["debug"]);
      expect(config.get("level")).toBe("debug");
    } finally {
      await config.stop();
    }
  });
});
