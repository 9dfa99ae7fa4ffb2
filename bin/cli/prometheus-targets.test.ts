import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMemoryRegistry, isSetupError, type Node } from "@tsmicro/runtime";
import { describe, expect, it } from "vitest";
import { parseStaticTarget, prometheusTargets, writeTargetsFile } from "./prometheus-targets.js";

function node(id: string, metrics?: string): Node {
  const metadata: Record<string, string> = metrics ? { metrics } : {};
  return { id, address: "127.0.0.1:1", metadata };
}

describe("prometheus-targets", () => {
  it("lists every node with a metrics address, labelled, then the static targets", async () => {
    const registry = createMemoryRegistry();
    await registry.start();
    const ttl = { ttlMs: 60_000 };
    const base = { metadata: {}, endpoints: [] };
    await registry.register({ ...base, name: "user", version: "1.0.0", nodes: [node("user-b", "10.0.0.2:9100")] }, ttl);
    await registry.register({ ...base, name: "user", version: "1.0.0", nodes: [node("user-a", "10.0.0.1:9100")] }, ttl);
    // A node without metrics (off, or an older runtime) is no target.
    await registry.register({ ...base, name: "auth", version: "2.0.0", nodes: [node("auth-a")] }, ttl);

    expect(await prometheusTargets(registry, [parseStaticTarget("api=127.0.0.1:8080")])).toEqual([
      { targets: ["10.0.0.1:9100"], labels: { service: "user", version: "1.0.0", node: "user-a" } },
      { targets: ["10.0.0.2:9100"], labels: { service: "user", version: "1.0.0", node: "user-b" } },
      { targets: ["127.0.0.1:8080"], labels: { service: "api", node: "127.0.0.1:8080" } },
    ]);
    await registry.stop();
  });

  it("replaces the file whole, leaving no temporary file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tsmicro-targets-"));
    try {
      const file = join(dir, "targets", "tsmicro.json");
      await writeTargetsFile(file, [{ targets: ["a:1"], labels: { service: "a" } }]);
      await writeTargetsFile(file, []);
      expect(JSON.parse(await readFile(file, "utf8"))).toEqual([]);
      expect(await readdir(join(dir, "targets"))).toEqual(["tsmicro.json"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses a --target that is no service=host:port", () => {
    const error = (() => {
      try {
        return parseStaticTarget("127.0.0.1:8080");
      } catch (e) {
        return e;
      }
    })();
    expect(isSetupError(error) && error.code).toBe("TSM_ERR_FLAG");
    expect(String(error)).toContain("--target");
  });
});
