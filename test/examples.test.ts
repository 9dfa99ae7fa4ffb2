import { cp, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bins, repoRoot, repoTempDir, run } from "./support/cli.js";

const examplesDir = join(repoRoot, "examples");
const examples = (await readdir(examplesDir, { withFileTypes: true }))
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();
const temps: string[] = [];

afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

// Each example is copied under .tmp/ (two levels below the root, as examples/NAME is, so its tsconfig's
// ../../tsconfig.base.json and the repo's node_modules resolve) and generated there as `npm run demo` does,
// so the test never writes into examples/ and ignores a stale src/gen left there.
describe("examples type-check against the code tsmicro generates for them", () => {
  it("finds the examples", () => {
    expect(examples).toEqual(expect.arrayContaining(["greeter", "system"]));
  });

  it.each(examples)("%s", async (example) => {
    const dir = await repoTempDir(`example-${example}`);
    temps.push(dir);
    const source = join(examplesDir, example);
    await cp(source, dir, {
      recursive: true,
      filter: (path) => !/[/\\](src[/\\]gen|data|\.demo|node_modules)$/.test(path),
    });
    const generated = await run("node", [bins.tsmicro, "generate"], { cwd: dir });
    expect(generated.stderr).toBe("");
    expect(generated.code).toBe(0);
    // A workspace (examples/system) is checked service by service, each with its own tsconfig, and its root's.
    const services = await readdir(join(dir, "services")).catch(() => []);
    for (const project of [dir, ...services.map((service) => join(dir, "services", service))]) {
      const checked = await run("node", [
        join(repoRoot, "node_modules/typescript/bin/tsc"),
        "-p",
        join(project, "tsconfig.json"),
      ]);
      expect(checked.stdout + checked.stderr).toBe("");
      expect(checked.code).toBe(0);
    }
  });
});
