/**
 * bench/codegen: `tsmicro generate` against ts-proto alone (driven by the
 * same buf binary) on one generated set of 50 proto files with 200 methods,
 * alternating runs so machine noise hits both alike (tsmicro keeps no cache,
 * so every run is cold). Prints medians and ratios. Goal: at most 1.5x
 * ts-proto alone.
 */
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tsProtoParameter } from "../generator/ts-proto.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const files = 50;
const methodsPerFile = 4;
const rounds = Number(process.env.BENCH_ROUNDS ?? 7);

/** One synthetic service file: a few messages of mixed field kinds and four methods. */
export function protoFile(i: number): string {
  const pkg = `bench.svc${i}.v1`;
  const imports = i > 0 ? `import "svc${i - 1}/v1/svc.proto";\n` : "";
  const prev = i > 0 ? `  bench.svc${i - 1}.v1.Item previous = 9;\n` : "";
  return `syntax = "proto3";
package ${pkg};
import "google/protobuf/timestamp.proto";
${imports}
// Item ${i} is a stored thing.
message Item {
  string id = 1;
  int64 version = 2;
  repeated string tags = 3;
  map<string, int32> counts = 4;
  google.protobuf.Timestamp created = 5;
  oneof owner { string user = 6; string team = 7; }
  optional double score = 8;
${prev}}
message GetRequest { string id = 1; }
message ListRequest { int32 page_size = 1; string page_token = 2; }
message ListResponse { repeated Item items = 1; string next_page_token = 2; }

// Service${i} manages items.
service Service${i} {
${Array.from({ length: methodsPerFile }, (_, m) => {
  const kinds = [
    "rpc Get%(GetRequest) returns (Item);",
    "rpc List%(ListRequest) returns (ListResponse);",
    "rpc Watch%(GetRequest) returns (stream Item);",
    "rpc Put%(stream Item) returns (Item);",
  ];
  return `  // Method ${m}.\n  ${kinds[m % kinds.length]!.replace("%", String(m))}`;
}).join("\n")}
}
`;
}

function time(command: string, args: string[], cwd: string): number {
  const start = process.hrtime.bigint();
  execFileSync(command, args, { cwd, stdio: ["ignore", "ignore", "inherit"] });
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export async function benchCodegen(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "tsmicro-bench-codegen-"));
  try {
    for (let i = 0; i < files; i++) {
      await mkdir(join(work, "proto", `svc${i}`, "v1"), { recursive: true });
      await writeFile(join(work, "proto", `svc${i}`, "v1", "svc.proto"), protoFile(i));
    }
    await writeFile(join(work, "buf.yaml"), "version: v2\nmodules:\n  - path: proto\n");
    await mkdir(join(work, "node_modules"));
    const template = JSON.stringify({
      version: "v2",
      plugins: [
        {
          local: join(root, "node_modules/.bin/protoc-gen-ts_proto"),
          out: "ts-proto-out",
          strategy: "all",
          opt: tsProtoParameter,
        },
      ],
    });
    const buf = join(root, "node_modules/.bin/buf");
    const tsmicro = join(root, "dist/bin/tsmicro.js");
    const tsProtoRuns: number[] = [];
    const tsmicroRuns: number[] = [];
    const generate = () => time("node", [tsmicro, "generate", "--out", "tsmicro-out"], work);
    // One warm-up of each (the OS's file cache), then alternate.
    time(buf, ["generate", "proto", "--template", template], work);
    generate();
    for (let round = 0; round < rounds; round++) {
      tsProtoRuns.push(time(buf, ["generate", "proto", "--template", template], work));
      tsmicroRuns.push(generate());
    }
    const base = median(tsProtoRuns);
    const spread = (runs: number[]) => `${Math.min(...runs).toFixed(0)}-${Math.max(...runs).toFixed(0)} ms`;
    const line = (label: string, runs: number[]) =>
      console.log(
        `  ${label.padEnd(52)} median ${median(runs).toFixed(0).padStart(5)} ms (range ${spread(runs)})  ${(median(runs) / base).toFixed(2)}x`,
      );
    console.log(
      `codegen: ${files} files, ${files * methodsPerFile} methods, ${rounds} alternating rounds (goal <= 1.50x)`,
    );
    line("ts-proto alone (buf generate, same options)", tsProtoRuns);
    line("tsmicro generate", tsmicroRuns);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
