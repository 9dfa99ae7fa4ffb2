import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";
import { isSetupError } from "../errors/setup-error.js";
import { createLogger } from "../logging/logger.js";
import { createConfig } from "./create-config.js";
import { envSource } from "./env-source.js";
import { fileSource } from "./file-source.js";
import { createMemorySource } from "./memory-source.js";

/** A logger writing parsed lines into an array, through the real logger (and its redaction). */
function capturedLogger() {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) {
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { logger: createLogger({ destination }), lines, raw };
}

/** `line:column`, from 1, where `needle` first appears in `text`. */
function lineColumnOf(text: string, needle: string): string {
  const before = text.slice(0, text.indexOf(needle)).split("\n");
  return `${before.length}:${before.at(-1)!.length + 1}`;
}

/** Waits until `check` holds, polling; fails after `timeoutMs`. */
async function until(check: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const schema = z.object({
  name: z.string(),
  http: z.object({ port: z.number().int().min(1).max(65_535), readTimeout: z.string().default("5s") }),
  database: z.object({ url: z.string().startsWith("postgres://"), poolSize: z.number().default(10) }),
  features: z.array(z.string()).default([]),
});

describe("createConfig", () => {
  let dir = "";
  let yamlFile = "";

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-config-"));
    yamlFile = join(dir, "config.yaml");
    await writeFile(
      yamlFile,
      [
        "name: from-file",
        "http:",
        "  port: 8081",
        "database:",
        "  url: postgres://app:file-pass@file-db/app",
        "features: [a, b]",
      ].join("\n"),
    );
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("layers defaults < file < env < a later source, key by key, and applies the schema's defaults", async () => {
    const centre = createMemorySource({ database: { poolSize: 50 } }, "etcd (memory stand-in)");
    const config = createConfig({
      schema,
      defaults: { name: "default", http: { port: 8080 }, database: { url: "postgres://localhost/app", poolSize: 5 } },
      sources: [
        fileSource(yamlFile),
        envSource({ prefix: "APP_", env: { APP_HTTP__PORT: "9090", APP_NAME: "from-env", OTHER: "x" } }),
        centre,
      ],
      logger: capturedLogger().logger,
    });
    const value = await config.load();
    expect(value).toEqual({
      name: "from-env",
      http: { port: 9090, readTimeout: "5s" },
      database: { url: "postgres://app:file-pass@file-db/app", poolSize: 50 },
      features: ["a", "b"],
    });
    expect(config.get("http.port")).toBe(9090);
    expect(config.get("database").url).toBe("postgres://app:file-pass@file-db/app");
  });

  it("fails to start with a SetupError naming each bad key, what was expected and where it was set", async () => {
    const config = createConfig({
      schema,
      sources: [
        fileSource(yamlFile),
        envSource({ prefix: "APP_", env: { APP_HTTP__PORT: '"eighty"', APP_DATABASE__URL: "mysql://db" } }),
      ],
      logger: capturedLogger().logger,
    });
    const error: unknown = await config.start().catch((caught: unknown) => caught);
    expect(isSetupError(error) && error.code).toBe("TSM_ERR_CONFIG_INVALID");
    const message = (error as Error).message;
    expect(message).toMatch(/^the configuration does not match its schema: /);
    expect(message).toContain("http.port: Invalid input: expected number, received string (set by env APP_HTTP__PORT)");
    expect(message).toContain("database.url: ");
    expect(message).toContain("(set by env APP_DATABASE__URL)");
  });

  it("takes an env value that reads as a number or boolean as the text written where the schema wants text", async () => {
    const schema = z.object({ password: z.string(), version: z.string(), port: z.number(), ratio: z.number() });
    const config = createConfig({
      schema: schema.extend({ flag: z.string(), on: z.boolean() }),
      sources: [
        envSource({
          prefix: "APP_",
          env: {
            APP_PASSWORD: "123456",
            APP_VERSION: "1.10",
            APP_PORT: "8080",
            APP_RATIO: "0.50",
            APP_FLAG: "true",
            APP_ON: "true",
          },
        }),
      ],
      logger: capturedLogger().logger,
    });
    expect(await config.load()).toEqual({
      password: "123456",
      version: "1.10",
      port: 8080,
      ratio: 0.5,
      flag: "true",
      on: true,
    });
    // A file's typed values are what it says: a YAML number for a text setting is refused, naming it.
    const yaml = join(dir, "typed.yaml");
    await writeFile(yaml, "password: 0123\nversion: 1.10\nport: 1\nratio: 1\n");
    const typed = createConfig({ schema, sources: [fileSource(yaml)], logger: capturedLogger().logger });
    await expect(typed.load()).rejects.toThrow(/password: Invalid input: expected string, received number/);
  });

  it("names only the bad key when an env value taken as text sits beside it, at start and on reload", async () => {
    const schema = z.object({ greeting: z.string(), page: z.object({ size: z.number().int() }) });
    const env = envSource({ prefix: "USER_", env: { USER_GREETING: "123", USER_PAGE__SIZE: "7.5" } });
    const error: unknown = await createConfig({ schema, sources: [env], logger: capturedLogger().logger })
      .start()
      .catch((caught: unknown) => caught);
    expect(isSetupError(error) && error.code).toBe("TSM_ERR_CONFIG_INVALID");
    expect((error as Error).message).toBe(
      "the configuration does not match its schema: page.size: Invalid input: expected int, received number (set by env USER_PAGE__SIZE)",
    );

    // The same on a reload: the config centre's bad page.size is named, USER_GREETING=123 is not.
    const { logger, lines } = capturedLogger();
    const centre = createMemorySource({ page: { size: 20 } }, "etcd (memory stand-in)");
    const greetingOnly = envSource({ prefix: "USER_", env: { USER_GREETING: "123" } });
    const config = createConfig({ schema, sources: [greetingOnly, centre], logger });
    await config.start();
    expect(config.get("greeting")).toBe("123");
    try {
      centre.put("page.size", 7.5);
      await until(() => lines.some((line) => line.code === "TSM_ERR_CONFIG_INVALID"));
      const rejected = lines.find((line) => line.code === "TSM_ERR_CONFIG_INVALID")!;
      expect(rejected.problems).toEqual([
        "page.size: Invalid input: expected int, received number (set by etcd (memory stand-in))",
      ]);
      expect(config.get("page.size")).toBe(20);
    } finally {
      await config.stop();
    }
  });

  it("logs a watched file that no longer parses as its place and problem, without a stack, and keeps the old value", async () => {
    const path = join(dir, "watched.yaml");
    await writeFile(path, "name: first\nhttp:\n  port: 1\ndatabase:\n  url: postgres://db\n");
    const { logger, lines } = capturedLogger();
    const config = createConfig({ schema, sources: [fileSource(path, { watch: true })], logger });
    await config.start();
    try {
      await writeFile(path, "name: [unclosed\n");
      await until(() => lines.some((line) => String(line.msg).includes("could not be read")), 5_000);
      const logged = lines.find((line) => String(line.msg).includes("could not be read"))!;
      expect(logged.reason).toMatch(/watched\.yaml:\d+:\d+/);
      expect(JSON.stringify(logged)).not.toMatch(/\bat \S+ \(/);
      expect(config.get("name")).toBe("first");
    } finally {
      await config.stop();
    }
  });

  it("names a required key no source sets, and where it could be set", async () => {
    const config = createConfig({ schema, sources: [createMemorySource({ http: { port: 1 } })] });
    await expect(config.load()).rejects.toThrow(/name: Invalid input: expected string, received undefined/);
    const partial = join(dir, "partial.yaml");
    await writeFile(partial, "database:\n  url: postgres://db\n");
    const layered = createConfig({
      schema,
      defaults: { http: { port: 8080 } },
      sources: [fileSource(partial), envSource({ prefix: "APP_", env: {} })],
    });
    const error = await layered.load().then(
      () => undefined,
      (caught: unknown) => caught as Error,
    );
    expect(error?.message).toContain(
      `name: Invalid input: expected string, received undefined (set by no source; set it in file ${partial}, env APP_NAME)`,
    );
    // A required key missing beside a slip of it: the slip is named, since the warnings above come only after a start.
    await writeFile(partial, "name: a\ndatabase:\n  url: postgres://db\nhttp:\n  prot: 1\n");
    await expect(createConfig({ schema, sources: [fileSource(partial)] }).load()).rejects.toThrow(
      `http.port: Invalid input: expected number, received undefined (set by no source, though ${partial}:5:3 sets http.prot: rename it http.port)`,
    );
  });

  it("warns once about each key a file or etcd sets that the schema does not read, naming where and the key meant", async () => {
    const { logger, lines } = capturedLogger();
    const file = join(dir, "misspelt.yaml");
    await writeFile(file, "name: a\nhttp:\n  prot: 9090\n  port: 1\ndatabase:\n  url: postgres://db\nlogging: {}\n");
    const centre = createMemorySource({ database: { poolSise: 5 } }, "etcd (memory stand-in)");
    const config = createConfig({
      schema,
      sources: [
        fileSource(file),
        // Variables under the prefix meant for others (NODE_OPTIONS for a service named node) say nothing.
        envSource({ prefix: "APP_", env: { APP_OPTIONS: "--inspect", APP_HTTP__READ_TIMOUT: "9s" } }),
        centre,
      ],
      logger,
    });
    await config.start();
    // The configuration starts as before: the unread keys have no effect.
    expect(config.get("http")).toEqual({ port: 1, readTimeout: "5s" });
    const warned = () => lines.filter((line) => line.level === 40).map((line) => line.msg);
    expect(warned()).toEqual([
      `${file}:3:3 sets http.prot, which the configuration's schema does not read, so it has no effect; did you mean http.port?`,
      "etcd (memory stand-in) sets database.poolSise, which the configuration's schema does not read, so it has no effect; did you mean database.poolSize?",
      `${file}:7:1 sets logging, which the configuration's schema does not read, so it has no effect`,
    ]);
    expect(lines.find((line) => line.key === "http.prot")).toMatchObject({ where: `${file}:3:3`, meant: "http.port" });

    // A change warns about a key it adds, and not again about those already told.
    centre.put("name", "b");
    centre.put("database.url", "postgres://db/b");
    centre.put("nmae", "c");
    await until(() => warned().length === 4);
    await until(() => config.get("database.url") === "postgres://db/b");
    expect(warned()[3]).toMatch(/^etcd \(memory stand-in\) sets nmae, .*; did you mean name\?$/);
    expect(warned()).toHaveLength(4);
    // A key no setting reads changes nothing the service uses: never named as a change.
    centre.put("database.poolSise", 6);
    centre.put("name", "d");
    await until(() => config.get("name") === "d");
    const changes = lines.filter((line) => line.msg === "configuration changed").map((line) => line.changed);
    expect(changes.flat()).not.toContain("nmae");
    expect(changes.flat()).not.toContain("database.poolSise");
    expect(changes.at(-1)).toEqual(["name"]);
    // Nor is such a key's removal (the slip put right): the schema did not read it before either.
    centre.set({ database: { url: "postgres://db/b" }, name: "e" });
    await until(() => config.get("name") === "e");
    const last = lines.filter((line) => line.msg === "configuration changed").at(-1);
    expect(last?.changed).toEqual(["name"]);
    await config.stop();
  });

  it("warns about keys the schema does not read inside a list's objects, at the item's line in a file, the list's key in etcd", async () => {
    const { logger, lines } = capturedLogger();
    const listed = z.object({
      servers: z.array(z.object({ host: z.string(), port: z.number().default(80) })),
      tags: z.array(z.string()).default([]),
      backups: z.array(z.object({ host: z.string() })).default([]),
    });
    const file = join(dir, "servers.yaml");
    await writeFile(file, "servers:\n  - host: a\n  - host: b\n    prot: 8080\ntags: [x]\n");
    // etcd holds a list as one key with a JSON value, so that key is where the slip is.
    const stored = createMemorySource({ backups: [{ host: "c", hots: "d" }] }, "etcd");
    const centre = { ...stored, locate: (path: readonly string[]) => `etcd /micro/config/app/${path.join("/")}` };
    // A list an environment variable sets (read as JSON) is not checked: the variable may be another's.
    const env = envSource({ prefix: "APP_", env: { APP_EXTRA: '[{"hots":"e"}]' } });
    await createConfig({ schema: listed, sources: [fileSource(file), centre, env], logger }).load();
    expect(lines.filter((line) => line.level === 40).map((line) => line.msg)).toEqual([
      `${file}:4:5 sets servers[1].prot, which the configuration's schema does not read, so it has no effect; did you mean servers[1].port?`,
      "etcd /micro/config/app/backups sets backups[0].hots, which the configuration's schema does not read, so it has no effect; did you mean backups[0].host?",
    ]);
  });

  it("names a file's unknown key though an environment variable sets a key under the same parent", async () => {
    const { logger, lines } = capturedLogger();
    const file = join(dir, "logging.yaml");
    await writeFile(file, "name: a\nhttp:\n  port: 1\ndatabase:\n  url: postgres://db\nlogging:\n  levle: debug\n");
    const env = envSource({ prefix: "APP_", env: { APP_LOGGING__FORMAT: "json", APP_TRACE__ON: "1" } });
    await createConfig({ schema, sources: [fileSource(file), env], logger }).load();
    expect(lines.filter((line) => line.level === 40).map((line) => line.msg)).toEqual([
      `${file}:6:1 sets logging, which the configuration's schema does not read, so it has no effect`,
    ]);
  });

  it("names each key a strict object refuses, where it was set and the key meant, in the start error", async () => {
    const strict = z.object({
      page: z.strictObject({ size: z.number().default(20), sort: z.string().optional() }),
      servers: z.array(z.strictObject({ host: z.string() })).default([]),
      // JSON Schema has no date: the keys are still read from the rest of the schema.
      since: z.date().optional(),
    });
    const file = join(dir, "strict.yaml");
    await writeFile(file, "page:\n  sise: 5\n  srot: name\n  colour: red\nservers:\n  - host: a\n    hots: b\n");
    const stored = createMemorySource({ page: { szie: 1 } }, "etcd");
    const centre = { ...stored, locate: (path: readonly string[]) => `etcd /micro/config/app/${path.join("/")}` };
    const error = await createConfig({ schema: strict, sources: [fileSource(file), centre] })
      .load()
      .then(
        () => undefined,
        (caught: unknown) => caught as Error,
      );
    const refused = "the schema allows no such key here";
    expect(error?.message).toContain(`page.sise: ${refused} (set by ${file}:2:3; did you mean page.size?)`);
    expect(error?.message).toContain(`page.srot: ${refused} (set by ${file}:3:3; did you mean page.sort?)`);
    expect(error?.message).toContain(`page.colour: ${refused} (set by ${file}:4:3; remove it)`);
    expect(error?.message).toContain(
      `page.szie: ${refused} (set by etcd /micro/config/app/page/szie; did you mean page.size?)`,
    );
    expect(error?.message).toContain(`servers[0].hots: ${refused} (set by ${file}:7:5; did you mean servers[0].host?)`);
    expect(error?.message).not.toContain("Unrecognized key");
  });

  it("names the line and column of a misspelt key in a nested YAML or JSON file, in the warning and the start error", async () => {
    const settings = (strict: boolean) => {
      const object = strict ? z.strictObject : z.object;
      return z.object({
        note: z.string().optional(),
        matrix: z.unknown().optional(),
        service: object({
          http: object({
            port: z.number(),
            tls: object({ cert: z.string().default("none") }).default({ cert: "none" }),
          }),
        }),
        servers: z.array(object({ host: z.string() })).default([]),
      });
    };
    const yaml = [
      "# the service's settings",
      "service:",
      "  http:",
      "    port: 8080",
      "    prot: 9090",
      "    tls:",
      "      cret: a.pem",
      "  a.b: 1",
      "servers:",
      "  - host: a",
      "  - host: b",
      "    hots: c",
    ].join("\n");
    // Strings holding quotes, escapes and brackets, and lists of lists, before the keys looked for.
    const json = [
      "{",
      '  "note": "a \\"quoted\\" {brace} [bracket] \\\\",',
      '  "matrix": [[1, [2, {"prot": 3}]], {"x": []}, "]"],',
      '  "service": {',
      '    "http": {"port": 8080, "prot": 9090,',
      '      "tls": {"cret": "a.pem"}},',
      '    "a.b": 1',
      "  },",
      '  "servers": [{"host": "a"}, {"host": "b", "hots": "c"}]',
      "}",
    ].join("\n");
    for (const [name, text, at] of [
      ["nested.yaml", yaml, ["prot: 9090", "cret:", "a.b:", "hots:"]],
      ["nested.json", json, ['"prot": 9090', '"cret"', '"a.b"', '"hots"']],
    ] as const) {
      const file = join(dir, name);
      await writeFile(file, text);
      const [prot, cret, dotted, hots] = at.map((needle) => `${file}:${lineColumnOf(text, needle)}`);
      const { logger, lines } = capturedLogger();
      await createConfig({ schema: settings(false), sources: [fileSource(file)], logger }).load();
      const unread = "which the configuration's schema does not read, so it has no effect";
      expect(lines.filter((line) => line.level === 40).map((line) => line.msg)).toEqual([
        `${prot} sets service.http.prot, ${unread}; did you mean service.http.port?`,
        `${cret} sets service.http.tls.cret, ${unread}; did you mean service.http.tls.cert?`,
        `${dotted} sets service.a.b, ${unread}`,
        `${hots} sets servers[1].hots, ${unread}; did you mean servers[1].host?`,
      ]);
      const error = await createConfig({ schema: settings(true), sources: [fileSource(file)] })
        .load()
        .then(
          () => undefined,
          (caught: unknown) => caught as Error,
        );
      const refused = "the schema allows no such key here";
      expect(error?.message).toContain(
        `service.http.prot: ${refused} (set by ${prot}; did you mean service.http.port?)`,
      );
      expect(error?.message).toContain(
        `service.http.tls.cret: ${refused} (set by ${cret}; did you mean service.http.tls.cert?)`,
      );
      expect(error?.message).toContain(`service.a.b: ${refused} (set by ${dotted}; remove it)`);
      expect(error?.message).toContain(`servers[1].hots: ${refused} (set by ${hots}; did you mean servers[1].host?)`);
    }
  });

  it("names a hot-reloaded file's key at its line in the new text", async () => {
    const path = join(dir, "reloaded.yaml");
    const paged = z.object({ name: z.string(), page: z.strictObject({ size: z.number() }) });
    await writeFile(path, "name: a\npage:\n  size: 1\n");
    const { logger, lines } = capturedLogger();
    const config = createConfig({ schema: paged, sources: [fileSource(path, { watch: true })], logger });
    await config.start();
    try {
      // The lines move down, and a key the schema does not read arrives: warned at its place in the new text.
      await writeFile(path, "# moved\n\nname: b\nlogging: {}\npage:\n  size: 1\n");
      await until(() => lines.some((line) => line.level === 40), 5_000);
      expect(lines.find((line) => line.level === 40)?.msg).toBe(
        `${path}:4:1 sets logging, which the configuration's schema does not read, so it has no effect`,
      );
      // A key the strict page refuses: the change is rejected, naming the key's line in that text.
      await writeFile(path, "name: b\npage:\n  size: 2\n  # note\n\n  sise: 3\n");
      await until(() => lines.some((line) => line.level === 50), 5_000);
      expect(lines.find((line) => line.level === 50)?.problems).toEqual([
        `page.sise: the schema allows no such key here (set by ${path}:6:3; did you mean page.size?)`,
      ]);
      expect(config.get("page.size")).toBe(1);
    } finally {
      await config.stop();
    }
  });

  it("does not warn about keys a loose object keeps, or a record holds", async () => {
    const { logger, lines } = capturedLogger();
    const loose = z.looseObject({ name: z.string(), labels: z.record(z.string(), z.string()) });
    const source = createMemorySource({ name: "a", extra: 1, labels: { team: "x" } });
    await createConfig({ schema: loose, sources: [source], logger }).load();
    expect(lines.filter((line) => line.level === 40)).toEqual([]);
  });

  it("hot-reloads a good change into watchers of the whole config and of one path", async () => {
    const centre = createMemorySource({ name: "a", http: { port: 8080 }, database: { url: "postgres://db/a" } });
    const config = createConfig({ schema, sources: [centre], logger: capturedLogger().logger });
    await config.start();
    const urls: Array<[string, string]> = [];
    const ports: number[] = [];
    config.watch("database.url", (url, previous) => urls.push([url, previous]));
    config.watch("http.port", (port) => ports.push(port));
    let whole = 0;
    config.watch(() => whole++);

    centre.put("database.url", "postgres://db/b");
    await until(() => urls.length === 1);
    expect(urls).toEqual([["postgres://db/b", "postgres://db/a"]]);
    expect(ports).toEqual([]);
    expect(whole).toBe(1);
    expect(config.get("database.url")).toBe("postgres://db/b");
    await config.stop();
  });

  it("rejects a bad new value, logs why naming the key, and keeps the old value", async () => {
    const { logger, lines } = capturedLogger();
    const centre = createMemorySource({ name: "a", http: { port: 8080 }, database: { url: "postgres://db/a" } });
    const config = createConfig({ schema, sources: [centre], logger });
    await config.start();
    const seen: number[] = [];
    config.watch("http.port", (port) => seen.push(port));

    centre.put("http.port", 70_000);
    await until(() => lines.some((line) => line.code === "TSM_ERR_CONFIG_INVALID"));
    const rejected = lines.find((line) => line.code === "TSM_ERR_CONFIG_INVALID")!;
    expect(rejected.msg).toBe("configuration change from memory rejected; the previous configuration stays");
    expect(rejected.problems).toEqual([expect.stringMatching(/^http\.port: Too big: expected number to be <=65535/)]);
    expect(config.get("http.port")).toBe(8080);
    expect(seen).toEqual([]);

    // A good value afterwards goes through as usual.
    centre.put("http.port", 8082);
    await until(() => seen.length === 1);
    expect(seen).toEqual([8082]);
    await config.stop();
  });

  it("keeps secrets out of printing, JSON, logs and rejection messages", async () => {
    const { logger, raw } = capturedLogger();
    const strictPassword = z.object({
      name: z.string(),
      database: z.object({ url: z.string(), password: z.string().min(12, "must be at least 12 characters") }),
      apiToken: z.string(),
      tls: z.object({ key: z.string() }),
      // A schema default shows in what is printed, as get() returns it.
      greeting: z.string().default("Hello"),
    });
    const centre = createMemorySource({
      name: "svc",
      database: { url: "postgres://app:url-pass@db/app", password: "correct-horse-battery" },
      apiToken: "tok-123456",
      tls: { key: "-----BEGIN KEY-----" },
    });
    const config = createConfig({ schema: strictPassword, sources: [centre], secrets: ["tls"], logger });
    await config.start();
    const printed = [JSON.stringify(config), inspect(config), JSON.stringify(config.redacted())].join("\n");
    for (const secret of ["url-pass", "correct-horse-battery", "tok-123456", "BEGIN KEY"])
      expect(printed).not.toContain(secret);
    expect(config.redacted()).toEqual({
      name: "svc",
      database: { url: "postgres://app:[secret]@db/app", password: "[secret]" },
      apiToken: "[secret]",
      tls: { key: "[secret]" },
      greeting: "Hello",
    });
    // Code that reads the value still gets it.
    expect(config.get("database.password")).toBe("correct-horse-battery");

    centre.put("apiToken", "tok-new-value");
    await until(() => raw.some((line) => line.includes("configuration changed")));
    centre.put("database.password", "short-pw");
    await until(() => raw.some((line) => line.includes("TSM_ERR_CONFIG_INVALID")));
    const log = raw.join("\n");
    expect(log).toContain("database.password: must be at least 12 characters");
    for (const secret of ["short-pw", "tok-new-value", "correct-horse-battery"]) expect(log).not.toContain(secret);
    await config.stop();
  });

  it("feeds a database connection from the config centre and reconnects when its URL changes", async () => {
    // The pattern a scaffolded service follows, with openDatabase from @tsmicro/runtime/database in place of `open`.
    const open = async (url: string) => ({ url, closed: false });
    const centre = createMemorySource({ name: "user", http: { port: 1 }, database: { url: "postgres://db-1/user" } });
    const config = createConfig({
      schema,
      sources: [centre],
      secrets: ["database.url"],
      logger: capturedLogger().logger,
    });
    await config.start();
    let database = await open(config.get("database").url);
    const reconnected = new Promise<void>((resolve) => {
      config.watch("database.url", async (url) => {
        const next = await open(url);
        database.closed = true;
        database = next;
        resolve();
      });
    });
    centre.put("database.url", "postgres://db-2/user");
    await reconnected;
    expect(database.url).toBe("postgres://db-2/user");
    await config.stop();
  });

  it("keeps a change a source reports while start() is still reading the other sources", async () => {
    const fast = createMemorySource({ name: "a", http: { port: 1 }, database: { url: "postgres://db/a" } });
    let release!: () => void;
    const slow = {
      name: "slow",
      read: () => new Promise<{ features: string[] }>((resolve) => (release = () => resolve({ features: ["x"] }))),
    };
    const config = createConfig({ schema, sources: [fast, slow], logger: capturedLogger().logger });
    const starting = config.start();
    await until(() => release !== undefined);
    fast.put("http.port", 2);
    release();
    await starting;
    await until(() => config.get("http.port") === 2);
    expect(config.get().features).toEqual(["x"]);
    await config.stop();
  });

  it("logs a watcher that throws or rejects, and keeps the new configuration", async () => {
    const { logger, lines } = capturedLogger();
    const centre = createMemorySource({ name: "a", http: { port: 1 }, database: { url: "postgres://db/a" } });
    const config = createConfig({ schema, sources: [centre], logger });
    await config.start();
    config.watch("http.port", () => {
      throw new Error("watcher bug");
    });
    config.watch("http.port", async () => {
      throw new Error("async watcher bug");
    });
    centre.put("http.port", 2);
    await until(() => lines.filter((line) => line.msg === "a configuration watcher failed").length === 2);
    expect(lines.filter((line) => line.path === "http.port")).toHaveLength(2);
    expect(config.get("http.port")).toBe(2);
    await config.stop();
  });

  it("types get() and watch() by the schema's paths", async () => {
    const config = createConfig({
      schema,
      sources: [createMemorySource({ name: "a", http: { port: 1 }, database: { url: "postgres://x" } })],
    });
    await config.load();
    expectTypeOf(config.get("database.url")).toEqualTypeOf<string>();
    expectTypeOf(config.get("http")).toEqualTypeOf<{ port: number; readTimeout: string }>();
    expectTypeOf(config.get().features).toEqualTypeOf<string[]>();
    // @ts-expect-error: no such setting
    config.get("database.uri");
    config.watch("http.port", (port, previous) => {
      expectTypeOf(port).toEqualTypeOf<number>();
      expectTypeOf(previous).toEqualTypeOf<number>();
    });
  });

  it("refuses get() before the configuration is loaded", () => {
    const config = createConfig({ schema, sources: [] });
    expect(() => config.get()).toThrow(/not loaded yet; call start\(\) or load\(\) first/);
  });
});
