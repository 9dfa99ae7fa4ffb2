import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Code, createEtcdRegistry, isSetupError, isTsmicroError } from "@tsmicro/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bins, repoRoot } from "./support/cli.js";

const exec = promisify(execFile);

// The defaults are under test here, whichever wire the suite runs on (test/support/suite-env.ts).
const { TSMICRO_TRANSPORT, TSMICRO_CLIENT_TRANSPORT, TSMICRO_SERVER_TRANSPORT, ...inherited } = process.env;

/** What a fresh process loaded: files by path below the repository, packages by name, and node's own modules. */
interface Loads {
  readonly files: readonly string[];
  readonly packages: ReadonlySet<string>;
  readonly builtins: readonly string[];
  /** What the process printed. */
  readonly stdout: string;
}

/**
 * Runs node with `args` (an ES module script by `-e`, or a program) under
 * test/support/record-loads.mjs, which sees every import and require.
 */
async function loadsOf(args: readonly string[], input?: string): Promise<Loads> {
  const dir = await mkdtemp(join(tmpdir(), "tsmicro-loads-"));
  const out = join(dir, "loads.json");
  try {
    const child = exec(process.execPath, ["--import", "./test/support/record-loads.mjs", ...args], {
      cwd: repoRoot,
      env: { ...inherited, TSMICRO_LOADS_OUT: out, TSMICRO_REGISTRY_ADDRESS: dir },
    });
    child.child.stdin?.end(input ?? "");
    const { stdout } = await child;
    const { urls, builtins } = JSON.parse(await readFile(out, "utf8")) as { urls: string[]; builtins: string[] };
    const files = urls.filter((url) => url.startsWith("file:")).map((url) => url.slice(`file://${repoRoot}`.length));
    const packages = new Set(files.flatMap((file) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file)?.[1] ?? []));
    return { files, packages, builtins, stdout };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const script = (code: string) => ["--input-type=module", "-e", code];

/** Packages a service on the default flags never needs: other backends, the gateway's, development tools. */
const neverOnDefaults = [
  "etcd3",
  "nats",
  "fastify",
  "jose",
  "opossum",
  "pino-pretty",
  "pino-roll",
  "@opentelemetry/exporter-trace-otlp-http",
  "@opentelemetry/otlp-exporter-base",
  "@opentelemetry/otlp-transformer",
  "protobufjs",
  "@grpc/proto-loader",
];

/** protobuf-es's descriptor schemas, which build descriptors as they load: for reflection and proto2 only. */
const descriptorSchemas = "@bufbuild/protobuf/dist/esm/wkt/gen/google/protobuf/descriptor_pb.js";

describe("importing @tsmicro/runtime", () => {
  it("loads no backend, transport, metrics or logging package: a service pays only for what its flags select", async () => {
    const loads = await loadsOf(script(`await import("@tsmicro/runtime");`));
    expect(loads.files).toContain("runtime/dist/index.js");
    for (const name of [...neverOnDefaults, "@grpc/grpc-js", "prom-client", "pino", "@opentelemetry/sdk-trace"])
      expect(loads.packages.has(name), name).toBe(false);
    expect(loads.files.filter((file) => file.endsWith(descriptorSchemas))).toEqual([]);
    // An ES import of node:http reads all its exports, and its WebSocket getter loads undici.
    expect(loads.builtins.filter((name) => name.includes("undici"))).toEqual([]);
  });

  it("a service started on the defaults loads none of the other backends, the gateway's packages or an exporter", async () => {
    const loads = await loadsOf(
      script(`const { createService } = await import("@tsmicro/runtime");
const service = createService({ name: "loads", args: ["--registry=local", "--registry_address=" + process.env.TSMICRO_REGISTRY_ADDRESS] });
await service.start();
await service.stop();`),
    );
    // What the defaults select does load: prom-client counts, OTel's API carries span contexts.
    for (const name of ["prom-client", "pino", "@opentelemetry/api"]) expect(loads.packages.has(name), name).toBe(true);
    // The default transport is tsmicro's own on node:http2: grpc-js loads only for --transport=grpc.
    for (const name of [...neverOnDefaults, "@grpc/grpc-js"]) expect(loads.packages.has(name), name).toBe(false);
    // Sampling and ids are tsmicro's own: the OTel SDK loads only to export spans.
    for (const name of ["@opentelemetry/sdk-trace", "@opentelemetry/core", "@opentelemetry/resources"])
      expect(loads.packages.has(name), name).toBe(false);
    // Spans are made but go nowhere without an endpoint: no export worker and its span writer (a chunk of their own).
    expect(
      loads.files.filter((file) => /^runtime\/dist\/chunks\/(worker-exporter-\w+|export-worker)\.js$/.test(file)),
    ).toEqual([]);
    expect(loads.files.filter((file) => file.endsWith(descriptorSchemas))).toEqual([]);
    expect(loads.builtins.filter((name) => name.includes("undici"))).toEqual([]);
  });

  it("loads grpc-js for a service on --transport=grpc", async () => {
    const loads = await loadsOf(
      script(`const { createService } = await import("@tsmicro/runtime");
const service = createService({ name: "loads", args: ["--transport=grpc", "--registry=local", "--registry_address=" + process.env.TSMICRO_REGISTRY_ADDRESS] });
await service.start();
await service.stop();`),
    );
    expect(loads.packages.has("@grpc/grpc-js")).toBe(true);
  });

  it("is not what tsmicro --version, tsmicro routes or the protoc plugin load", async () => {
    const runs: [string, Promise<Loads>][] = [
      ["tsmicro --version", loadsOf([bins.tsmicro, "--version"])],
      ["tsmicro routes", loadsOf([bins.tsmicro, "routes", "--proto", "examples/greeter/proto"])],
      // An empty CodeGeneratorRequest: the plugin answers with no files.
      ["protoc-gen-tsmicro", loadsOf([bins.plugin])],
    ];
    for (const [command, running] of runs) {
      const loads = await running;
      // The runtime's main entry, with transports, registries, the service, clients, brokers, metrics and tracing.
      expect(loads.files, command).not.toContain("runtime/dist/index.js");
      for (const name of ["@grpc/grpc-js", "prom-client", "pino", "opossum", "etcd3", "fastify", "@opentelemetry/api"])
        expect(loads.packages.has(name), `${command}: ${name}`).toBe(false);
    }
  });

  it("loads etcd3 once an etcd registry starts", async () => {
    const loads = await loadsOf(
      script(`const { createEtcdRegistry } = await import("@tsmicro/runtime");
await createEtcdRegistry({ addresses: ["127.0.0.1:1"], dialTimeoutMs: 200 }).start().catch(() => undefined);`),
    );
    expect(loads.packages.has("etcd3")).toBe(true);
  });
});

describe("a configuration file", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-loads-config-"));
    await writeFile(join(dir, "config.json"), '{\n  "page": {\n    "sise": 5\n  }\n}\n');
    await writeFile(join(dir, "config.yaml"), "page:\n\n  sise: 5\n");
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  /**
   * Loads `file` twice, as a service would: with a schema that reads none of its keys (a warning for
   * each) and one that refuses page.sise as zod's strict objects do (a start error), printing both.
   */
  const loadsFor = (file: string) =>
    loadsOf(
      script(`const { createConfig, fileSource, createLogger } = await import("@tsmicro/runtime");
const schema = (issues) => ({ "~standard": { version: 1, vendor: "test", validate: () => (issues ? { issues } : { value: {} }) } });
const sources = [fileSource(${JSON.stringify(file)})];
await createConfig({ schema: schema(), sources, logger: createLogger({ level: "warn" }) }).load();
const refused = [{ code: "unrecognized_keys", keys: ["sise"], path: ["page"], message: "Unrecognized key" }];
await createConfig({ schema: schema(refused), sources }).load().catch((error) => console.log(error.message));`),
    );

  it("names a JSON file's key at its line without loading yaml, which loads for a YAML file only", async () => {
    const json = join(dir, "config.json");
    const fromJson = await loadsFor(json);
    expect(fromJson.packages.has("yaml")).toBe(false);
    expect(fromJson.stdout).toContain(`${json}:2:3 sets page, which the configuration's schema does not read`);
    expect(fromJson.stdout).toContain(`page.sise: the schema allows no such key here (set by ${json}:3:5; remove it)`);
    const yaml = join(dir, "config.yaml");
    const fromYaml = await loadsFor(yaml);
    expect(fromYaml.packages.has("yaml")).toBe(true);
    expect(fromYaml.stdout).toContain(`page.sise: the schema allows no such key here (set by ${yaml}:3:3; remove it)`);
  });
});

describe("createEtcdRegistry before etcd3 is loaded", () => {
  let closed: Server;
  let address = "";

  beforeAll(async () => {
    // A port that accepts and drops connections: nothing there speaks gRPC.
    closed = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const bound = closed.address();
    address = typeof bound === "object" && bound ? `127.0.0.1:${bound.port}` : "";
  });
  afterAll(() => new Promise<void>((resolve) => closed.close(() => resolve())));

  it("refuses calls before start, as the registry itself does", async () => {
    const registry = createEtcdRegistry({ addresses: [address] });
    expect(registry.kind).toBe("etcd");
    expect(() => registry.watch()).toThrow(
      "the etcd registry is not started; call registry.start() first (whoever creates a registry starts it; " +
        "a service, connect() and the gateway start theirs)",
    );
    const error = await registry.getService("x").catch((e: unknown) => e);
    expect(isTsmicroError(error) && error.code).toBe(Code.FAILED_PRECONDITION);
    await registry.stop();
  });

  it("reports an unreachable etcd at start as the same SetupError", async () => {
    const registry = createEtcdRegistry({ addresses: [address], dialTimeoutMs: 300 });
    const error = await registry.start().catch((e: unknown) => e);
    expect(isSetupError(error) && error.code).toBe("TSM_ERR_REGISTRY_UNREACHABLE");
    expect(String(error)).toContain(address);
    await registry.stop();
  });
});
