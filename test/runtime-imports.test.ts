import { execFile } from "node:child_process";
import { createServer, type Server } from "node:net";
import { promisify } from "node:util";
import { Code, createEtcdRegistry, isSetupError, isTsmicroError } from "@tsmicro/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "./support/cli.js";

const exec = promisify(execFile);

/** The CommonJS packages (by folder in node_modules) a fresh process has loaded when it exits after running `script`. */
async function loadedPackages(script: string): Promise<Set<string>> {
  const probe = `const { createRequire } = await import("node:module");
process.on("exit", () => console.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache))));
${script}`;
  const { stdout } = await exec(process.execPath, ["--input-type=module", "-e", probe], { cwd: repoRoot });
  // The last line: what the script printed comes before.
  const files = JSON.parse(stdout.trim().split("\n").at(-1)!) as string[];
  return new Set(files.map((file) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file)?.[1] ?? ""));
}

describe("importing @tsmicro/runtime", () => {
  it("loads neither etcd3 nor anything HTTP: a service pays only for the backends its flags select", async () => {
    const loaded = await loadedPackages(`await import("@tsmicro/runtime");`);
    expect(loaded.has("@grpc/grpc-js")).toBe(true);
    // CommonJS packages only: the require cache does not see ES modules (jose), and @tsmicro/runtime no longer depends on it.
    for (const name of ["etcd3", "fastify", "@fastify/cors"]) expect(loaded.has(name), name).toBe(false);
    // opossum loads with the first breaker; health is served without protobufjs.
    for (const name of ["opossum", "protobufjs", "@grpc/proto-loader"]) expect(loaded.has(name), name).toBe(false);
  });

  it("is not what tsmicro --version or tsmicro routes load: the CLI loads a command's modules when it runs", async () => {
    for (const command of [["--version"], ["routes", "--proto", "examples/greeter/proto"]]) {
      const loaded =
        await loadedPackages(`process.argv = [process.argv[0], "tsmicro", ${command.map((a) => JSON.stringify(a)).join(", ")}];
await import("./dist/bin/tsmicro.js");`);
      for (const name of ["@grpc/grpc-js", "prom-client", "pino", "opossum", "fastify"])
        expect(loaded.has(name), `${command[0]}: ${name}`).toBe(false);
    }
  });

  it("loads etcd3 once an etcd registry starts", async () => {
    const loaded = await loadedPackages(`const { createEtcdRegistry } = await import("@tsmicro/runtime");
await createEtcdRegistry({ addresses: ["127.0.0.1:1"], dialTimeoutMs: 200 }).start().catch(() => undefined);`);
    expect(loaded.has("etcd3")).toBe(true);
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
    expect(() => registry.watch()).toThrow(/not started; call start\(\) first/);
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
