import { execFile } from "node:child_process";
import { createServer, type Server } from "node:net";
import { promisify } from "node:util";
import { Code, createEtcdRegistry, isSetupError, isTsmicroError } from "@tsmicro/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "./support/cli.js";

const exec = promisify(execFile);

/** The CommonJS packages (by folder in node_modules) a fresh process has loaded after running `script`. */
async function loadedPackages(script: string): Promise<Set<string>> {
  const probe = `${script}
const { createRequire } = await import("node:module");
const cache = Object.keys(createRequire(import.meta.url).cache);
console.log(JSON.stringify(cache));`;
  const { stdout } = await exec(process.execPath, ["--input-type=module", "-e", probe], { cwd: repoRoot });
  const files = JSON.parse(stdout) as string[];
  return new Set(files.map((file) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file)?.[1] ?? ""));
}

describe("importing @tsmicro/runtime", () => {
  it("loads neither etcd3 nor anything HTTP: a service pays only for the backends its flags select", async () => {
    const loaded = await loadedPackages(`await import("@tsmicro/runtime");`);
    expect(loaded.has("@grpc/grpc-js")).toBe(true);
    // CommonJS packages only: the require cache does not see ES modules (jose), and @tsmicro/runtime no longer depends on it.
    for (const name of ["etcd3", "fastify", "@fastify/cors"]) expect(loaded.has(name), name).toBe(false);
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
