import { cp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bins, googleProtos, protoFiles, readTree, repoRoot, repoTempDir, run } from "./support/cli.js";
import { findFile, findProgram } from "./support/programs.js";

// The standard gRPC protos Debian ships: real-world input tsmicro did not write.
const grpcProtoDir = findFile("/usr/share/grpc-proto/grpc/testing/test.proto", "grpc-proto")
  ? "/usr/share/grpc-proto"
  : undefined;
const protoc = findProgram("protoc", "protobuf-compiler");
const folders = [
  "grpc/health/v1",
  "grpc/reflection/v1",
  "grpc/reflection/v1alpha",
  "grpc/channelz/v1",
  "grpc/testing",
  "grpc/core",
];
const temps: string[] = [];

afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe.skipIf(!grpcProtoDir)("the standard gRPC protos from Debian's grpc-proto", () => {
  let project = "";

  it("generate with tsmicro generate, micro files for every service", async () => {
    project = await repoTempDir("grpc-protos");
    temps.push(project);
    for (const folder of folders)
      await cp(join(grpcProtoDir!, folder), join(project, "proto", folder), { recursive: true });
    const result = await run("node", [bins.tsmicro, "generate"], { cwd: project });
    expect(result.code, result.stderr).toBe(0);
    const tree = await readTree(join(project, "src/gen"));
    for (const name of [
      "grpc/health/v1/health.micro.ts",
      "grpc/reflection/v1/reflection.micro.ts",
      "grpc/reflection/v1alpha/reflection.micro.ts",
      "grpc/channelz/v1/channelz.micro.ts",
      "grpc/testing/test.micro.ts",
      "grpc/testing/benchmark_service.micro.ts",
      "grpc/testing/messages.ts",
      "grpc/testing/empty.ts",
    ]) {
      expect(tree.has(name), name).toBe(true);
    }
    expect(tree.get("grpc/testing/test.micro.ts")).toContain('path: "/grpc.testing.TestService/FullDuplexCall"');
    expect(tree.get("grpc/health/v1/health.micro.ts")).toContain(
      "watch(request: HealthCheckRequest, context: CallContext): AsyncIterable<HealthCheckResponse>;",
    );
  });

  it("type-check under strict tsc", async () => {
    await writeFile(
      join(project, "tsconfig.json"),
      JSON.stringify({
        extends: join(repoRoot, "tsconfig.base.json"),
        compilerOptions: { noEmit: true, noUnusedLocals: true, exactOptionalPropertyTypes: true },
        include: ["src/**/*.ts"],
      }),
    );
    const result = await run("node", [
      join(repoRoot, "node_modules/typescript/bin/tsc"),
      "-p",
      join(project, "tsconfig.json"),
    ]);
    expect(result.stdout + result.stderr).toBe("");
    expect(result.code).toBe(0);
  });

  it.skipIf(!protoc)("generate the same files under Debian's protoc", async () => {
    const out = join(project, "protoc-out");
    await cp(join(project, "src/gen"), join(project, "expected"), { recursive: true });
    const { mkdir } = await import("node:fs/promises");
    await mkdir(out);
    const files = await protoFiles(join(project, "proto"));
    const result = await run(
      protoc!,
      [
        `--plugin=protoc-gen-tsmicro=${bins.plugin}`,
        `--tsmicro_out=${out}`,
        "-I",
        "proto",
        "-I",
        googleProtos,
        ...files,
      ],
      {
        cwd: project,
      },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(await readTree(out)).toEqual(await readTree(join(project, "expected")));
  });
});
