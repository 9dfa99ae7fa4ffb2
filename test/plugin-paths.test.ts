import { mkdir, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bins, googleProtos, protoFiles, readTree, repoRoot, repoTempDir, run } from "./support/cli.js";
import { findProgram } from "./support/programs.js";

const protosDir = join(repoRoot, "test/protos");
const goldenDir = join(repoRoot, "test/golden");
const fixtures = (await readdir(protosDir)).filter((name) => /^\d\d-/.test(name)).sort();
const protoc = findProgram("protoc", "protobuf-compiler");
const buf = join(repoRoot, "node_modules/.bin/buf");
const temps: string[] = [];

afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function expectGolden(out: string, fixture: string): Promise<void> {
  const actual = await readTree(out);
  const expected = await readTree(join(goldenDir, fixture));
  expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [name, content] of actual) expect(content, `${fixture}/${name}`).toBe(expected.get(name));
}

describe.skipIf(!protoc)("protoc --tsmicro_out (Debian's protoc) writes the golden files", () => {
  it.each(fixtures)("%s", async (fixture) => {
    const out = await repoTempDir(`protoc-${fixture}`);
    temps.push(out);
    const root = join(protosDir, fixture);
    const result = await run(
      protoc!,
      [
        `--plugin=protoc-gen-tsmicro=${bins.plugin}`,
        `--tsmicro_out=${out}`,
        "-I",
        root,
        "-I",
        googleProtos,
        "-I",
        join(repoRoot, "proto"),
        ...(await protoFiles(root)),
      ],
      { cwd: root },
    );
    expect(result.code, result.stderr).toBe(0);
    await expectGolden(out, fixture);
  });
});

describe("buf generate with protoc-gen-tsmicro as a local plugin writes the golden files", () => {
  it.each(fixtures)("%s", async (fixture) => {
    const work = await repoTempDir(`bufgen-${fixture}`);
    temps.push(work);
    await symlink(join(protosDir, fixture), join(work, "proto"), "dir");
    await mkdir(join(work, "vendor/google"), { recursive: true });
    // The same sources tsmicro generate compiles: googleapis and the well-known types from google-proto-files.
    for (const dir of ["api", "protobuf", "rpc"]) {
      await symlink(join(googleProtos, "google", dir), join(work, "vendor/google", dir), "dir");
    }
    await symlink(join(repoRoot, "proto/tsmicro"), join(work, "vendor/tsmicro"), "dir");
    await writeFile(join(work, "buf.yaml"), "version: v2\nmodules:\n  - path: proto\n  - path: vendor\n");
    const template = {
      version: "v2",
      plugins: [{ local: ["node", bins.plugin], out: "out", strategy: "all" }],
    };
    const result = await run(buf, ["generate", "proto", "--template", JSON.stringify(template)], { cwd: work });
    expect(result.code, result.stderr).toBe(0);
    await expectGolden(join(work, "out"), fixture);
  });
});
