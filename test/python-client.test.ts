import { copyFile, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot, run } from "./support/cli.js";
import { killAllNodes, startNode, type NodeProcess } from "./support/nodes.js";
import { findFile, findProgram } from "./support/programs.js";

// Debian's python3 carries python3-grpcio; the python3 first on PATH may be another one.
const python = findFile("/usr/lib/python3/dist-packages/grpc/__init__.py", "python3-grpcio")
  ? "/usr/bin/python3"
  : undefined;
const protoc = findProgram("protoc", "protobuf-compiler");
const skip = !python || !protoc;

describe.skipIf(skip)("a Python grpcio client calls a tsmicro service", () => {
  let work = "";
  let node: NodeProcess;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "tsmicro-python-"));
    const generated = join(work, "gen");
    await mkdir(generated);
    // health.proto at the root, so its Python module is `health_pb2`, not inside grpcio's own `grpc` package.
    await mkdir(join(work, "protos"));
    await copyFile(join(repoRoot, "runtime/proto/grpc/health/v1/health.proto"), join(work, "protos/health.proto"));
    for (const [root, file] of [
      [join(repoRoot, "test/protos/10-services"), "services.proto"],
      [join(work, "protos"), "health.proto"],
    ] as const) {
      const result = await run(protoc!, [`--python_out=${generated}`, "-I", root, file]);
      expect(result.code, result.stderr).toBe(0);
    }
    node = await startNode("test/fixtures/echo-node.ts", [
      "--registry=local",
      `--registry_address=${join(work, "registry")}`,
    ]);
  });

  afterAll(async () => {
    await killAllNodes();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("unary, server streaming and the health service", async () => {
    const result = await run(python!, [
      join(repoRoot, "test/fixtures/python_client.py"),
      node.address,
      join(work, "gen"),
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      unaryId: node.id,
      unaryPayload: [1, 2],
      streamed: [1, 2, 3],
      health: "SERVING",
    });
  });
});
